package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type serverConfig struct {
	ListenAddr string        `yaml:"listen_addr"`
	Timeout    time.Duration `yaml:"timeout"`
}

type testConfig struct {
	DataDir string       `yaml:"data_dir"`
	Workers int          `yaml:"workers"`
	Server  serverConfig `yaml:"server"`
}

func (c *testConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", "./.estate", "data dir")
	fs.IntVar(&c.Workers, "workers", 4, "workers")
	fs.StringVar(&c.Server.ListenAddr, "server.listen-addr", ":8081", "listen address")
	fs.DurationVar(&c.Server.Timeout, "server.timeout", 5*time.Second, "timeout")
}

func load(t *testing.T, args []string, env map[string]string, file string) (*testConfig, []string, error) {
	t.Helper()
	if file != "" {
		path := filepath.Join(t.TempDir(), "estate.yaml")
		require.NoError(t, os.WriteFile(path, []byte(file), 0o600))
		args = append([]string{"--config", path}, args...)
	}
	cfg := &testConfig{}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.RegisterFlags(fs)
	rest, err := Load(fs, cfg, args, func(k string) string { return env[k] })
	return cfg, rest, err
}

func TestPrecedence(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		file string
		want testConfig
	}{
		{
			name: "defaults",
			want: testConfig{DataDir: "./.estate", Workers: 4, Server: serverConfig{":8081", 5 * time.Second}},
		},
		{
			name: "file beats default",
			file: "workers: 8\nserver:\n  listen_addr: 127.0.0.1:9000\n",
			want: testConfig{DataDir: "./.estate", Workers: 8, Server: serverConfig{"127.0.0.1:9000", 5 * time.Second}},
		},
		{
			name: "env beats file",
			file: "workers: 8\nserver:\n  timeout: 1m\n",
			env:  map[string]string{"ESTATE_WORKERS": "16", "ESTATE_SERVER_LISTEN_ADDR": ":7000"},
			want: testConfig{DataDir: "./.estate", Workers: 16, Server: serverConfig{":7000", time.Minute}},
		},
		{
			name: "flag beats env and file",
			file: "workers: 8\n",
			env:  map[string]string{"ESTATE_WORKERS": "16"},
			args: []string{"--workers", "32"},
			want: testConfig{DataDir: "./.estate", Workers: 32, Server: serverConfig{":8081", 5 * time.Second}},
		},
		{
			name: "env for one option, flag for another",
			env:  map[string]string{"ESTATE_DATA_DIR": "/var/lib/estate"},
			args: []string{"--server.timeout=2s"},
			want: testConfig{DataDir: "/var/lib/estate", Workers: 4, Server: serverConfig{":8081", 2 * time.Second}},
		},
		{
			name: "empty file changes nothing",
			file: "# nothing here\n",
			want: testConfig{DataDir: "./.estate", Workers: 4, Server: serverConfig{":8081", 5 * time.Second}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := load(t, tc.args, tc.env, tc.file)
			require.NoError(t, err)
			require.Equal(t, tc.want, *got)
		})
	}
}

func TestConfigFileFromEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "estate.yaml")
	require.NoError(t, os.WriteFile(path, []byte("workers: 9\n"), 0o600))
	got, _, err := load(t, nil, map[string]string{"ESTATE_CONFIG": path}, "")
	require.NoError(t, err)
	require.Equal(t, 9, got.Workers)
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		file    string
		wantErr string
	}{
		{name: "unknown key in file", file: "wrokers: 3\n", wantErr: "field wrokers not found"},
		{name: "unknown nested key", file: "server:\n  listen: x\n", wantErr: "field listen not found"},
		{name: "wrong type in file", file: "workers: many\n", wantErr: "cannot unmarshal"},
		{name: "bad env value names the variable", env: map[string]string{"ESTATE_WORKERS": "lots"}, wantErr: "ESTATE_WORKERS"},
		{name: "bad duration in env", env: map[string]string{"ESTATE_SERVER_TIMEOUT": "soon"}, wantErr: "ESTATE_SERVER_TIMEOUT"},
		{name: "unknown flag", args: []string{"--nope"}, wantErr: "flag provided but not defined: -nope"},
		{name: "missing file", args: []string{"--config", "/nonexistent/estate.yaml"}, wantErr: "reading config file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := load(t, tc.args, tc.env, tc.file)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestLoadReturnsRemainingArgs(t *testing.T) {
	_, rest, err := load(t, []string{"--workers=2", "migrate", "up"}, nil, "")
	require.NoError(t, err)
	require.Equal(t, []string{"migrate", "up"}, rest)
}

func TestHelp(t *testing.T) {
	_, _, err := load(t, []string{"--help"}, nil, "")
	require.ErrorIs(t, err, flag.ErrHelp)
}

func TestEnvName(t *testing.T) {
	require.Equal(t, "ESTATE_COLLECTOR_QUEUE_MAX_BYTES", EnvName("collector.queue.max-bytes"))
	require.Equal(t, "ESTATE_DATA_DIR", EnvName("data-dir"))
}

func TestPrintUsage(t *testing.T) {
	cfg := &testConfig{}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	var b strings.Builder
	PrintUsage(&b, fs)
	out := b.String()
	for _, want := range []string{"--server.listen-addr", `default :8081`, "env ESTATE_SERVER_LISTEN_ADDR", "--workers", "default 4"} {
		require.Contains(t, out, want)
	}
}
