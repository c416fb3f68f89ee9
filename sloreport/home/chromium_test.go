package home_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"

	collectorhttp "github.com/estatehq/estate/collector/http"
	collectorsqlite "github.com/estatehq/estate/collector/sqlite"
	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/auth/authtest"
	"github.com/estatehq/estate/internal/testenv/chromium"
	"github.com/estatehq/estate/sloreport"
	"github.com/estatehq/estate/sloreport/home"
	"github.com/estatehq/estate/sloreport/reportserver"
	reviewhttp "github.com/estatehq/estate/sloreport/review/http"
)

// rowsJS is the text of every row the page gives an id, by id.
const rowsJS = `Object.fromEntries(Array.from(document.querySelectorAll('tr[id]')).map(r => [r.id, r.textContent.replace(/\s+/g, ' ').trim()]))`

// pageJS is what the page says of itself: its sections' titles, its
// links, and whether anything is wider than the window.
const pageJS = `({
  sections: Array.from(document.querySelectorAll('main section h2')).map(h => h.textContent.trim()),
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
  unavailable: Array.from(document.querySelectorAll('.unavailable')).map(p => p.textContent),
  scroll: document.documentElement.scrollWidth, width: window.innerWidth,
})`

type pageCheck struct {
	Sections    []string `json:"sections"`
	Links       []string `json:"links"`
	Unavailable []string `json:"unavailable"`
	Scroll      float64  `json:"scroll"`
	Width       float64  `json:"width"`
}

// TestHomePageInChromium loads the home page from a real report server
// in headless Chromium: the fixture's events in an SQLite store, its RED
// series in the embedded PromQL engine, the example SLOs, and the
// collector's query and review API on a real server over an embedded
// store. Every section renders with the figures of the fixture; the page
// asks the network for nothing but itself, on loopback; and every link on
// it answers 200.
func TestHomePageInChromium(t *testing.T) {
	ctx := context.Background()
	events, q := eventStore(t), querier(t)
	slos := evaluator(t, q)
	clock := func() time.Time { return now }

	telemetry, err := collectorsqlite.Open(ctx, collectorsqlite.Options{Path: filepath.Join(t.TempDir(), "telemetry.db")})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, telemetry.Shutdown(context.Background())) })
	api := chi.NewRouter()
	collectorhttp.Routes(api, telemetry, slog.New(slog.DiscardHandler))
	require.NoError(t, reviewhttp.Routes(api, reviewhttp.Options{Events: events, Querier: q, SLOs: slos.SLOs(), Now: clock}))
	collector := httptest.NewServer(api)
	t.Cleanup(collector.Close)

	page, err := home.New(home.Options{Events: events, Querier: q, SLOs: slos, CollectorURL: collector.URL, Now: clock})
	require.NoError(t, err)
	archive, err := reportserver.OpenArchive(filepath.Join(t.TempDir(), "reports"))
	require.NoError(t, err)
	rs, err := reportserver.New(reportserver.Options{
		Generate: func(ctx context.Context, w sloreport.ISOWeek) (*sloreport.Report, error) {
			return sloreport.Compute(ctx, sloreport.Inputs{Store: events, Week: w, Now: now})
		},
		Archive: archive, Home: page, Schedule: reportserver.ScheduleOff, Now: clock,
	})
	require.NoError(t, err)
	reports := httptest.NewServer(rs.Handler())
	t.Cleanup(reports.Close)

	browser := chromium.Start(t)
	var (
		mu        sync.Mutex
		requested []string
	)
	require.NoError(t, chromedp.Listen(browser, func(ev any) {
		if r, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requested = append(requested, r.Request.URL)
			mu.Unlock()
		}
	}))
	require.NoError(t, chromedp.Do(browser,
		chromedp.EmulateViewport(1024, 900),
		chromedp.Navigate(reports.URL+"/"),
		chromedp.WaitReady("#experiments"),
	))
	title, err := chromedp.Run(browser, chromedp.Title())
	require.NoError(t, err)
	rows, err := chromedp.Run(browser, chromedp.Evaluate[map[string]string](rowsJS))
	require.NoError(t, err)
	got, err := chromedp.Run(browser, chromedp.Evaluate[pageCheck](pageJS))
	require.NoError(t, err)
	shot, err := chromedp.Run(browser, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	shotPath := filepath.Join(chromium.ArtifactDir(t), "home.png")
	require.NoError(t, os.WriteFile(shotPath, shot, 0o600))
	t.Logf("screenshot: %s", shotPath)

	require.Equal(t, "Estate status", title)
	require.Equal(t, []string{"Services", "Open incidents", "Recent deployments", "Chaos experiments"}, got.Sections)
	require.Empty(t, got.Unavailable, "every source answered")
	require.LessOrEqual(t, got.Scroll, got.Width, "the page scrolls sideways")
	for id, want := range map[string][]string{
		"service-invoicing":          {"breached", "10.0/s", "10.0%", "375ms", "slowest traces"},
		"service-credit":             {"ok", "5.0/s", "0.0%", "99ms"},
		"slo-invoicing-availability": {"Invoicing availability", "99.90%", "30d rolling", "×16.67", "breached"},
		"slo-credit-latency":         {"Credit latency", "100.0%", "ok"},
		"deployment-d1":              {"invoicing", "1.4.0", "back to 1.3.9", "rolled back", "1d 10m"},
		"deployment-d2":              {"succeeded", "4h 5m"},
		"deployment-d3":              {"failed"},
		"deployment-d4":              {"in progress"},
		"incident-i1":                {"critical", "10m", "deployment d1", "timeline"},
		"incident-i4":                {"chaos experiment x1"},
		"incident-i2":                {"Wed 2 Dec 09:30 UTC"},
		"experiment-x1":              {"latency", "invoicing", "running", "for 5m"},
		"experiment-x2":              {"hypothesis broken"},
	} {
		require.Contains(t, rows, id)
		for _, w := range want {
			require.Contains(t, rows[id], w, id)
		}
	}
	for _, absent := range []string{"incident-i3", "experiment-x3", "experiment-x4"} {
		require.NotContains(t, rows, absent, "too old to list")
	}

	// Nothing leaves loopback: the page is all the browser asked for.
	mu.Lock()
	asked := append([]string(nil), requested...)
	mu.Unlock()
	require.NotEmpty(t, asked)
	for _, u := range asked {
		require.True(t, loopback(t, u), "the page fetched %s", u)
	}
	require.Equal(t, []string{reports.URL + "/"}, asked, "no style sheet, font, image or script")

	// Every link answers, the collector's and the report server's.
	require.Greater(t, len(got.Links), 20)
	seen := map[string]bool{}
	for _, link := range got.Links {
		if seen[link] {
			continue
		}
		seen[link] = true
		require.True(t, loopback(t, link), link)
		resp, err := http.Get(link)
		require.NoError(t, err, link)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, link)
	}
	for _, want := range []string{reports.URL + "/reports/latest", reports.URL + "/reports", reports.URL + "/reports/2026-W49.html", reports.URL + "/v1/status",
		collector.URL + "/v1/incidents/i1/timeline"} {
		require.True(t, seen[want], "the page links to %s", want)
	}
	require.True(t, seen[collector.URL+"/v1/logs?from=2026-12-02T11%3A00%3A00Z&level=error&service=invoicing"])
}

