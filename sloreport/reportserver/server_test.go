package reportserver

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/internal/delivery"
	"github.com/estatehq/estate/internal/problem/problemtest"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/sloreport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// now is the servers' clock in the route tests: Wednesday of 2026-W46.
var now = time.Date(2026, 11, 11, 9, 30, 0, 0, time.UTC)

// events are a deployment rolled back and an incident in 2026-W45.
func events() []metrics.Event {
	at := time.Date(2026, 11, 4, 10, 0, 0, 0, time.UTC)
	return []metrics.Event{
		{ID: "d1-started", Source: "ci", Time: at.Add(-10 * time.Minute), Data: metrics.DeploymentStarted{DeploymentID: "d1", Service: "invoicing", Environment: "production", Version: "1.1"}},
		{ID: "d1-succeeded", Source: "ci", Time: at, Data: metrics.DeploymentSucceeded{DeploymentID: "d1"}},
		{ID: "d1-rolled-back", Source: "ci", Time: at.Add(time.Hour), Data: metrics.DeploymentRolledBack{DeploymentID: "d1", ToVersion: "1.0"}},
		{ID: "i1-opened", Source: "am", Time: at.Add(10 * time.Minute), Data: metrics.IncidentOpened{IncidentID: "i1", Service: "invoicing", Environment: "production", Severity: "critical", CauseDeploymentID: "d1"}},
		{ID: "i1-resolved", Source: "am", Time: at.Add(70 * time.Minute), Data: metrics.IncidentResolved{IncidentID: "i1"}},
	}
}

// generator computes reports of events() and counts its calls; fail
// makes it fail.
type generator struct {
	calls atomic.Int32
	fail  atomic.Bool
	now   func() time.Time
}

func (g *generator) generate(ctx context.Context, w sloreport.ISOWeek) (*sloreport.Report, error) {
	g.calls.Add(1)
	if g.fail.Load() {
		return nil, errors.New("event store at /secret/path unreachable")
	}
	return sloreport.Compute(ctx, sloreport.Inputs{Events: events(), Week: w, Now: g.now(),
		ReviewURL: func(id string) string { return "http://127.0.0.1:8088/v1/incidents/" + id + "/timeline" }})
}

func newServer(t *testing.T, o Options) (*Server, *Archive) {
	t.Helper()
	a, err := OpenArchive(filepath.Join(t.TempDir(), "reports"))
	require.NoError(t, err)
	o.Archive = a
	s, err := New(o)
	require.NoError(t, err)
	return s, a
}

func get(t *testing.T, url string, header ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(b)
}

