package sloreport

import (
	"bytes"
	"fmt"
	"html"
	"image/color"
	"math"
	"regexp"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// chart is an SVG chart of the HTML report, drawn by gonum's plot with
// its SVG backend.
type chart struct {
	ID    string
	Title string
	// Alt is the chart's data in words: its alternative text.
	Alt string
	// SVG is the <svg> element, with role="img" and the title and
	// description that screen readers read.
	SVG string
}

// The charts' size: the width of an A4 page's text at 96 dpi, scaled to
// the page by the style sheet.
const (
	chartWidth  = 17 * vg.Centimeter
	chartHeight = 6 * vg.Centimeter
)

var (
	ink      = color.RGBA{R: 0x1a, G: 0x20, B: 0x2c, A: 0xff}
	blue     = color.RGBA{R: 0x2b, G: 0x6c, B: 0xb0, A: 0xff}
	red      = color.RGBA{R: 0xc5, G: 0x30, B: 0x30, A: 0xff}
	grey     = color.RGBA{R: 0xcb, G: 0xd5, B: 0xe0, A: 0xff}
	sansFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
)

// newPlot is a plot in the report's style.
func newPlot(title, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = font.From(sansFont, 11)
	p.Title.TextStyle.Color = ink
	p.Title.Padding = vg.Points(4)
	p.Y.Label.Text = yLabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sansFont, 9)
		a.Tick.Label.Font = font.From(sansFont, 8)
		a.Color, a.Tick.Color, a.Label.TextStyle.Color, a.Tick.Label.Color = ink, ink, ink, ink
	}
	p.Legend.TextStyle.Font = font.From(sansFont, 8)
	p.Legend.Top = true
	grid := plotter.NewGrid()
	grid.Vertical.Color, grid.Horizontal.Color = grey, grey
	p.Add(grid)
	return p
}

// noData writes "no data" in the middle of an empty plot.
func noData(p *plot.Plot) error {
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	p.HideAxes()
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: 0.5, Y: 0.5}}, Labels: []string{"no data"}})
	if err != nil {
		return err
	}
	l.TextStyle[0].Font = font.From(sansFont, 12)
	l.TextStyle[0].XAlign, l.TextStyle[0].YAlign = draw.XCenter, draw.YCenter
	p.Add(l)
	return nil
}

var (
	svgProlog = regexp.MustCompile(`(?s)^<\?xml[^>]*\?>\s*<!--.*?-->\s*`)
	svgRoot   = regexp.MustCompile(`^<svg width="[^"]*" height="[^"]*" viewBox="([^"]*)"`)
)

// render draws p as an <svg> element that scales to its container's
// width, with role="img", a <title> and a <desc> holding alt.
func render(p *plot.Plot, id, title, alt string) (chart, error) {
	c := vgsvg.New(chartWidth, chartHeight)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return chart{}, fmt.Errorf("drawing chart %s: %w", id, err)
	}
	svg := svgProlog.ReplaceAllString(buf.String(), "")
	m := svgRoot.FindStringSubmatch(svg)
	if m == nil {
		return chart{}, fmt.Errorf("drawing chart %s: unexpected SVG from the plotting library", id)
	}
	// A font the reader's machine lacks falls back to any sans serif.
	svg = strings.ReplaceAll(svg, "font-family:Liberation Sans;", "font-family:'Liberation Sans',Arial,Helvetica,sans-serif;")
	root := fmt.Sprintf(`<svg id="%[1]s" class="chart" role="img" aria-labelledby="%[1]s-title %[1]s-desc" viewBox="%[2]s" preserveAspectRatio="xMidYMid meet"`, id, m[1])
	head := fmt.Sprintf(">\n<title id=\"%s-title\">%s</title>\n<desc id=\"%s-desc\">%s</desc>", id, html.EscapeString(title), id, html.EscapeString(alt))
	rest := svg[len(m[0]):]
	end := strings.IndexByte(rest, '>')
	svg = root + rest[:end] + head + rest[end+1:]
	return chart{ID: id, Title: title, Alt: alt, SVG: svg}, nil
}

// burnDownChart draws an SLO's error budget over the period.
func burnDownChart(id string, s SLOReport, from, to time.Time) (chart, error) {
	title := "Error budget left: " + s.Label()
	p := newPlot(title, "budget left (%)")
	setDayTicks(p, from, to)
	var pts plotter.XYs
	for _, b := range s.BurnDown {
		if b.BudgetRemaining != nil {
			pts = append(pts, plotter.XY{X: hoursSince(from, b.At), Y: *b.BudgetRemaining * 100})
		}
	}
	alt := fmt.Sprintf("%s, objective %s: no events in the period, no budget to spend.", s.Label(), FormatPercent(s.Objective))
	if len(pts) == 0 {
		if err := noData(p); err != nil {
			return chart{}, err
		}
		return render(p, id, title, alt)
	}
	p.Y.Min, p.Y.Max = math.Min(0, minY(pts)), 100
	line, err := plotter.NewLine(pts)
	if err != nil {
		return chart{}, err
	}
	line.Color, line.Width = blue, vg.Points(1.5)
	zero, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: hoursSince(from, to), Y: 0}})
	if err != nil {
		return chart{}, err
	}
	zero.Color, zero.Dashes = red, []vg.Length{vg.Points(3), vg.Points(2)}
	p.Add(zero, line)
	var days []string
	for _, b := range s.BurnDown[1:] {
		if b.At.Sub(from)%(24*time.Hour) == 0 || b.At.Equal(to) {
			days = append(days, FormatDay(b.At.Add(-time.Millisecond))+" "+FormatOptPercent(b.BudgetRemaining))
		}
	}
	alt = fmt.Sprintf("%s, objective %s: the period's error budget went from 100%% to %s left (%s of %s bad events allowed spent). At the end of each day: %s.",
		s.Label(), FormatPercent(s.Objective), FormatValue(s.BudgetRemaining.Measure),
		FormatCount(s.Events.Bad), FormatCount(*s.BudgetRemaining.Denominator), strings.Join(days, ", "))
	return render(p, id, title, alt)
}

