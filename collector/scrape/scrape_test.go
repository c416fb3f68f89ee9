package scrape_test

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/collector/scrape"
	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func defaults(t *testing.T, args ...string) scrape.Config {
	t.Helper()
	var c scrape.Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlags(fs, "")
	require.NoError(t, fs.Parse(args))
	return c
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"defaults", nil, ""},
		{"targets", []string{"--targets", "invoicing=10.0.0.1:8081, credit=credit:8082"}, ""},
		{"interval", []string{"--interval", "0s"}, "interval: must be positive"},
		{"timeout above interval", []string{"--interval", "5s", "--timeout", "10s"}, "timeout: must be at most interval"},
		{"sample limit", []string{"--sample-limit", "-1"}, "sample_limit: must not be negative"},
		{"target without job", []string{"--targets", "10.0.0.1:8081"}, `targets[0]: must be job=host:port, not "10.0.0.1:8081"`},
		{"target without port", []string{"--targets", "a=h:1,b=host"}, `targets[1]: "b=host": address must be host:port`},
		{"target port 0", []string{"--targets", "a=h:0"}, `targets[0]: "a=h:0": port must be a number from 1 to 65535`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := defaults(t, tc.args...)
			err := c.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
	c := defaults(t, "--targets", "invoicing=a:1,credit=b:2,invoicing=c:3")
	got, err := c.StaticTargets()
	require.NoError(t, err)
	require.Equal(t, map[string][]string{"invoicing": {"a:1", "c:3"}, "credit": {"b:2"}}, got)
}

// target is a real /metrics endpoint on loopback.
func target(t *testing.T, value float64) *httptest.Server {
	t.Helper()
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "estate_test_gauge", Help: "A gauge."})
	g.Set(value)
	reg.MustRegister(g)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	return srv
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// values asks the store expr at now and renders each sample as
// "job,instance=value".
func values(t *testing.T, q promquery.Querier, expr string) map[string]string {
	t.Helper()
	v, err := q.Query(context.Background(), expr, time.Now())
	require.NoError(t, err)
	out := map[string]string{}
	vec, ok := v.(model.Vector)
	require.True(t, ok, "%s is a vector: %T", expr, v)
	for _, s := range vec {
		out[string(s.Metric["job"])+","+string(s.Metric["instance"])] = s.Value.String()
	}
	return out
}

// eventually waits until check passes, for up to 20 s.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, testenv.WaitFor(ctx, 20*time.Millisecond, check), what)
}

func expect(t *testing.T, q promquery.Querier, expr string, want map[string]string) func() error {
	return func() error {
		if got := values(t, q, expr); fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("%s = %v, want %v", expr, got, want)
		}
		return nil
	}
}

// TestRestartedTargetIsSeen: a target restarted between two scrapes whose
// counter is back at its last value by the next scrape is still seen to
// have restarted, by the zero sample stored at the counter's start time;
// counting increases over the samples finds every event.
func TestRestartedTargetIsSeen(t *testing.T) {
	// The collector's store keeps start times as zero samples so.
	db := teststorage.New(t, func(o *tsdb.Options) { o.EnableSTAsZeroSample = true })
	q := promquery.NewEngine(promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery), db)
	var current atomic.Pointer[prometheus.Registry]
	process := func() {
		reg := prometheus.NewRegistry()
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: "estate_test_requests_total", Help: "Requests."})
		c.Add(30)
		reg.MustRegister(c)
		current.Store(reg)
	}
	process()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		promhttp.HandlerFor(current.Load(), promhttp.HandlerOpts{}).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	s, err := scrape.New(scrape.Options{
		Config:     defaults(t, "--interval", "100ms", "--timeout", "100ms"),
		Appendable: db,
	})
	require.NoError(t, err)
	require.NoError(t, s.SetTargets("svc", strings.TrimPrefix(srv.URL, "http://")))
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, s.Shutdown(context.Background())) })

	const expr = `sum(resets(estate_test_requests_total[1h]))`
	eventually(t, "the first process is scraped", expect(t, q, `sum(estate_test_requests_total)`, map[string]string{",": "30"}))
	require.Equal(t, map[string]string{",": "0"}, values(t, q, expr))
	time.Sleep(10 * time.Millisecond) // the second process starts a moment later
	process()
	eventually(t, "the restart is seen although the counter is back at 30", expect(t, q, expr, map[string]string{",": "1"}))
}

func TestScrapeIntoTSDB(t *testing.T) {
	db := teststorage.New(t)
	q := promquery.NewEngine(promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery), db)
	svc := target(t, 42)
	gone := target(t, 7)
	svcAddr, goneAddr := strings.TrimPrefix(svc.URL, "http://"), strings.TrimPrefix(gone.URL, "http://")
	down := closedAddr(t)

	reg := prometheus.NewRegistry()
	s, err := scrape.New(scrape.Options{
		Config:     defaults(t, "--interval", "100ms", "--timeout", "100ms", "--targets", "static="+down),
		Appendable: db, Registerer: reg,
	})
	require.NoError(t, err)
	require.NoError(t, s.SetTargets("svc", svcAddr), "targets may be set before Start")
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, s.Shutdown(context.Background())) })
	require.NoError(t, s.SetTargets("gone", goneAddr), "and after")
	require.Equal(t, []string{"gone", "static", "svc"}, s.Jobs())

	eventually(t, "every target is scraped, up or down", expect(t, q, "up", map[string]string{
		"svc," + svcAddr: "1", "gone," + goneAddr: "1", "static," + down: "0",
	}))
	eventually(t, "samples carry job and instance", expect(t, q, "estate_test_gauge", map[string]string{
		"svc," + svcAddr: "42", "gone," + goneAddr: "7",
	}))
	require.Len(t, values(t, q, `scrape_samples_scraped{job="svc"}`), 1, "the scrape's own series are kept")

	// A target that stops answering is up 0 and its series go stale at
	// once; one that is removed has its series marked stale, up included.
	svc.Close()
	require.NoError(t, s.SetTargets("gone"))
	eventually(t, "a target down is up 0, a target gone is nothing", expect(t, q, "up", map[string]string{
		"svc," + svcAddr: "0", "static," + down: "0",
	}))
	eventually(t, "their series are stale", expect(t, q, "estate_test_gauge", map[string]string{}))
	// The samples before are still there.
	v, err := q.Query(context.Background(), `count_over_time(estate_test_gauge[1m])`, time.Now())
	require.NoError(t, err)
	vec, ok := v.(model.Vector)
	require.True(t, ok)
	jobs := []string{}
	for _, s := range vec {
		jobs = append(jobs, string(s.Metric["job"]))
	}
	sort.Strings(jobs)
	require.Equal(t, []string{"gone", "svc"}, jobs)

	require.ErrorContains(t, s.SetTargets("x", "nohost"), "address must be host:port")
	require.ErrorContains(t, s.SetTargets("", "a:1"), "job must not be empty")
}

func TestNewRequiresAStore(t *testing.T) {
	_, err := scrape.New(scrape.Options{Config: defaults(t)})
	require.ErrorContains(t, err, "Appendable is required")
	_, err = scrape.New(scrape.Options{Config: defaults(t, "--interval", "0s"), Appendable: teststorage.New(t)})
	require.ErrorContains(t, err, "interval")
	require.NoError(t, func() error {
		s, err := scrape.New(scrape.Options{Config: defaults(t), Appendable: teststorage.New(t)})
		if err != nil {
			return err
		}
		return s.Shutdown(context.Background()) // never started: nothing to stop
	}())
}
