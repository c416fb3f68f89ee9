package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func route(t *testing.T, sp Spec) Route {
	t.Helper()
	r, err := sp.Route(RouteOptions{Run: "t", IdempotencyKeys: true})
	require.NoError(t, err)
	return r
}

// TestRunMixAndKeys: the routes share the requests by weight, every POST
// carries a key of its own across two runs, the body template gets it, and
// the rate asked is the rate sent.
func TestRunMixAndKeys(t *testing.T) {
	var mu sync.Mutex
	keys := map[string]bool{}
	hits := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		hits[r.Method+" "+r.URL.Path]++
		if r.Method == http.MethodPost {
			k := r.Header.Get("Idempotency-Key")
			if keys[k] || !strings.Contains(string(b), k) || r.Header.Get("Authorization") != "Bearer tok" {
				w.WriteHeader(http.StatusConflict)
				return
			}
			keys[k] = true
		} else if r.Header.Get("Idempotency-Key") != "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	g, err := New(Options{Rate: 400, Routes: []Route{
		route(t, Spec{Method: "get", URL: srv.URL + "/a", Weight: 3}),
		route(t, Spec{Method: "POST", URL: srv.URL + "/b", Headers: map[string]string{"Authorization": "Bearer tok"}, Body: `{"key":"{{.Key}}","n":{{.Seq}}}`}),
	}})
	require.NoError(t, err)
	for range 2 {
		res, err := g.Run(context.Background(), 500*time.Millisecond)
		require.NoError(t, err)
		require.Equal(t, int64(200), res.Sent)
		require.Equal(t, int64(0), res.Errors, res.ErrorText())
		require.Equal(t, int64(150), res.Routes[0].Sent)
		require.Equal(t, int64(50), res.Routes[1].Sent)
		require.InDelta(t, 400, res.Achieved(), 40)
		require.Positive(t, res.Percentile(50))
	}
	require.Len(t, keys, 100)
	require.Equal(t, 300, hits["GET /a"])
}

// TestRunErrorsByKind: statuses, timeouts and refused connections are
// counted apart, and a request due when the in-flight bound is reached is
// not sent.
func TestRunErrorsByKind(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/busy":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/slow":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	defer srv.Close()
	defer close(release)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + l.Addr().String()
	require.NoError(t, l.Close())

	t.Run("status and connection", func(t *testing.T) {
		g, err := New(Options{Rate: 100, Routes: []Route{
			route(t, Spec{Method: "GET", URL: srv.URL + "/busy"}),
			route(t, Spec{Method: "GET", URL: closed + "/x"}),
		}})
		require.NoError(t, err)
		res, err := g.Run(context.Background(), 200*time.Millisecond)
		require.NoError(t, err)
		require.Equal(t, int64(20), res.Errors)
		require.Equal(t, []Count{{"503", 10}, {"connection", 10}}, res.ErrorCounts())
		require.Equal(t, "20 (503: 10, connection: 10)", res.ErrorText())
	})
	t.Run("timeout and in-flight limit", func(t *testing.T) {
		g, err := New(Options{Rate: 100, MaxInFlight: 5, Client: NewClient(5, 150*time.Millisecond),
			Routes: []Route{route(t, Spec{Method: "GET", URL: srv.URL + "/slow"})}})
		require.NoError(t, err)
		res, err := g.Run(context.Background(), 100*time.Millisecond)
		require.NoError(t, err)
		require.Equal(t, int64(10), res.Sent)
		require.Equal(t, int64(5), res.Failures[FailTimeout])
		require.Equal(t, int64(5), res.Failures[FailInFlight])
		require.GreaterOrEqual(t, res.Percentile(50), 150*time.Millisecond, "a timed-out request counts its wait")
	})
}

// TestRunStopsWithContext: a cancelled run returns what it measured.
func TestRunStopsWithContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	g, err := New(Options{Rate: 100, Routes: []Route{route(t, Spec{Method: "GET", URL: srv.URL})}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := g.Run(ctx, time.Minute)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 5*time.Second)
	require.InDelta(t, 10, res.Sent, 3)
}

func TestOptionsValidate(t *testing.T) {
	_, err := New(Options{Rate: 0, MaxInFlight: -1})
	require.ErrorContains(t, err, "routes: give at least one route")
	require.ErrorContains(t, err, "rate: must be positive, not 0")
	require.ErrorContains(t, err, "max-in-flight: must not be negative")
}

