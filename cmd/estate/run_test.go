//go:build !servicesonly

package main

import (
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHelpListsCommands(t *testing.T) {
	out, _, err := runCmd(t, "--help")
	require.NoError(t, err)
	for _, c := range commands() {
		require.Contains(t, out, "  "+c.name+" ")
	}
	for _, tg := range targets() {
		require.Contains(t, out, tg.name)
	}
}

func TestUnknownCommand(t *testing.T) {
	_, errOut, err := runCmd(t, "frobnicate")
	require.ErrorIs(t, err, errUsage)
	require.Contains(t, errOut, `unknown command "frobnicate"`)
}

func TestNoCommand(t *testing.T) {
	_, errOut, err := runCmd(t)
	require.ErrorIs(t, err, errUsage)
	require.Contains(t, errOut, "Usage: estate COMMAND")
}

func TestVersion(t *testing.T) {
	out, _, err := runCmd(t, "version")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(out, "estate "), out)
}

func TestCommandHelpListsEveryOption(t *testing.T) {
	for _, c := range append([]string{"up"}, targetNames()...) {
		t.Run(c, func(t *testing.T) {
			out, _, err := runCmd(t, c, "--help")
			require.ErrorIs(t, err, flag.ErrHelp)
			for _, want := range []string{"--data-dir", "default ./.estate", "env ESTATE_DATA_DIR", "--log.level", "--port-offset", "--config"} {
				require.Contains(t, out, want)
			}
		})
	}
}

// TestEachCommandShowsItsOwnOptions: a target's --help lists exactly the
// option groups it reads.
func TestEachCommandShowsItsOwnOptions(t *testing.T) {
	tests := map[string]struct{ shown, hidden []string }{
		"collector": {
			shown:  []string{"--collector.queue.max-bytes", "--events.postgres-dsn", "--elasticsearch-url", "--jaeger-endpoint", "--prometheus-remote-write-url", "--auth.issuer", "--collector.otlp.grpc-auth"},
			hidden: []string{"--invoicing.", "--credit.", "--telemetry."},
		},
		"invoicing": {
			shown:  []string{"--invoicing.listen-addr", "--auth.issuer", "--telemetry.otlp-endpoint"},
			hidden: []string{"--collector.", "--events.", "--elasticsearch-", "--jaeger-", "--prometheus-remote-write-", "--credit."},
		},
		"credit": {
			shown:  []string{"--credit.listen-addr", "--auth.issuer", "--telemetry.otlp-endpoint"},
			hidden: []string{"--collector.", "--events.", "--elasticsearch-", "--jaeger-", "--prometheus-remote-write-", "--invoicing."},
		},
		"invoicing migrate": {
			shown:  []string{"--invoicing.postgres-dsn"},
			hidden: []string{"--collector.", "--elasticsearch-", "--credit."},
		},
	}
	for cmd, tt := range tests {
		t.Run(cmd, func(t *testing.T) {
			out, _, err := runCmd(t, append(strings.Fields(cmd), "--help")...)
			require.ErrorIs(t, err, flag.ErrHelp)
			for _, want := range tt.shown {
				require.Contains(t, out, want)
			}
			for _, not := range tt.hidden {
				require.NotContains(t, out, not)
			}
		})
	}
	out, _, err := runCmd(t, "up", "--help")
	require.ErrorIs(t, err, flag.ErrHelp)
	for _, want := range []string{"--collector.listen-addr", "--elasticsearch-url", "--invoicing.listen-addr", "--credit.listen-addr", "--auth.issuer", "--events.postgres-dsn"} {
		require.Contains(t, out, want, "up runs every target")
	}
}

// TestForeignOptionRefused: an option of another target is refused with its
// name and its target's, not ignored.
func TestForeignOptionRefused(t *testing.T) {
	_, _, err := runCmd(t, "invoicing", "--data-dir", t.TempDir(), "--elasticsearch-url", "http://es:9200")
	require.EqualError(t, err, "invoicing: --elasticsearch-url is an option of the collector target, which this command does not run")
	_, _, err = runCmd(t, "collector", "--data-dir", t.TempDir(), "--credit.listen-addr=:1")
	require.EqualError(t, err, "collector: --credit.listen-addr is an option of the credit target, which this command does not run")
	_, _, err = runCmd(t, "invoicing", "migrate", "--data-dir", t.TempDir(), "-collector.red.max-series", "5")
	require.EqualError(t, err, "invoicing migrate: --collector.red.max-series is an option of the collector target, which this command does not run")
	_, _, err = runCmd(t, "invoicing", "--no-such-option")
	require.ErrorContains(t, err, "flag provided but not defined: -no-such-option")
}