// TestRoutes: every route of the report server, on a real HTTP server.
func TestRoutes(t *testing.T) {
	g := &generator{now: func() time.Time { return now }}
	reg := prometheus.NewRegistry()
	s, a := newServer(t, Options{
		Generate: g.generate, Now: g.now, Registerer: reg,
		Extra: func(r chi.Router) {
			r.Get("/incidents/{id}", func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, "review of "+chi.URLParam(r, "id"))
			})
		},
	})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	// Nothing archived: the latest report, 2026-W45, is generated.
	code, h, body := get(t, srv.URL+"/reports/latest")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "text/html; charset=utf-8", h.Get("Content-Type"))
	for _, want := range []string{"Weekly reliability report, 2026-W45", `<svg id="overall-daily"`, "1 of 1 deployment rolled back"} {
		require.Contains(t, body, want)
	}
	require.Equal(t, int32(1), g.calls.Load())

	code, h, body = get(t, srv.URL+"/reports/2026-W45.json")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "application/json", h.Get("Content-Type"))
	var rep struct {
		Week     string `json:"week"`
		Services []struct {
			Figures map[string]struct {
				Value       *float64 `json:"value"`
				Numerator   *float64 `json:"numerator"`
				Denominator *float64 `json:"denominator"`
			} `json:"figures"`
		} `json:"services"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &rep))
	require.Equal(t, "2026-W45", rep.Week)
	require.Equal(t, 1.0, *rep.Services[0].Figures["change_failure_rate"].Value)
	require.Equal(t, 1.0, *rep.Services[0].Figures["change_failure_rate"].Denominator)
	require.Equal(t, int32(2), g.calls.Load(), "generated on demand")
	weeks, err := a.Weeks()
	require.NoError(t, err)
	require.Empty(t, weeks, "a report generated on demand is not archived")

	// Archived: served from the archive, in every format, and listed.
	require.NoError(t, s.Publish(context.Background(), sloreport.ISOWeek{Year: 2026, Week: 45}))
	require.Equal(t, int32(3), g.calls.Load())
	for ext, ct := range map[string]string{"html": "text/html; charset=utf-8", "md": "text/markdown; charset=utf-8", "json": "application/json", "txt": "text/plain; charset=utf-8"} {
		code, h, body := get(t, srv.URL+"/reports/2026-W45."+ext)
		require.Equal(t, http.StatusOK, code, ext)
		require.Equal(t, ct, h.Get("Content-Type"), ext)
		require.Contains(t, body, "2026-W45", ext)
		want, err := os.ReadFile(filepath.Join(a.Dir(), "2026-W45."+ext))
		require.NoError(t, err)
		require.Equal(t, string(want), body, ext)
	}
	_, _, _ = get(t, srv.URL+"/reports/latest")
	require.Equal(t, int32(3), g.calls.Load(), "served from the archive")
	// Without a home page, / is the latest report.
	code, _, body = get(t, srv.URL+"/")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "Weekly reliability report, 2026-W45")
	code, _, body = get(t, srv.URL+"/reports")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `<a href="/reports/2026-W45.html">2026-W45</a>`)
	code, h, body = get(t, srv.URL+"/reports", "Accept", "application/json")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "application/json", h.Get("Content-Type"))
	require.JSONEq(t, `{"latest":"2026-W45","reports":[{"week":"2026-W45","html":"/reports/2026-W45.html","markdown":"/reports/2026-W45.md","json":"/reports/2026-W45.json","text":"/reports/2026-W45.txt"}]}`, body)

	// Problems.
	for _, c := range []struct {
		path   string
		status int
		detail string
	}{
		{"/reports/2025-W53.html", http.StatusBadRequest, "week 2025-W53: 2025 has weeks 01 to 52: no such ISO week"},
		{"/reports/1600-W01.html", http.StatusBadRequest, "week 1600-W01: its days must be between 1677-09-21T00:12:44Z and 2262-04-11T23:47:16Z"},
		{"/reports/2262-W16.json", http.StatusBadRequest, "week 2262-W16: its days must be between"},
		{"/reports/last-week.html", http.StatusBadRequest, `week "last-week": must be an ISO week such as 2026-W47`},
		{"/reports/2026-W45.xml", http.StatusNotFound, `no report "2026-W45.xml"`},
		{"/reports/2026-W45", http.StatusNotFound, "ask for WEEK.html"},
		{"/reports/2026-W47.html", http.StatusNotFound, "week 2026-W47 has not started"},
	} {
		code, h, body := get(t, srv.URL+c.path)
		require.Equal(t, c.status, code, c.path)
		require.Equal(t, "application/problem+json", h.Get("Content-Type"), c.path)
		var p struct {
			Status int    `json:"status"`
			Detail string `json:"detail"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &p), c.path)
		require.Equal(t, c.status, p.Status, c.path)
		require.Contains(t, p.Detail, c.detail, c.path)
	}

	// A report that cannot be generated: 500, without the cause's text.
	g.fail.Store(true)
	code, _, body = get(t, srv.URL+"/reports/2026-W44.html")
	require.Equal(t, http.StatusInternalServerError, code)
	require.NotContains(t, body, "/secret/path")

	code, _, body = get(t, srv.URL+"/incidents/inc-1")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "review of inc-1", body)

	require.Equal(t, 2.0, testutil.ToFloat64(s.metrics.generations.WithLabelValues(triggerRequest, "ok")))
	require.Equal(t, 1.0, testutil.ToFloat64(s.metrics.generations.WithLabelValues(triggerRequest, "error")))
	require.Equal(t, 1.0, testutil.ToFloat64(s.metrics.generations.WithLabelValues(triggerSchedule, "ok")))
}