func TestSpecRoute(t *testing.T) {
	for name, tc := range map[string]struct {
		spec   Spec
		remote bool
		err    string
	}{
		"loopback v4":        {spec: Spec{Method: "GET", URL: "http://127.0.0.1:8081/v1"}},
		"loopback v6":        {spec: Spec{Method: "GET", URL: "http://[::1]:8081/v1"}},
		"localhost":          {spec: Spec{Method: "GET", URL: "http://localhost:8081/v1"}},
		"private refused":    {spec: Spec{Method: "GET", URL: "http://10.0.0.1/"}, err: "url: 10.0.0.1 is not a loopback address"},
		"public refused":     {spec: Spec{Method: "GET", URL: "https://203.0.113.9/"}, err: "--allow-remote"},
		"remote allowed":     {spec: Spec{Method: "GET", URL: "https://203.0.113.9/"}, remote: true},
		"no scheme":          {spec: Spec{Method: "GET", URL: "127.0.0.1:8081"}, err: "url: must be an http or https URL"},
		"bad method":         {spec: Spec{Method: "GE T", URL: "http://127.0.0.1/"}, err: "method:"},
		"bad template":       {spec: Spec{Method: "POST", URL: "http://127.0.0.1/", Body: "{{.Seq"}, err: "body:"},
		"unknown field":      {spec: Spec{Method: "POST", URL: "http://127.0.0.1/", Body: "{{.Nope}}"}, err: "body:"},
		"negative weight":    {spec: Spec{Method: "GET", URL: "http://127.0.0.1/", Weight: -1}, err: "weight:"},
		"unresolvable names": {spec: Spec{Method: "GET", URL: "http://no-such-host.invalid/"}, err: "cannot tell whether"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tc.spec.Route(RouteOptions{AllowRemote: tc.remote})
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
		})
	}
}

func TestParseRoute(t *testing.T) {
	sp, err := ParseRoute("POST http://127.0.0.1:1/x 3")
	require.NoError(t, err)
	require.Equal(t, Spec{Method: "POST", URL: "http://127.0.0.1:1/x", Weight: 3}, sp)
	_, err = ParseRoute("GET")
	require.ErrorContains(t, err, "want METHOD URL [WEIGHT]")
	_, err = ParseRoute("GET http://127.0.0.1/ x")
	require.ErrorContains(t, err, "weight must be a positive integer")
}

func TestReadRoutes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mix.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`
headers: {Authorization: Bearer x}
routes:
  - {method: GET, url: "http://127.0.0.1:1/a", weight: 3}
  - method: POST
    url: http://127.0.0.1:1/b
    headers: {Authorization: Bearer y}
    body: '{"n": {{.Seq}}}'
`), 0o600))
	f, err := ReadRoutes(path)
	require.NoError(t, err)
	require.Len(t, f.Routes, 2)
	require.Equal(t, "Bearer x", f.Routes[0].Headers["Authorization"])
	require.Equal(t, "Bearer y", f.Routes[1].Headers["Authorization"])

	require.NoError(t, os.WriteFile(path, []byte("routes:\n  - {method: GET, url: x, wieght: 3}\n"), 0o600))
	_, err = ReadRoutes(path)
	require.ErrorContains(t, err, "wieght")
	require.NoError(t, os.WriteFile(path, []byte("routes: []\n"), 0o600))
	_, err = ReadRoutes(path)
	require.ErrorContains(t, err, "at least one route")
}

func TestSlope(t *testing.T) {
	var s []MemorySample
	for i := range 11 {
		// 1,000 kB plus 10 kB a minute, sampled every 6 s.
		s = append(s, MemorySample{At: time.Duration(i) * 6 * time.Second, Memory: Memory{Anon: 1000 + int64(i)}})
	}
	kb, pct, ok := Slope(s, RssAnon)
	require.True(t, ok)
	require.InDelta(t, 10, kb, 1e-9)
	require.InDelta(t, 10.0/1005*100, pct, 1e-9)
	_, _, ok = Slope(s[:1], RssAnon)
	require.False(t, ok)
	require.Len(t, After(s, 30*time.Second), 6)
	require.Equal(t, "▁▂▃▃▄▅▆▆▇█", Sparkline(s[1:], RssAnon, 10))
	require.Equal(t, []rune("▁▃▅▆█"), []rune(Sparkline(s[1:], RssAnon, 5)))
}

// TestMemoryOfARun: the memory of a process is sampled over the run, and
// printed with its slope.
func TestMemoryOfARun(t *testing.T) {
	m, err := ReadMemory(os.Getpid())
	require.NoError(t, err)
	require.Positive(t, m.Anon)
	require.Positive(t, m.RSS)
	_, err = ReadMemory(-1)
	require.Error(t, err)

	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	g, err := New(Options{Rate: 50, PID: os.Getpid(), SampleEvery: 50 * time.Millisecond,
		Routes: []Route{route(t, Spec{Method: "GET", URL: srv.URL})}})
	require.NoError(t, err)
	res, err := g.Run(context.Background(), 300*time.Millisecond)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(res.Memory), 4)

	var text bytes.Buffer
	require.NoError(t, res.WriteText(&text))
	require.Contains(t, text.String(), "sent 15, errors 0")
	require.Contains(t, text.String(), "memory of the target (MiB)")
	require.Regexp(t, `RssAnon [▁▂▃▄▅▆▇█]+  slope [+-]\d`, text.String())

	var js bytes.Buffer
	require.NoError(t, res.WriteJSON(&js))
	var s Summary
	require.NoError(t, json.Unmarshal(js.Bytes(), &s))
	require.Equal(t, int64(15), s.Sent)
	require.NotNil(t, s.Memory)
	require.Len(t, s.Memory.Samples, len(res.Memory))
}
