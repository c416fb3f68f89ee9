package promquerytest

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
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/testenv"
)

// The binaries of the real Prometheus, found as testenv.Binary finds them.
const (
	EnvPrometheusBin = "ESTATE_PROMETHEUS_BIN"
	EnvPromtoolBin   = "ESTATE_PROMTOOL_BIN"
	installHint      = "apt-get install prometheus (Debian's 2.42, which has promtool)"
)

// Promtool is the path of promtool; a missing one fails the test in strict
// mode and skips it otherwise.
func Promtool(t testing.TB) string {
	t.Helper()
	return testenv.Binary(t, "promtool", EnvPromtoolBin, installHint)
}

// CreateBlocks writes data as OpenMetrics and turns it into TSDB blocks
// with `promtool tsdb create-blocks-from openmetrics`, in a new folder that
// a Prometheus can open as its --storage.tsdb.path.
func CreateBlocks(t testing.TB, data []Series) string {
	t.Helper()
	promtool := Promtool(t)
	dir := t.TempDir()
	input := filepath.Join(dir, "series.om")
	var text bytes.Buffer
	require.NoError(t, WriteOpenMetrics(&text, data))
	require.NoError(t, os.WriteFile(input, text.Bytes(), 0o600))
	blocks := filepath.Join(dir, "data")
	out, err := exec.CommandContext(t.Context(), promtool, "tsdb", "create-blocks-from", "openmetrics", input, blocks).CombinedOutput()
	require.NoError(t, err, "promtool tsdb create-blocks-from openmetrics: %s", out)
	return blocks
}

// PrometheusOptions configure a real Prometheus.
type PrometheusOptions struct {
	// DataDir is its --storage.tsdb.path, such as CreateBlocks's folder; a
	// new folder when empty.
	DataDir string
	// Config is its prometheus.yml; when empty, one with no scrape
	// configuration.
	Config string
	// Args are more flags, such as --web.enable-remote-write-receiver.
	Args []string
}

// StartPrometheus runs the real Prometheus on a free loopback port, waits
// until it is ready, stops it when the test ends (printing its log if the
// test failed), and returns its base URL. Its retention is a century: it
// counts back from the newest sample, and test series may be old.
func StartPrometheus(t testing.TB, o PrometheusOptions) string {
	t.Helper()
	bin := testenv.Binary(t, "prometheus", EnvPrometheusBin, installHint)
	dir := t.TempDir()
	if o.DataDir == "" {
		o.DataDir = filepath.Join(dir, "data")
	}
	if o.Config == "" {
		o.Config = "global: {}\n"
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfg, []byte(o.Config), 0o600))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	logPath := filepath.Join(dir, "prometheus.log")
	log, err := os.Create(logPath)
	require.NoError(t, err)
	defer log.Close()
	args := append([]string{
		"--config.file=" + cfg,
		"--storage.tsdb.path=" + o.DataDir,
		"--storage.tsdb.retention.time=100y",
		"--web.listen-address=" + addr,
	}, o.Args...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("prometheus log:\n%s", b)
		}
	})
	base := "http://" + addr
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	require.NoError(t, testenv.WaitFor(ctx, 100*time.Millisecond, func() error {
		select {
		case <-exited:
			return errors.New("prometheus exited")
		default:
		}
		res, err := http.Get(base + "/-/ready")
		if err != nil {
			return err
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("not ready: %s", res.Status)
		}
		return nil
	}), "prometheus did not come up")
	return base
}
