package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/jaegertest"
	"github.com/estatehq/estate/internal/testenv"
)

var build struct {
	once sync.Once
	dir  string
	path string
	err  error
	out  []byte
}

// collectorToken is the bearer token every request of these tests
// carries, unless it sets its own: the collector lists it as a static
// token with the admin role (collectorTokens), as an operator lists an OTel
// SDK's or Alertmanager's.
const collectorToken = "e2e-collector-token-5b0f00a08f86d0"

// bearer adds collectorToken to the requests that carry no Authorization.
type bearer struct{ base http.RoundTripper }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+collectorToken)
	}
	return b.base.RoundTrip(r)
}

// collectorTokens writes the collector's static tokens file into dir.
func collectorTokens(t *testing.T, dir string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(collectorToken))
	path := filepath.Join(dir, "tokens.yaml")
	require.NoError(t, os.WriteFile(path, []byte("tokens:\n  - name: e2e\n    sha256: "+hex.EncodeToString(sum[:])+"\n    roles: [admin]\n"), 0o600))
	return path
}

func TestMain(m *testing.M) {
	http.DefaultTransport = bearer{base: http.DefaultTransport}
	code := m.Run()
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// estateBinary builds ./cmd/estate once per test run: every test runs the
// real binary as a child process, so it can be SIGKILLed.
func estateBinary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "estate-e2e-")
		if build.err != nil {
			return
		}
		build.path = filepath.Join(build.dir, "estate")
		cmd := exec.Command("go", "build", "-o", build.path, "./cmd/estate")
		cmd.Dir = ".."
		build.out, build.err = cmd.CombinedOutput()
	})
	require.NoError(t, build.err, "go build ./cmd/estate:\n%s", build.out)
	return build.path
}

// collectorProc is a collector (`estate collector`, or the OpenTelemetry
// Collector for comparison) as a child process on fixed loopback ports and a
// fixed data dir, so that it can be killed and restarted as the same
// collector.
type collectorProc struct {
	// name names the process in messages: "collector" when empty (the
	// same harness runs the services for their crash test).
	name    string
	bin     string
	dataDir string
	args    []string
	env     []string
	// ready reports whether a started collector serves.
	ready func() error
	// API is the base URL of the events and query API (with /metrics),
	// OTLPHTTP the base URL of the OTLP/HTTP receiver, OTLPGRPC the
	// host:port of the OTLP/gRPC receiver.
	API, OTLPHTTP, OTLPGRPC string
	logPath                 string

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	starts  int
	peakRSS int64 // VmHWM in kB, the highest over every incarnation
}

// newCollector prepares a collector with extra flags; start runs it.
func newCollector(t *testing.T, extra ...string) *collectorProc {
	t.Helper()
	ports := jaegertest.FreePorts(t, 3)
	dir := t.TempDir()
	c := &collectorProc{
		bin:      estateBinary(t),
		dataDir:  filepath.Join(dir, "data"),
		API:      fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		OTLPHTTP: fmt.Sprintf("http://127.0.0.1:%d", ports[2]),
		OTLPGRPC: fmt.Sprintf("127.0.0.1:%d", ports[1]),
		logPath:  filepath.Join(dir, "collector.log"),
	}
	c.args = append([]string{"collector",
		"--data-dir", c.dataDir,
		"--collector.listen-addr", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"--collector.otlp.grpc-listen-addr", fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"--collector.otlp.http-listen-addr", fmt.Sprintf("127.0.0.1:%d", ports[2]),
		"--log.format", "json",
		"--log.level", "warn",
		// Its clients carry a static token; the development issuer
		// stands in for the OIDC issuer that a deployment names.
		"--auth.dev=true", "--auth.static-tokens", collectorTokens(t, dir),
	}, extra...)
	c.ready = readyz(c.API)
	c.cleanup(t)
	return c
}

// readyz reports whether the server at api answers 200 on /readyz.
func readyz(api string) func() error {
	return func() error {
		res, err := http.Get(api + "/readyz")
		if err != nil {
			return err
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %s", res.Status)
		}
		return nil
	}
}

func (c *collectorProc) cleanup(t *testing.T) {
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			t.Logf("%s log (tail):\n%s", c.what(), c.logTail(60))
		}
	})
}

// start runs the collector and waits until /readyz answers 200.
func (c *collectorProc) start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	logf, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("opening %s log: %w", c.what(), err)
	}
	defer logf.Close()
	cmd := exec.Command(c.bin, c.args...)
	cmd.Env = append(append(os.Environ(), "ESTATE_CONFIG="), c.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", c.what(), err)
	}
	exited := make(chan struct{})
	c.cmd, c.exited = cmd, exited
	c.starts++
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err = testenv.WaitFor(ctx, 50*time.Millisecond, func() error {
		select {
		case <-exited:
			return fmt.Errorf("%s exited", c.what())
		default:
		}
		return c.ready()
	})
	if err != nil {
		return fmt.Errorf("%s did not come up: %w; log tail:\n%s", c.what(), err, c.logTail(30))
	}
	return nil
}

func (c *collectorProc) what() string {
	if c.name == "" {
		return "collector"
	}
	return c.name
}

// kill SIGKILLs the collector and waits for it to be gone.
func (c *collectorProc) kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return
	}
	c.sampleLocked()
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
	c.cmd = nil
}

// stop ends the collector gracefully (SIGTERM), SIGKILL after 30 s.
func (c *collectorProc) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return
	}
	c.sampleLocked()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	c.cmd = nil
}

// sample records the running collector's peak RSS.
func (c *collectorProc) sample() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sampleLocked()
}

func (c *collectorProc) sampleLocked() {
	if c.cmd == nil {
		return
	}
	if kb, err := vmHWM(c.cmd.Process.Pid); err == nil && kb > c.peakRSS {
		c.peakRSS = kb
	}
}

func (c *collectorProc) peakRSSKB() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peakRSS
}

func (c *collectorProc) logTail(n int) string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logCount counts the collector's log lines that contain s.
func (c *collectorProc) logCount(s string) int {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte(s))
}

// vmHWM reads a process's peak resident set size in kB.
func vmHWM(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// dirBytes is the size of the regular files under dir.
func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil //nolint:nilerr // files come and go while the queue runs
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// metricSum sums the samples of a metric family on a /metrics page whose
// label set contains labelSubstr.
func metricSum(page, name, labelSubstr string) (float64, bool) {
	var sum float64
	found := false
	for _, line := range strings.Split(page, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		if labelSubstr != "" && !strings.Contains(line, labelSubstr) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		sum += v
		found = true
	}
	return sum, found
}

func getBody(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return "", err
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %s", url, res.Status, b)
	}
	return string(b), nil
}
