package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/internal/problem/problemtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is a bytes.Buffer safe for the server's goroutines and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	var dbErr error
	var logs syncBuffer
	s := New(Options{
		Name:   "test",
		Addr:   "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("app"))
		}),
		Ready: []ReadyCheck{{Name: "db", Check: func(context.Context) error { return dbErr }}},
	})
	require.NoError(t, s.Start(context.Background()))
	defer func() { require.NoError(t, s.Shutdown(context.Background())) }()

	code, body := get(t, s.URL()+"/healthz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok\n", body)

	code, body = get(t, s.URL()+"/readyz")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `"ready":true`)

	dbErr = errors.New("dial tcp 10.0.0.7:5432: connection refused")
	code, body = get(t, s.URL()+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, `{"name":"db","ok":false,"error":"not ready; the target's log has the cause"}`, "which check failed")
	require.NotContains(t, body, "10.0.0.7", "not the internal error")
	require.Contains(t, logs.String(), "10.0.0.7:5432: connection refused", "the cause is logged")

	code, body = get(t, s.URL()+"/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "go_goroutines")
	require.Contains(t, body, "process_resident_memory_bytes")

	code, body = get(t, s.URL()+"/v1/anything")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "app", body)
}

func TestPortInUseFailsAtStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	s := New(Options{Name: "test", Addr: ln.Addr().String()})
	err = s.Start(context.Background())
	require.ErrorContains(t, err, "listening on")
}

func TestShutdownDrainsInFlight(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	s := New(Options{Name: "test", Addr: "127.0.0.1:0", Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		_, _ = w.Write([]byte("finished"))
	})})
	require.NoError(t, s.Start(context.Background()))

	result := make(chan string, 1)
	go func() {
		resp, err := http.Get(s.URL() + "/slow")
		if err != nil {
			result <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		result <- string(b)
	}()
	<-entered
	stopped := make(chan error, 1)
	go func() { stopped <- s.Shutdown(context.Background()) }()
	// The in-flight request holds Shutdown until it completes.
	select {
	case err := <-stopped:
		t.Fatalf("shutdown returned before the in-flight request finished: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	require.Equal(t, "finished", <-result)
	require.NoError(t, <-stopped)
	require.NoError(t, <-s.Done())
}

func TestLoopbackAddr(t *testing.T) {
	for in, want := range map[string]string{
		":8081":          "127.0.0.1:8081",
		"0.0.0.0:8081":   "127.0.0.1:8081",
		"[::]:8081":      "127.0.0.1:8081",
		"10.1.2.3:8081":  "10.1.2.3:8081",
		"localhost:9000": "localhost:9000",
	} {
		require.Equal(t, want, LoopbackAddr(in), in)
	}
	require.True(t, strings.HasPrefix(New(Options{Addr: ":1"}).URL(), "http://127.0.0.1"))
}

// TestStalledUploadIsCut: an upload that declares a body and stalls is cut
// by the read timeout, and its handler sees the read fail, so whatever it
// holds for the request is freed.
func TestStalledUploadIsCut(t *testing.T) {
	readErr := make(chan error, 1)
	s := New(Options{Name: "test", Addr: "127.0.0.1:0", ReadTimeout: 200 * time.Millisecond,
		Handler: http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			_, err := io.ReadAll(r.Body)
			readErr <- err
		})})
	require.NoError(t, s.Start(context.Background()))
	defer func() { require.NoError(t, s.Shutdown(context.Background())) }()

	c, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("POST /upload HTTP/1.1\r\nHost: estate.test\r\nContent-Length: 16777216\r\n\r\npartial"))
	require.NoError(t, err)
	select {
	case err := <-readErr:
		require.Error(t, err, "the stalled body's read fails")
	case <-time.After(30 * time.Second):
		t.Fatal("the stalled upload was never cut")
	}
}

func TestUnroutedAnswersProblems(t *testing.T) {
	s := New(Options{Name: "test", Addr: "127.0.0.1:0"})
	problemtest.RequireUnrouted(t, s.routes(),
		problemtest.Unrouted{Method: http.MethodGet, Path: "/nowhere"},
		problemtest.Unrouted{Method: http.MethodPost, Path: "/healthz", Allow: "GET, HEAD"},
		problemtest.Unrouted{Method: http.MethodPut, Path: "/readyz", Allow: "GET, HEAD"},
		problemtest.Unrouted{Method: http.MethodDelete, Path: "/metrics", Allow: "GET, HEAD"},
	)
}