// webhook is a Slack webhook in memory, as a RoundTripper: the schedule
// tests run in a synctest bubble, which no real connection enters. Each
// post is answered by answer, in order; the last answer repeats. An
// answer of 0 holds the post until its context ends.
type webhook struct {
	mu      sync.Mutex
	answers []int
	bodies  []string
}

func (h *webhook) RoundTrip(req *http.Request) (*http.Response, error) {
	b, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.bodies = append(h.bodies, string(b))
	status := h.answers[min(len(h.bodies), len(h.answers))-1]
	h.mu.Unlock()
	if status == 0 {
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: http.Header{}, Body: io.NopCloser(strings.NewReader("")), Request: req}, nil
}

func (h *webhook) posts() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.bodies...)
}

func archived(t *testing.T, a *Archive) []string {
	t.Helper()
	weeks, err := a.Weeks()
	require.NoError(t, err)
	var out []string
	for _, w := range weeks {
		out = append(out, w.String())
	}
	return out
}

// TestScheduleArchivesTheLastWeek: on the default schedule, Monday 06:00
// UTC, the last complete week's report is archived and its summary posted
// to the webhook, which answers 503 twice and is retried with backoff.
// synctest's clock starts on Saturday 1 January 2000, in 1999-W52.
func TestScheduleArchivesTheLastWeek(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hook := &webhook{answers: []int{503, 503, 200}}
		g := &generator{now: time.Now}
		s, a := newServer(t, Options{
			Generate: g.generate, PublicURL: func() string { return "http://reports.example" },
			Webhook: Webhook{URL: "http://chat.example/hook", Timeout: 10 * time.Second, Client: &http.Client{Transport: hook},
				Retry: delivery.Retry{Backoff: delivery.Backoff{Initial: time.Second, Max: 10 * time.Second}, MaxAttempts: 5}},
		})
		require.NoError(t, s.Start(context.Background()))
		defer func() { require.NoError(t, s.Shutdown(context.Background())) }()

		time.Sleep(54*time.Hour - time.Second) // to Monday 3 January 05:59:59
		synctest.Wait()
		require.Empty(t, archived(t, a))
		require.Zero(t, g.calls.Load())

		time.Sleep(time.Second) // 06:00
		synctest.Wait()
		require.Equal(t, []string{"1999-W52"}, archived(t, a))
		require.Len(t, hook.posts(), 1, "posted once, then waits a second")
		time.Sleep(3 * time.Second) // two retries: after 1 s, then 2 s
		synctest.Wait()
		posts := hook.posts()
		require.Len(t, posts, 3)
		var msg map[string]string
		require.NoError(t, json.Unmarshal([]byte(posts[2]), &msg))
		require.Equal(t, []string{"text"}, keys(msg))
		require.Contains(t, msg["text"], "Weekly reliability report, 1999-W52")
		require.Contains(t, msg["text"], "Full report: http://reports.example/reports/1999-W52.html")
		require.Equal(t, 1.0, testutil.ToFloat64(s.metrics.posts.WithLabelValues("ok")))
		require.Equal(t, float64(time.Date(2000, 1, 3, 6, 0, 0, 0, time.UTC).Unix()), testutil.ToFloat64(s.metrics.archived))

		time.Sleep(7 * 24 * time.Hour)
		synctest.Wait()
		require.Equal(t, []string{"2000-W01", "1999-W52"}, archived(t, a))
	})
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestWebhookNeverHoldsTheArchive: a webhook that never answers is given
// up after its attempts, each bounded by its timeout, while the archive is
// written at once and the next week's on time.
func TestWebhookNeverHoldsTheArchive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hook := &webhook{answers: []int{0}}
		g := &generator{now: time.Now}
		s, a := newServer(t, Options{
			Generate: g.generate, Schedule: "@daily",
			Webhook: Webhook{URL: "http://chat.example/hook", Timeout: 10 * time.Minute, Client: &http.Client{Transport: hook},
				Retry: delivery.Retry{Backoff: delivery.Backoff{Initial: time.Minute, Max: time.Hour}, MaxAttempts: 4}},
		})
		require.NoError(t, s.Start(context.Background()))
		defer func() { require.NoError(t, s.Shutdown(context.Background())) }()

		time.Sleep(24 * time.Hour) // Sunday 00:00: 1999-W52 is not over yet, 1999-W51 is
		synctest.Wait()
		require.Equal(t, []string{"1999-W51"}, archived(t, a), "archived while the post hangs")
		require.Len(t, hook.posts(), 1)
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		require.Equal(t, []string{"1999-W52", "1999-W51"}, archived(t, a), "the next run is on time")
		require.Equal(t, 1.0, testutil.ToFloat64(s.metrics.posts.WithLabelValues("error")), "the first post gave up after 4 attempts of 10 minutes")
		require.Len(t, hook.posts(), 5, "4 attempts of the first, the first of the second")
	})
}