func minY(pts plotter.XYs) float64 {
	m := math.Inf(1)
	for _, p := range pts {
		m = math.Min(m, p.Y)
	}
	return m
}

func hoursSince(from, t time.Time) float64 { return t.Sub(from).Hours() }

// setDayTicks marks each day of the period on the X axis, in hours since
// its start.
func setDayTicks(p *plot.Plot, from, to time.Time) {
	var ticks []plot.Tick
	for d := from; d.Before(to); d = d.Add(24 * time.Hour) {
		ticks = append(ticks, plot.Tick{Value: hoursSince(from, d) + 12, Label: FormatDay(d)})
		ticks = append(ticks, plot.Tick{Value: hoursSince(from, d)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = 0, hoursSince(from, to)
}

// trendChart draws one figure over the trend's periods; a period with no
// data is a gap in the line.
func trendChart(id, title string, points []TrendPoint, pick func(TrendPoint) Measure) (chart, error) {
	unit := pick(points[0]).Unit
	scale, yLabel := 1.0, "%"
	if unit == Seconds {
		scale, yLabel = 3600, "hours"
	}
	if unit == Ratio {
		scale = 0.01
	}
	p := newPlot(title, yLabel)
	labels := make([]string, len(points))
	var words []string
	var segs []plotter.XYs
	var cur plotter.XYs
	for i, pt := range points {
		labels[i] = pt.Label()
		m := pick(pt)
		words = append(words, pt.Label()+" "+FormatMeasure(m))
		if m.Value == nil {
			if len(cur) > 0 {
				segs, cur = append(segs, cur), nil
			}
			continue
		}
		cur = append(cur, plotter.XY{X: float64(i), Y: *m.Value / scale})
	}
	if len(cur) > 0 {
		segs = append(segs, cur)
	}
	alt := title + " over " + fmt.Sprint(len(points)) + " periods: " + strings.Join(words, "; ") + "."
	if len(segs) == 0 {
		if err := noData(p); err != nil {
			return chart{}, err
		}
		return render(p, id, title, alt)
	}
	p.NominalX(labels...)
	p.X.Min, p.X.Max = -0.5, float64(len(points))-0.5
	p.Y.Min = 0
	for _, s := range segs {
		line, pts, err := plotter.NewLinePoints(s)
		if err != nil {
			return chart{}, err
		}
		line.Color, line.Width = blue, vg.Points(1.5)
		pts.Color, pts.Shape = blue, draw.CircleGlyph{}
		p.Add(line, pts)
	}
	p.Y.Max = math.Max(p.Y.Max*1.1, p.Y.Min+1)
	return render(p, id, title, alt)
}

// dailyChart draws the deployments and rollbacks of each day as bars.
func dailyChart(id string, days []Day) (chart, error) {
	title := "Deployments and rollbacks per day"
	p := newPlot(title, "count")
	if len(days) == 0 {
		if err := noData(p); err != nil {
			return chart{}, err
		}
		return render(p, id, title, "Deployments and rollbacks per day: no data.")
	}
	deps, rolls := make(plotter.Values, len(days)), make(plotter.Values, len(days))
	labels := make([]string, len(days))
	var words []string
	for i, d := range days {
		deps[i], rolls[i] = float64(d.Deployments), float64(d.Rollbacks)
		labels[i] = FormatDay(d.From)
		words = append(words, fmt.Sprintf("%s %d %s, %d %s", labels[i], d.Deployments, noun("deployments", deps[i]), d.Rollbacks, noun("rollbacks", rolls[i])))
	}
	w := vg.Points(12)
	db, err := plotter.NewBarChart(deps, w)
	if err != nil {
		return chart{}, err
	}
	db.Color, db.LineStyle.Width, db.Offset = blue, 0, -w/2
	rb, err := plotter.NewBarChart(rolls, w)
	if err != nil {
		return chart{}, err
	}
	rb.Color, rb.LineStyle.Width, rb.Offset = red, 0, w/2
	p.Add(db, rb)
	p.Legend.Add("deployments", db)
	p.Legend.Add("rollbacks", rb)
	p.NominalX(labels...)
	p.X.Min, p.X.Max = -0.6, float64(len(days))-0.4
	// Room above the bars for the legend.
	p.Y.Min, p.Y.Max = 0, math.Max(1, math.Ceil(p.Y.Max*1.3))
	return render(p, id, title, title+": "+strings.Join(words, "; ")+".")
}
