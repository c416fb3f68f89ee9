package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/internal/auth"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// syncBuffer is a bytes.Buffer safe for the writer goroutine and the reader.
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

func noEnv(string) string { return "" }

func runCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"estate"}, args...), noEnv, strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), err
}

// estate is an `estate up` running in process for a test.
type estate struct {
	dataDir string
	urls    map[string]string
	client  *http.Client
	// stdout and stderr are what up has printed so far.
	stdout, stderr func() string
}

// startUp runs `estate up` on free loopback ports until the test ends.
func startUp(t *testing.T, extra ...string) *estate {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	e := &estate{dataDir: t.TempDir(), urls: map[string]string{}, client: &http.Client{Timeout: 10 * time.Second}, stdout: out.String, stderr: errOut.String}
	args := append([]string{"estate", "up", "--data-dir", e.dataDir, "--log.level=warn"}, loopbackArgs()...)
	args = append(args, extra...)
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, noEnv, strings.NewReader(""), &out, &errOut) }()
	t.Cleanup(func() {
		e.client.CloseIdleConnections()
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err, "stderr: %s", errOut.String())
		case <-time.After(30 * time.Second):
			t.Error("up did not stop within 30 s of cancel")
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for len(e.urls) < len(targets()) {
		select {
		case err := <-done:
			t.Fatalf("up stopped early: %v\nstderr: %s", err, errOut.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "targets did not all print their URL; stdout: %q", out.String())
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 2 {
				e.urls[f[0]] = f[1]
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return e
}

func (e *estate) do(t *testing.T, method, url, token string, header map[string]string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

func (e *estate) token(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := runCmd(t, append([]string{"token", "--data-dir", e.dataDir}, args...)...)
	require.NoError(t, err, errOut)
	return strings.TrimSpace(out)
}

// roleToken is a development token of a user holding roles, as
// `estate token --scope ROLE` mints it: the one way the tests here
// authenticate to the platform's targets.
func (e *estate) roleToken(t *testing.T, roles ...string) string {
	t.Helper()
	args := []string{"--sub", "tester"}
	for _, r := range roles {
		args = append(args, "--scope", r)
	}
	return e.token(t, args...)
}

// reader is a token holding observability.read, for the collector's
// query APIs.
func (e *estate) reader(t *testing.T) string {
	t.Helper()
	return e.roleToken(t, auth.RoleObservabilityRead)
}

// as is an HTTP client whose calls carry a token of a user holding roles.
func (e *estate) as(t *testing.T, roles ...string) *http.Client {
	t.Helper()
	return tokenClient(e.roleToken(t, roles...), 30*time.Second)
}

func targetNames() []string {
	var out []string
	for _, t := range targets() {
		out = append(out, t.name)
	}
	return out
}

// loopbackArgs points every listen address at a free loopback port, so the
// test never collides with an estate already running here.
func loopbackArgs() []string {
	cfg := &Config{}
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	cfg.RegisterFlags(fs, targetNames())
	var args []string
	fs.VisitAll(func(f *flag.Flag) {
		if strings.HasSuffix(f.Name, "listen-addr") {
			args = append(args, "--"+f.Name+"=127.0.0.1:0")
		}
	})
	return args
}
