package remotewrite_test

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/golang/snappy"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/collector/remotewrite"
	"github.com/estatehq/estate/internal/delivery"
	"github.com/estatehq/estate/internal/promquery/promquerytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func defaults(t *testing.T, u string) remotewrite.Config {
	t.Helper()
	var cfg remotewrite.Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(fs, "")
	require.NoError(t, fs.Parse([]string{"--prometheus-remote-write-url", u, "--prometheus-remote-write-instance", "collector-0"}))
	return cfg
}

// testRegistry is the kind of registry the collector pushes: a counter
// with labels and a histogram.
func testRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "estate_test_requests_total", Help: "Requests."}, []string{"service", "code"})
	c.WithLabelValues("invoicing", "2xx").Add(42)
	c.WithLabelValues("credit", "5xx").Add(3)
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "estate_test_latency_seconds", Help: "Latency.", Buckets: []float64{0.1, 0.5, 1}})
	for _, v := range []float64{0.05, 0.2, 0.3, 0.7, 2} {
		h.Observe(v)
	}
	reg.MustRegister(c, h)
	return reg
}

// receiver records decoded write requests and answers with the scripted
// statuses, then 204.
type receiver struct {
	mu       sync.Mutex
	statuses []int
	reqs     []*prompb.WriteRequest
	headers  []http.Header
	calls    int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	r.headers = append(r.headers, req.Header.Clone())
	if len(r.statuses) > 0 {
		s := r.statuses[0]
		r.statuses = r.statuses[1:]
		if s == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "2")
		}
		http.Error(w, "scripted", s)
		return
	}
	body, _ := io.ReadAll(req.Body)
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var wr prompb.WriteRequest
	if err := wr.Unmarshal(raw); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.reqs = append(r.reqs, &wr)
	w.WriteHeader(http.StatusNoContent)
}

func seriesString(ts prompb.TimeSeries) string {
	var parts []string
	for _, l := range ts.Labels {
		parts = append(parts, l.Name+"="+l.Value)
	}
	return strings.Join(parts, ",")
}

func TestPushEncodesTheRegistry(t *testing.T) {
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	exp, err := remotewrite.New(defaults(t, srv.URL), remotewrite.Options{Gatherer: testRegistry(), Now: func() time.Time { return testNow }})
	require.NoError(t, err)
	require.NoError(t, exp.Push(t.Context()))

	require.Len(t, rcv.reqs, 1)
	h := rcv.headers[0]
	require.Equal(t, "snappy", h.Get("Content-Encoding"))
	require.Equal(t, "application/x-protobuf", h.Get("Content-Type"))
	require.Equal(t, "0.1.0", h.Get("X-Prometheus-Remote-Write-Version"))

	got := map[string]float64{}
	for _, ts := range rcv.reqs[0].Timeseries {
		require.True(t, sort.SliceIsSorted(ts.Labels, func(i, j int) bool { return ts.Labels[i].Name < ts.Labels[j].Name }))
		require.Len(t, ts.Samples, 1)
		require.Equal(t, testNow.UnixMilli(), ts.Samples[0].Timestamp)
		got[seriesString(ts)] = ts.Samples[0].Value
	}
	const lbl = "instance=collector-0,job=estate"
	want := map[string]float64{
		"__name__=estate_test_requests_total,code=2xx," + lbl + ",service=invoicing": 42,
		"__name__=estate_test_requests_total,code=5xx," + lbl + ",service=credit":    3,
		"__name__=estate_test_latency_seconds_bucket," + lbl + ",le=0.1":             1,
		"__name__=estate_test_latency_seconds_bucket," + lbl + ",le=0.5":             3,
		"__name__=estate_test_latency_seconds_bucket," + lbl + ",le=1":               4,
		"__name__=estate_test_latency_seconds_bucket," + lbl + ",le=+Inf":            5,
		"__name__=estate_test_latency_seconds_sum," + lbl:                            3.25,
		"__name__=estate_test_latency_seconds_count," + lbl:                          5,
	}
	require.Empty(t, cmp.Diff(want, got))
	require.Len(t, rcv.reqs[0].Metadata, 2)
}

func TestPushRetries(t *testing.T) {
	tests := []struct {
		name      string
		statuses  []int
		wantCalls int
		wantSleep []time.Duration
		wantErr   string
	}{
		{"5xx then success", []int{500, 503}, 3, []time.Duration{500 * time.Millisecond, time.Second}, ""},
		{"429 honors Retry-After", []int{429}, 2, []time.Duration{2 * time.Second}, ""},
		{"400 is permanent", []int{400}, 1, nil, "permanent"},
		{"gives up after max attempts", []int{500, 500, 500}, 3, []time.Duration{500 * time.Millisecond, time.Second}, "transient"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rcv := &receiver{statuses: tc.statuses}
			srv := httptest.NewServer(rcv)
			defer srv.Close()
			var sleeps []time.Duration
			exp, err := remotewrite.New(defaults(t, srv.URL), remotewrite.Options{
				Gatherer: testRegistry(),
				Sleep:    func(_ context.Context, d time.Duration) error { sleeps = append(sleeps, d); return nil },
			})
			require.NoError(t, err)
			err = exp.Push(t.Context())
			require.Equal(t, tc.wantCalls, rcv.calls)
			require.Equal(t, tc.wantSleep, sleeps)
			var perm *delivery.PermanentError
			switch tc.wantErr {
			case "":
				require.NoError(t, err)
				require.Len(t, rcv.reqs, 1)
			case "permanent":
				require.ErrorAs(t, err, &perm)
			default:
				require.Error(t, err)
				require.NotErrorAs(t, err, &perm)
			}
		})
	}
}