// TestSharedConfigFileServesEveryCommand: one YAML file with every target's
// groups is valid for `up` and for each target alone, and a target reads
// its own groups from it.
func TestSharedConfigFileServesEveryCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "estate.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`data_dir: `+dir+`
collector:
  queue:
    max_bytes: 1073741824
elasticsearch:
  urls: ["http://es:9200"]
events:
  metrics_ttl: 30s
invoicing:
  rate_limit: 50
credit:
  rate_limit: 40
`), 0o600))
	out, _, err := runCmd(t, "invoicing", "migrate", "--config", path)
	require.NoError(t, err)
	require.Contains(t, out, filepath.Join(dir, "invoicing.db"), "the file's data_dir is read")
	out, _, err = runCmd(t, "credit", "migrate", "--config", path)
	require.NoError(t, err)
	require.Contains(t, out, filepath.Join(dir, "credit.db"))
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"empty data dir", []string{"--data-dir="}, "data_dir: must not be empty"},
		{"negative port offset", []string{"--port-offset=-1"}, "port_offset: must be between 0 and 60000, not -1"},
		{"zero shutdown timeout", []string{"--shutdown-timeout=0s"}, "shutdown_timeout: must be positive"},
		{"bad log level", []string{"--log.level=loud"}, `log.level: must be debug, info, warn or error, not "loud"`},
		{"bad log format", []string{"--log.format=xml"}, `log.format: must be auto, json or text, not "xml"`},
		{"unknown flag", []string{"--no-such-option"}, "flag provided but not defined"},
		{"stray argument", []string{"extra"}, `unexpected argument "extra"`},
		{"kubeconfig without kubernetes", []string{"--chaos.kubeconfig=/tmp/kc"}, "chaos.kubeconfig, chaos.kubernetes_namespace: need chaos.kubernetes"},
		{"environment no label", []string{"--chaos.kubernetes", "--chaos.environment=eu west"}, `chaos.environment: must be a Kubernetes label value with chaos.kubernetes`},
		{"bad chaos namespace", []string{"--chaos.kubernetes", "--chaos.kubernetes-namespace=Chaos_NS"}, `chaos.kubernetes_namespace: must be a namespace name, not "Chaos_NS"`},
		{"fault surface on the API's address", []string{"--invoicing.listen-addr=127.0.0.1:18081", "--invoicing.fault-listen-addr=127.0.0.1:18081"},
			"invoicing.fault_listen_addr: must differ from invoicing.listen_addr"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCmd(t, append([]string{"up", "--data-dir", t.TempDir()}, tc.args...)...)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestConfigFileIsStrict(t *testing.T) {
	path := filepath.Join(t.TempDir(), "estate.yaml")
	require.NoError(t, os.WriteFile(path, []byte("data_dri: /tmp/x\n"), 0o600))
	_, _, err := runCmd(t, "up", "--config", path)
	require.ErrorContains(t, err, "field data_dri not found")
}

func TestOffsetPort(t *testing.T) {
	tests := map[string]string{
		":8081":          ":8091",
		"127.0.0.1:4317": "127.0.0.1:4327",
		"127.0.0.1:0":    "127.0.0.1:0",
		"nonsense":       "nonsense",
	}
	for in, want := range tests {
		require.Equal(t, want, offsetPort(in, 10), in)
	}
}

// TestUpServesEveryTarget runs `estate up` in process: every target prints
// its URL, answers /healthz and /metrics, and everything stops on cancel
// without leaking a goroutine (TestMain checks).
func TestUpServesEveryTarget(t *testing.T) {
	e := startUp(t)
	for _, name := range targetNames() {
		base, ok := e.urls[name]
		require.True(t, ok, "no URL printed for %s", name)
		for path, want := range map[string]string{"/healthz": "ok", "/readyz": `"ready":true`, "/metrics": "process_resident_memory_bytes"} {
			code, body := e.do(t, http.MethodGet, base+path, "", nil, nil)
			require.Equal(t, http.StatusOK, code, name+path)
			require.Contains(t, string(body), want, name+path)
		}
	}
}
