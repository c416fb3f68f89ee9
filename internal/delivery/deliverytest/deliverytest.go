// Package deliverytest helps test components built on internal/delivery:
// an injected sleep that returns at once and records the waits it was asked
// for, and a loopback gRPC server for a scripted receiver.
package deliverytest

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
)

// Sleeps records waits. Its Sleep is an injected sleep (a component's
// Options.Sleep) that returns at once, with ctx's error. Safe for
// concurrent use.
type Sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

// Sleep records d and returns ctx's error.
func (s *Sleeps) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

// All returns the waits asked for so far, in order.
func (s *Sleeps) All() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// ServeGRPC serves gs on a free loopback port until the test ends, and
// returns its address, host:port: the scripted receiver of an exporter's
// test.
func ServeGRPC(t testing.TB, gs *grpc.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening for a gRPC server: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = gs.Serve(ln)
	}()
	t.Cleanup(func() {
		gs.Stop()
		<-done
	})
	return ln.Addr().String()
}