// roundTripFunc is an in-memory transport, for tests in a synctest bubble.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestLoopPushesEveryIntervalAndOnShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var pushedAt []time.Time
		client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			_, _ = io.Copy(io.Discard, r.Body)
			mu.Lock()
			pushedAt = append(pushedAt, time.Now())
			mu.Unlock()
			return &http.Response{StatusCode: http.StatusNoContent, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
		})}
		cfg := defaults(t, "http://receiver.invalid/api/v1/write")
		exp, err := remotewrite.New(cfg, remotewrite.Options{Gatherer: testRegistry(), Client: client})
		require.NoError(t, err)
		start := time.Now()
		require.NoError(t, exp.Start(t.Context()))
		time.Sleep(3*cfg.Interval + time.Second)
		synctest.Wait()
		require.NoError(t, exp.Shutdown(t.Context()))
		mu.Lock()
		defer mu.Unlock()
		var offsets []time.Duration
		for _, at := range pushedAt {
			offsets = append(offsets, at.Sub(start))
		}
		require.Equal(t, []time.Duration{15 * time.Second, 30 * time.Second, 45 * time.Second, 46 * time.Second}, offsets)
	})
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*remotewrite.Config)
		want   string
	}{
		{"off is valid", func(c *remotewrite.Config) { c.URL = "" }, ""},
		{"defaults", func(*remotewrite.Config) {}, ""},
		{"bad url", func(c *remotewrite.Config) { c.URL = "prometheus:9090" }, "prometheus_remote_write.url"},
		{"interval", func(c *remotewrite.Config) { c.Interval = 0 }, "prometheus_remote_write.interval"},
		{"attempts", func(c *remotewrite.Config) { c.MaxAttempts = 0 }, "prometheus_remote_write.max_attempts"},
		{"password alone", func(c *remotewrite.Config) { c.Password = "x" }, "prometheus_remote_write.username"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaults(t, "http://127.0.0.1:9090/api/v1/write")
			tc.mutate(&cfg)
			err := cfg.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// startPrometheus runs the real Prometheus as a child with the remote-write
// receiver on a free loopback port, and returns its base URL.
func startPrometheus(t *testing.T) string {
	t.Helper()
	cfg, err := os.ReadFile(filepath.Join("testdata", "prometheus.yml"))
	require.NoError(t, err)
	return promquerytest.StartPrometheus(t, promquerytest.PrometheusOptions{Config: string(cfg), Args: []string{"--web.enable-remote-write-receiver"}})
}

func query(t *testing.T, base, q string) map[string]string {
	t.Helper()
	res, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	require.NoError(t, err)
	defer res.Body.Close()
	var body struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
	require.Equal(t, "success", body.Status)
	out := map[string]string{}
	for _, r := range body.Data.Result {
		var keys []string
		for k, v := range r.Metric {
			if k != "__name__" && k != "job" && k != "instance" {
				keys = append(keys, k+"="+v)
			}
		}
		sort.Strings(keys)
		v, ok := r.Value[1].(string)
		require.True(t, ok, "a sample value is a string: %v", r.Value)
		out[strings.Join(keys, ",")] = v
	}
	return out
}

func TestRealPrometheus(t *testing.T) {
	base := startPrometheus(t)
	exp, err := remotewrite.New(defaults(t, base+"/api/v1/write"), remotewrite.Options{Gatherer: testRegistry()})
	require.NoError(t, err)
	require.NoError(t, exp.Start(t.Context()))
	require.NoError(t, exp.Push(t.Context()))
	require.NoError(t, exp.Shutdown(t.Context())) // a final push, later samples

	require.Equal(t, map[string]string{"code=2xx,service=invoicing": "42", "code=5xx,service=credit": "3"},
		query(t, base, `estate_test_requests_total{job="estate",instance="collector-0"}`))
	require.Equal(t, map[string]string{"le=+Inf": "5", "le=0.1": "1", "le=0.5": "3", "le=1": "4"},
		query(t, base, `estate_test_latency_seconds_bucket`))
	require.Equal(t, map[string]string{"": "5"}, query(t, base, `estate_test_latency_seconds_count`))
	require.Equal(t, map[string]string{"": "3.25"}, query(t, base, `estate_test_latency_seconds_sum`))
	// Rank 2.5 of 5 falls in (0.1, 0.5], interpolated: 0.1 + 0.4*(2.5-1)/(3-1).
	require.Equal(t, map[string]string{"": "0.4"}, query(t, base, `histogram_quantile(0.5, estate_test_latency_seconds_bucket)`))
}
