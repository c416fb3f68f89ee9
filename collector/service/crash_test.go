package service

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/collector"
	"github.com/estatehq/estate/collector/internal/walqueue"
	"github.com/estatehq/estate/internal/testenv"
)

// childEnv makes the test binary run a collector instead of the tests: the
// crash test's child process.
const childEnv = "ESTATE_COLLECTOR_CRASH_CHILD"

// durabilityEnv sets the child's queue durability.
const durabilityEnv = "ESTATE_COLLECTOR_CRASH_DURABILITY"

// runChild runs a collector on loopback in the folder named by childEnv,
// prints its addresses, and serves until SIGTERM (or SIGKILL).
func runChild() int {
	var cfg Config
	fs := newFlagSet()
	cfg.RegisterFlags(fs)
	_ = fs.Parse(nil)
	cfg.Collector.ListenAddr, cfg.Collector.OTLP.GRPCListenAddr, cfg.Collector.OTLP.HTTPListenAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	if d := os.Getenv(durabilityEnv); d != "" {
		cfg.Collector.Queue.Durability = walqueue.Durability(d)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := New(ctx, Options{Config: cfg, Dir: os.Getenv(childEnv), Logger: logger})
	if err == nil {
		err = s.Start(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	fmt.Printf("READY %s %s\n", s.OTLPHTTPAddr(), s.URL())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

type child struct {
	cmd     *exec.Cmd
	otlpURL string
	apiURL  string
}

func startChild(t *testing.T, dir, durability string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir, durabilityEnv+"="+durability)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "READY ") {
				lines <- sc.Text()
			}
		}
	}()
	select {
	case line := <-lines:
		f := strings.Fields(line)
		return &child{cmd: cmd, otlpURL: "http://" + f[1], apiURL: f[2]}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("the collector did not come up: a crash loop")
		return nil
	}
}

// TestCrashLosesNothingAcknowledged streams log records with unique ids
// into a collector child process, SIGKILLs it at random moments six times,
// restarts it each time, and checks that every record the collector
// acknowledged reaches the embedded store exactly once. A process crash
// loses nothing under any durability (only a power loss tells them apart).
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills child processes")
	}
	for _, d := range []string{"fsync", "none"} {
		t.Run(d, func(t *testing.T) { crashTest(t, d) })
	}
}

func crashTest(t *testing.T, durability string) {
	dir := t.TempDir()
	c := client(t)
	var (
		next    atomic.Int64
		mu      sync.Mutex
		acked   = map[string]bool{}
		failed  int
		maxRecs = int64(9000)
	)
	send := func(ctx context.Context, url string) {
		for ctx.Err() == nil {
			first := next.Add(10) - 10
			if first >= maxRecs {
				return
			}
			ids := make([]string, 10)
			for i := range ids {
				ids[i] = fmt.Sprintf("crash-%08d", first+int64(i))
			}
			b, _ := logsRequest("crash", ids...).MarshalProto()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/logs", strings.NewReader(string(b)))
			req.Header.Set("Content-Type", "application/x-protobuf")
			resp, err := c.Do(req)
			mu.Lock()
			if err == nil && resp.StatusCode == http.StatusOK {
				for _, id := range ids {
					acked[id] = true
				}
			} else {
				failed++
			}
			mu.Unlock()
			if err != nil {
				return
			}
			resp.Body.Close()
			// Paced so that every round, not only the first, is killed
			// with requests in flight.
			time.Sleep(20 * time.Millisecond)
		}
	}

	const kills = 6
	for round := range kills {
		ch := startChild(t, dir, durability)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { send(ctx, ch.otlpURL) })
		}
		time.Sleep(time.Duration(200+rand.IntN(800)) * time.Millisecond)
		require.NoError(t, ch.cmd.Process.Signal(syscall.SIGKILL))
		_ = ch.cmd.Wait()
		cancel()
		wg.Wait()
		c.CloseIdleConnections()
		mu.Lock()
		t.Logf("round %d: killed; %d records acknowledged so far, %d requests failed", round+1, len(acked), failed)
		mu.Unlock()
	}

	ch := startChild(t, dir, durability)
	defer func() {
		_ = ch.cmd.Process.Signal(syscall.SIGTERM)
		require.NoError(t, ch.cmd.Wait(), "clean stop after the last start")
	}()
	require.NotEmpty(t, acked)
	var got struct{ Logs []collector.LogRecord }
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	seen := map[string]int{}
	err := testenv.WaitFor(ctx, 100*time.Millisecond, func() error {
		got.Logs = nil
		getJSON(t, c, ch.apiURL+"/v1/logs?service=crash&limit=10000", &got)
		clear(seen)
		for _, l := range got.Logs {
			seen[l.Body]++
		}
		missing := 0
		for id := range acked {
			if seen[id] == 0 {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d acknowledged records not in the store yet", missing)
		}
		return nil
	})
	require.NoError(t, err)
	for id, n := range seen {
		require.Equal(t, 1, n, "record %s stored %d times", id, n)
	}
	t.Logf("%d acknowledged records all stored once; %d stored in all (the rest were written but their requests died with the process)", len(acked), len(seen))
}
