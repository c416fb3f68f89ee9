package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StartDaemon runs bin with args as a child process (a Prometheus, an
// Alertmanager) until the test ends, when it is sent SIGTERM, then killed
// if it has not stopped within 20 s. It returns once readyURL answers 200,
// and fails the test, with the child's output, if the child exits or is
// not ready within a minute. output returns what the child has written to
// its stdout and stderr so far, for tests that read its logs.
func StartDaemon(t testing.TB, bin string, args []string, readyURL string) (output func() string) {
	t.Helper()
	out := &syncBuilder{}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	waited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(waited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-waited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-waited
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := WaitFor(ctx, 50*time.Millisecond, func() error {
		select {
		case <-waited:
			return fmt.Errorf("%s exited", bin)
		default:
		}
		res, err := http.Get(readyURL)
		if err != nil {
			return err
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("not ready: %s", res.Status)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v; its output:\n%s", bin, err, out.String())
	}
	return out.String
}

// syncBuilder is a strings.Builder that a child's stdout and stderr write
// to at once.
type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