// TestScheduleRetriesAFailedRun: a run whose report cannot be generated
// is retried with backoff, and nothing half-written is archived.
func TestScheduleRetriesAFailedRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &generator{now: time.Now}
		g.fail.Store(true)
		s, a := newServer(t, Options{Generate: g.generate,
			Retry: &delivery.Retry{Backoff: delivery.Backoff{Initial: time.Minute, Max: time.Hour}, MaxAttempts: 3}})
		require.NoError(t, s.Start(context.Background()))
		defer func() { require.NoError(t, s.Shutdown(context.Background())) }()
		time.Sleep(54 * time.Hour)
		synctest.Wait()
		require.Equal(t, int32(1), g.calls.Load())
		require.Empty(t, archived(t, a))
		g.fail.Store(false)
		time.Sleep(time.Minute)
		synctest.Wait()
		require.Equal(t, int32(2), g.calls.Load())
		require.Equal(t, []string{"1999-W52"}, archived(t, a))
	})
}

func TestConfig(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags(fs, "report.")
	require.NoError(t, c.Validate(), "the defaults are valid")
	require.Equal(t, ":8090", c.ListenAddr)
	require.Equal(t, DefaultSchedule, c.Schedule)
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--report.schedule=every monday"}, `schedule: "every monday" is not a cron schedule`},
		{[]string{"--report.listen-addr=8090"}, "listen_addr: must be host:port"},
		{[]string{"--report.collector-url="}, "collector_url: must be an http or https URL"},
		{[]string{"--report.webhook.url=hooks.slack.com/x"}, "webhook.url: must be an http or https URL"},
		{[]string{"--report.webhook.url=https://hooks.example/x", "--report.webhook.max-attempts=0"}, "webhook.max_attempts: must be positive"},
		{[]string{"--report.thresholds.mttr-red=30m"}, "thresholds.mttr_red: must be at least mttr_amber"},
		{[]string{"--report.grafana-url=grafana:3000"}, "grafana_url: must be an http or https URL"},
		{[]string{"--report.home-timeout=0s"}, "home_timeout: must be positive"},
	} {
		var c Config
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		c.RegisterFlags(fs, "report.")
		require.NoError(t, fs.Parse(tc.args))
		require.ErrorContains(t, c.Validate(), tc.err, tc.args)
	}
}