func loopback(t *testing.T, raw string) bool {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err, raw)
	return u.Scheme == "http" && strings.HasPrefix(u.Host, "127.0.0.1:")
}

// TestSignInInChromium signs in as a newcomer does: headless Chromium
// opens the guarded home page, is sent to the sign-in form, pastes a
// token, and lands on the home page; the cookie it now keeps is out of
// scripts' reach.
func TestSignInInChromium(t *testing.T) {
	events, q := eventStore(t), querier(t)
	iss := authtest.New(t)
	page, err := home.New(home.Options{Events: events, Querier: q, SLOs: evaluator(t, q), CollectorURL: "http://127.0.0.1:1", Now: func() time.Time { return now }})
	require.NoError(t, err)
	archive, err := reportserver.OpenArchive(filepath.Join(t.TempDir(), "reports"))
	require.NoError(t, err)
	rs, err := reportserver.New(reportserver.Options{
		Generate: func(ctx context.Context, w sloreport.ISOWeek) (*sloreport.Report, error) {
			return sloreport.Compute(ctx, sloreport.Inputs{Store: events, Week: w, Now: now})
		},
		Archive: archive, Home: page, Schedule: reportserver.ScheduleOff, SignIn: iss.Authenticator,
	})
	require.NoError(t, err)
	read := auth.Need(auth.RoleReportsRead)
	table := auth.RouteTable{"GET /": read, "GET /v1/status": read, "GET /signin": auth.Public, "POST /signin": auth.Public}
	reports := httptest.NewServer(iss.Authenticator.Guard(rs.Routes(), table, auth.SignInPage(reportserver.SignInPath))(rs.Handler()))
	t.Cleanup(reports.Close)

	browser := chromium.Start(t)
	require.NoError(t, chromedp.Do(browser,
		chromedp.EmulateViewport(1024, 900),
		chromedp.Navigate(reports.URL+"/"),
		chromedp.WaitVisible("#token"),
	))
	at, err := chromedp.Run(browser, chromedp.Location())
	require.NoError(t, err)
	require.Equal(t, reports.URL+"/signin?next=%2F", at)
	shot, err := chromedp.Run(browser, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(chromium.ArtifactDir(t), "signin.png"), shot, 0o600))

	// A token without the reports' role is refused, and said why.
	require.NoError(t, chromedp.Do(browser,
		chromedp.SetValue("#token", iss.Token(t, "bob", auth.RoleChaosHalt)),
		chromedp.Submit("#token"),
		chromedp.WaitVisible("#signin-error"),
	))
	msg, err := chromedp.Run(browser, chromedp.Text("#signin-error"))
	require.NoError(t, err)
	require.Contains(t, msg, "lacks the role reports.read")

	require.NoError(t, chromedp.Do(browser,
		chromedp.SetValue("#token", iss.Token(t, "alice", auth.RoleReportsRead, auth.RoleObservabilityRead)),
		chromedp.Submit("#token"),
		chromedp.WaitReady("#experiments"),
	))
	title, err := chromedp.Run(browser, chromedp.Title())
	require.NoError(t, err)
	require.Equal(t, "Estate status", title)
	at, err = chromedp.Run(browser, chromedp.Location())
	require.NoError(t, err)
	require.Equal(t, reports.URL+"/", at)
	cookies, err := chromedp.Run(browser, chromedp.Evaluate[string]("document.cookie"))
	require.NoError(t, err)
	require.Empty(t, cookies, "the session cookie is HttpOnly")
}
