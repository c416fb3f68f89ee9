// Package jaegertest runs the real Jaeger v2 binary (the one `make test`
// builds into bin/) as a child process for tests: OTLP gRPC in, the query
// API out, every port on loopback and free.
package jaegertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/testenv"
)

// config is a Jaeger v2 (v1.76) configuration: OTLP gRPC and HTTP in. With a badger directory the
// spans are kept on disk and survive a restart; otherwise in memory.
// jaeger_storage_exporter has no queue unless configured, so an OTLP export
// is answered only after its spans are written to storage.
const config = `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_storage:
    backends:
      store:
{{- if .Badger}}
        badger:
          directories:
            keys: {{.Badger}}/keys
            values: {{.Badger}}/values
          ephemeral: false
          ttl:
            spans: 48h
{{- else}}
        memory:
          max_traces: 100000
{{- end}}
  jaeger_query:
    storage:
      traces: store
    http:
      endpoint: 127.0.0.1:{{.Query}}
    grpc:
      endpoint: 127.0.0.1:{{.QueryGRPC}}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{{.OTLP}}
      http:
        endpoint: 127.0.0.1:{{.OTLPHTTP}}
exporters:
  jaeger_storage_exporter:
    trace_storage: store
`

// Options configure a Jaeger.
type Options struct {
	// BadgerDir, when set, stores spans with badger under this folder, so
	// they survive Restart; otherwise spans are kept in memory.
	BadgerDir string
}

// Jaeger is a running Jaeger v2 child process.
type Jaeger struct {
	// OTLP is host:port of the OTLP gRPC receiver.
	OTLP string
	// OTLPHTTP is the base URL of the OTLP/HTTP receiver.
	OTLPHTTP string
	// Query is the base URL of the query API (http://127.0.0.1:port).
	Query string

	bin, config string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    *output
}

// output is a buffer that the process writes to while tests read it.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// FreePorts returns n distinct free loopback TCP ports.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var lns []net.Listener
	ports := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		lns = append(lns, ln)
		addr, ok := ln.Addr().(*net.TCPAddr)
		require.True(t, ok)
		ports = append(ports, addr.Port)
	}
	for _, ln := range lns {
		_ = ln.Close()
	}
	return ports
}

// Start starts Jaeger, waits until it serves, and stops it when the test
// ends. A missing binary fails the test in strict mode and skips it
// otherwise.
func Start(t testing.TB, opts Options) *Jaeger {
	t.Helper()
	bin := testenv.Binary(t, "jaeger", "ESTATE_JAEGER_BIN", "run make test, which builds Jaeger v2 into bin/")
	ports := FreePorts(t, 4)
	tmpl := template.Must(template.New("jaeger").Parse(config))
	var cfg bytes.Buffer
	require.NoError(t, tmpl.Execute(&cfg, map[string]any{
		"OTLP": ports[0], "Query": ports[1], "QueryGRPC": ports[2], "OTLPHTTP": ports[3], "Badger": opts.BadgerDir,
	}))
	path := filepath.Join(t.TempDir(), "jaeger.yaml")
	require.NoError(t, os.WriteFile(path, cfg.Bytes(), 0o600))
	j := &Jaeger{
		bin: bin, config: path,
		OTLP:     fmt.Sprintf("127.0.0.1:%d", ports[0]),
		OTLPHTTP: fmt.Sprintf("http://127.0.0.1:%d", ports[3]),
		Query:    fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
	}
	require.NoError(t, j.start(t.Context()))
	t.Cleanup(func() { j.Stop() })
	return j
}

func (j *Jaeger) start(ctx context.Context) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.log = &output{}
	cmd := exec.Command(j.bin, "--config", j.config)
	cmd.Stdout, cmd.Stderr = j.log, j.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting jaeger: %w", err)
	}
	exited := make(chan struct{})
	j.cmd, j.exited = cmd, exited
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err := testenv.WaitFor(ctx, 100*time.Millisecond, func() error {
		select {
		case <-exited:
			return errors.New("jaeger exited")
		default:
		}
		c, err := net.DialTimeout("tcp", j.OTLP, time.Second)
		if err != nil {
			return err
		}
		_ = c.Close()
		res, err := http.Get(j.Query + "/api/services")
		if err != nil {
			return err
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("query API: %s", res.Status)
		}
		return nil
	})
	if err != nil {
		_ = cmd.Process.Kill()
		<-exited
		j.cmd = nil
		return fmt.Errorf("jaeger did not come up: %w; its output:\n%s", err, j.log)
	}
	return nil
}

// Restart stops Jaeger (SIGTERM, so badger closes cleanly) and starts it
// again on the same ports and storage.
func (j *Jaeger) Restart(ctx context.Context) error {
	j.Stop()
	return j.start(ctx)
}

// Resume starts a stopped Jaeger again on the same ports and storage.
func (j *Jaeger) Resume(ctx context.Context) error { return j.start(ctx) }

// Stop stops Jaeger: SIGTERM, then SIGKILL after 20 s.
func (j *Jaeger) Stop() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.cmd == nil || j.cmd.Process == nil {
		return
	}
	_ = j.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-j.exited:
	case <-time.After(20 * time.Second):
		_ = j.cmd.Process.Kill()
		<-j.exited
	}
	j.cmd = nil
}

// Output is what the current Jaeger process wrote so far.
func (j *Jaeger) Output() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.log == nil {
		return ""
	}
	return j.log.String()
}
