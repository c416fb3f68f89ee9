package sloreport

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/testenv/chromium"
)

// A4 at 96 dpi: 210 mm wide, and the 186 mm between the page's 12 mm
// margins that the style sheet's @page sets.
const (
	a4Width      = 794 // 210 mm
	a4PrintWidth = 703 // 186 mm
	a4Height     = 1123
)

// chartCheck is what the page says of one chart.
type chartCheck struct {
	ID       string  `json:"id"`
	Role     string  `json:"role"`
	Title    string  `json:"title"`
	Desc     string  `json:"desc"`
	Width    float64 `json:"width"`
	Height   float64 `json:"height"`
	Paths    int     `json:"paths"`
	Marks    int     `json:"marks"`
	Texts    int     `json:"texts"`
	Labelled bool    `json:"labelled"`
}

const chartsJS = `Array.from(document.querySelectorAll('svg.chart')).map(s => {
  const r = s.getBoundingClientRect();
  const ids = (s.getAttribute('aria-labelledby') || '').split(' ');
  return {
    id: s.id, role: s.getAttribute('role') || '',
    title: (s.querySelector('title') || {}).textContent || '',
    desc: (s.querySelector('desc') || {}).textContent || '',
    width: r.width, height: r.height,
    paths: s.querySelectorAll('path').length, texts: s.querySelectorAll('text').length,
    marks: Array.from(s.querySelectorAll('path')).filter(p => /#2B6CB0|#C53030/i.test(p.getAttribute('style') || '')).length,
    labelled: ids.length === 2 && ids.every(id => document.getElementById(id) && s.contains(document.getElementById(id))),
  };
})`

// widestJS is the right edge of the page's widest element, and the
// document's scroll width.
const widestJS = `(() => {
  let right = 0, what = '';
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.right > right) {
      right = r.right;
      const svg = el.closest('svg');
      what = el.tagName + (el.id ? '#' + el.id : '') + (svg && svg !== el ? ' in svg#' + svg.id : '') + ' "' + (el.textContent || '').trim().slice(0, 40) + '"';
    }
  }
  return {right: right, what: what, scroll: document.documentElement.scrollWidth};
})()`

type widest struct {
	Right  float64 `json:"right"`
	What   string  `json:"what"`
	Scroll float64 `json:"scroll"`
}

// TestReportHTMLInChromium opens the fixed dataset's HTML report in
// headless Chromium: it renders, each chart is there with its alternative
// text and drawn, nothing is wider than an A4 page (on screen at its
// width, and in print between its margins), and it prints to A4. The
// screenshot and the PDF are kept as artefacts.
func TestReportHTMLInChromium(t *testing.T) {
	var html bytes.Buffer
	require.NoError(t, fixtureReport(t).WriteHTML(&html))
	for _, fetch := range []string{"<link", "<script", "src=", "@import", "url("} {
		require.NotContains(t, html.String(), fetch, "the page fetches nothing")
	}
	dir := chromium.ArtifactDir(t)
	page := filepath.Join(dir, "report.html")
	require.NoError(t, os.WriteFile(page, html.Bytes(), 0o600))

	ctx := chromium.Start(t)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(a4Width, a4Height),
		chromedp.Navigate("file://"+page),
		chromedp.WaitReady("#definitions"),
	))
	title, err := chromedp.Run(ctx, chromedp.Title())
	require.NoError(t, err)
	charts, err := chromedp.Run(ctx, chromedp.Evaluate[[]chartCheck](chartsJS))
	require.NoError(t, err)
	screen, err := chromedp.Run(ctx, chromedp.Evaluate[widest](widestJS))
	require.NoError(t, err)
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.Equal(t, fixtureReport(t).Title, title)
	// Overall: three trends and the days; each SLO's burn-down.
	want := []string{"overall-trend-mttr", "overall-trend-mtbf", "overall-trend-rollback", "overall-daily",
		"service-invoicing-production-burn-0", "service-credit-production-burn-0"}
	var got []string
	for _, c := range charts {
		got = append(got, c.ID)
		require.Equal(t, "img", c.Role, c.ID)
		require.True(t, c.Labelled, "%s: aria-labelledby names its own title and description", c.ID)
		require.NotEmpty(t, strings.TrimSpace(c.Title), c.ID)
		require.Greater(t, len(c.Desc), 40, "%s: the alternative text says what the chart shows", c.ID)
		require.Greater(t, c.Width, 300.0, c.ID)
		require.Greater(t, c.Height, 100.0, c.ID)
		require.Greater(t, c.Paths, 5, "%s: drawn", c.ID)
		require.Greater(t, c.Texts, 3, "%s: labelled axes", c.ID)
		require.Positive(t, c.Marks, "%s: lines or bars in the data's colours", c.ID)
	}
	require.ElementsMatch(t, want, got)
	require.LessOrEqual(t, screen.Scroll, float64(a4Width), "the page scrolls sideways")
	require.LessOrEqual(t, screen.Right, float64(a4Width)+0.5, "%s overflows", screen.What)

	shotPath := filepath.Join(dir, "report.png")
	require.NoError(t, os.WriteFile(shotPath, shot, 0o600))
	require.True(t, bytes.HasPrefix(shot, []byte("\x89PNG")), "a PNG screenshot")
	t.Logf("screenshot: %s", shotPath)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
			return err
		}),
		chromedp.EmulateViewport(a4PrintWidth, a4Height),
	))
	printed, err := chromedp.Run(ctx, chromedp.Evaluate[widest](widestJS))
	require.NoError(t, err)
	pdf, err := chromedp.Run(ctx, chromedp.PrintToPDF(chromedp.PDFPaper(chromedp.PaperA4), chromedp.PDFPreferCSSPageSize(), chromedp.PDFPrintBackground()))
	require.NoError(t, err)
	require.LessOrEqual(t, printed.Scroll, float64(a4PrintWidth), "in print, the page is wider than A4 between its margins")
	require.LessOrEqual(t, printed.Right, float64(a4PrintWidth)+0.5, "in print, %s overflows", printed.What)
	require.True(t, bytes.HasPrefix(pdf, []byte("%PDF")), "printed to PDF")
	pdfPath := filepath.Join(dir, "report.pdf")
	require.NoError(t, os.WriteFile(pdfPath, pdf, 0o600))
	t.Logf("printed: %s", pdfPath)
}