func TestArchiveRefusesAPeriodThatIsNotAWeek(t *testing.T) {
	a, err := OpenArchive(t.TempDir())
	require.NoError(t, err)
	r, err := sloreport.Compute(context.Background(), sloreport.Inputs{Events: events(), From: now.Add(-48 * time.Hour), To: now, Now: now})
	require.NoError(t, err)
	require.ErrorContains(t, a.Put(r), "only a week's report is archived")
	_, err = a.Get(sloreport.ISOWeek{Year: 2026, Week: 1}, sloreport.HTML)
	require.ErrorIs(t, err, ErrNotArchived)
	require.NoError(t, os.WriteFile(filepath.Join(a.Dir(), "notes.json"), []byte("{}"), 0o600))
	require.Empty(t, archived(t, a), "only weeks are listed")
}

func TestUnroutedAnswersProblems(t *testing.T) {
	g := &generator{now: func() time.Time { return now }}
	s, _ := newServer(t, Options{Generate: g.generate, Now: g.now})
	problemtest.RequireUnrouted(t, s.Handler(),
		problemtest.Unrouted{Method: http.MethodGet, Path: "/nowhere"},
		problemtest.Unrouted{Method: http.MethodPost, Path: "/", Allow: "GET"},
		problemtest.Unrouted{Method: http.MethodDelete, Path: "/reports/2026-W45.html", Allow: "GET"},
	)
}

// TestPublishWhenAsked: with the schedule off nothing is archived on
// Mondays; POST /reports/{week}/publish archives a complete week and
// posts its summary, refuses a week not over, and answers problems for
// a bad week and a failed generation, archiving nothing then.
func TestPublishWhenAsked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hook := &webhook{answers: []int{200}}
		g := &generator{now: time.Now}
		s, a := newServer(t, Options{
			Generate: g.generate, Schedule: ScheduleOff,
			Webhook: Webhook{URL: "http://chat.example/hook", Timeout: 10 * time.Second, Client: &http.Client{Transport: hook},
				Retry: delivery.Retry{Backoff: delivery.Backoff{Initial: time.Second, Max: 10 * time.Second}, MaxAttempts: 1}},
		})
		require.NoError(t, s.Start(context.Background()))
		defer func() { require.NoError(t, s.Shutdown(context.Background())) }()

		time.Sleep(8 * 24 * time.Hour) // past Monday 06:00
		synctest.Wait()
		require.Empty(t, archived(t, a), "the schedule is off")
		require.Zero(t, g.calls.Load())

		publish := func(week string) (int, string) {
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/reports/"+week+"/publish", nil))
			return rec.Code, rec.Body.String()
		}
		code, body := publish("1999-W52")
		require.Equal(t, http.StatusOK, code, body)
		require.JSONEq(t, `{"week": "1999-W52", "html": "/reports/1999-W52.html", "markdown": "/reports/1999-W52.md", "json": "/reports/1999-W52.json", "text": "/reports/1999-W52.txt"}`, body)
		require.Equal(t, []string{"1999-W52"}, archived(t, a))
		synctest.Wait()
		require.Len(t, hook.posts(), 1)
		require.Equal(t, 1.0, testutil.ToFloat64(s.metrics.generations.WithLabelValues(triggerPublish, "ok")))

		code, body = publish(sloreport.WeekOf(time.Now()).String())
		require.Equal(t, http.StatusConflict, code, body)
		require.Contains(t, body, "has not ended")
		code, body = publish("1999-W53")
		require.Equal(t, http.StatusBadRequest, code, body)
		require.Contains(t, body, `"path.week"`)

		g.fail.Store(true)
		code, body = publish("1999-W51")
		require.Equal(t, http.StatusInternalServerError, code, body)
		require.NotContains(t, body, "/secret/path", "the cause is logged, not answered")
		require.Equal(t, []string{"1999-W52"}, archived(t, a))
		require.Equal(t, 1.0, testutil.ToFloat64(s.metrics.generations.WithLabelValues(triggerPublish, "error")))
	})
}
