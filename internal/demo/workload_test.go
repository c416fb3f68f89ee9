package demo

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/auth"
)

type signer struct{}

func (signer) Sign(r auth.TokenRequest) (string, error) { return "token-of-" + r.Subject, nil }

// TestWorkloadIsOpenLoopAndBounded: requests arrive at the rate whatever
// the answers' latency, never more than Concurrency in flight; those due
// beyond are skipped, and the run ends with its context.
func TestWorkloadIsOpenLoopAndBounded(t *testing.T) {
	var inFlight, most, served atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		served.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	cfg := Config{Enabled: true, Rate: 500, Concurrency: 3, Businesses: 2, Weeks: 1, ChaosEvery: time.Minute}
	d, err := New(Options{Config: cfg, InvoicingURL: srv.URL, CreditURL: srv.URL, CollectorURL: srv.URL, ChaosURL: srv.URL, Issuer: signer{}})
	require.NoError(t, err)
	d.w.biz = []Business{{ID: "bus_a", Owner: "a", Finance: "fa"}, {ID: "bus_b", Owner: "b", Finance: "fb"}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.w.run(ctx); close(done) }()

	require.Eventually(t, func() bool { return d.w.skipped.Load() > 10 }, 10*time.Second, 10*time.Millisecond,
		"requests due while 3 are held are skipped")
	require.Equal(t, int64(3), most.Load(), "at most Concurrency in flight")
	close(release)
	require.Eventually(t, func() bool { return served.Load() > 10 }, 10*time.Second, 10*time.Millisecond, "traffic goes on once answers come")
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the workload did not stop with its context")
	}
	require.LessOrEqual(t, most.Load(), int64(3))
	require.Positive(t, d.Sent()["2xx"])
}
