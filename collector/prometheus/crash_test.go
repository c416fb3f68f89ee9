package prometheus_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/collector/prometheus"
)

// crashChildEnv makes the test binary append to a store in the folder it
// names instead of running the tests: the crash test's child.
const crashChildEnv = "ESTATE_TSDB_CRASH_CHILD"

// crashCommits and crashSamples are what the child appends: commits of
// samples each, one series per commit, ten seconds apart.
const crashCommits, crashSamples = 20, 50

var crashStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// runCrashChild appends commit after commit, says so after each, and then
// waits to be killed.
func runCrashChild(dir string) int {
	var cfg prometheus.Config
	fs := flag.NewFlagSet("child", flag.ContinueOnError)
	cfg.RegisterFlags(fs, "")
	_ = fs.Parse(nil)
	s, err := prometheus.Open(prometheus.Options{Config: cfg, Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	for c := range crashCommits {
		app := s.Appendable().Appender(context.Background())
		ls := labels.FromStrings("__name__", "crash_test_total", "commit", strconv.Itoa(c))
		for i := range crashSamples {
			if _, err := app.Append(0, ls, crashStart.Add(time.Duration(i)*10*time.Second).UnixMilli(), float64(i)); err != nil {
				fmt.Fprintln(os.Stderr, "child:", err)
				return 1
			}
		}
		if err := app.Commit(); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 1
		}
		fmt.Printf("COMMITTED %d\n", c)
	}
	select {} // until SIGKILL
}

// TestCrashKeepsCommittedSamples kills a process that appended to the
// store (SIGKILL: no shutdown, no WAL segment closed) right after its last
// commit: the store opened again has every committed sample, as a commit
// is in the WAL, written to the kernel, when Commit returns.
func TestCrashKeepsCommittedSamples(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := bufio.NewScanner(out)
	committed := 0
	for committed < crashCommits && lines.Scan() {
		committed++
		require.Equal(t, fmt.Sprintf("COMMITTED %d", committed-1), lines.Text())
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	require.Error(t, cmd.Wait(), "killed")
	require.Equal(t, crashCommits, committed)

	s := open(t, dir, defaults(t), nil)
	at := crashStart.Add(crashSamples * 10 * time.Second)
	require.Equal(t, float64(crashCommits), value(t, s.Querier(), `count(count_over_time(crash_test_total[1h]))`, at))
	require.Equal(t, float64(crashCommits*crashSamples), value(t, s.Querier(), `sum(count_over_time(crash_test_total[1h]))`, at))
}
