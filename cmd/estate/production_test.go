//go:build !servicesonly

package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestProductionRefusesDevelopmentSettings: --env production names every
// development setting it refuses, one per line, and starts with none.
func TestProductionRefusesDevelopmentSettings(t *testing.T) {
	const issuer = "--auth.issuer=https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_x"
	dir := t.TempDir()
	for _, f := range []string{"tls.crt", "tls.key"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), nil, 0o600))
	}
	tls := []string{"--tls.cert-file=" + filepath.Join(dir, "tls.crt"), "--tls.key-file=" + filepath.Join(dir, "tls.key")}
	tests := []struct {
		name    string
		targets []string
		args    []string
		want    []string // the faults, each naming its option; none: starts
	}{
		{name: "up: the development issuer", targets: []string{"invoicing", "credit", "collector", "chaos", "report-server"},
			args: []string{"--auth.dev=true"}, want: []string{"auth.dev: the development issuer is not allowed in production"}},
		{name: "plain text beyond loopback", targets: []string{"invoicing"}, args: []string{issuer},
			want: []string{`invoicing.listen_addr: ":8081" serves plain text beyond loopback`}},
		{name: "plain text on every interface of the collector", targets: []string{"collector"}, args: []string{issuer, "--collector.otlp.grpc-listen-addr=0.0.0.0:4317"},
			want: []string{`collector.listen_addr: ":8088"`, `collector.otlp.grpc_listen_addr: "0.0.0.0:4317"`, `collector.otlp.http_listen_addr: ":4318"`}},
		{name: "loopback in plain text behind a proxy", targets: []string{"collector"},
			args: []string{issuer, "--collector.listen-addr=127.0.0.1:8088", "--collector.otlp.grpc-listen-addr=[::1]:4317", "--collector.otlp.http-listen-addr=localhost:4318"}},
		{name: "authentication off on OTLP", targets: []string{"collector"}, args: append([]string{issuer, "--collector.otlp.grpc-auth=false", "--collector.otlp.http-auth=false"}, tls...),
			want: []string{"collector.otlp.grpc_auth: OTLP/gRPC would accept telemetry from anyone", "collector.otlp.http_auth: OTLP/HTTP would accept telemetry from anyone"}},
		{name: "weak secrets", targets: []string{"collector"},
			args: append([]string{issuer, "--events.github-secret=ChangeMe", "--events.circleci-secret=short"}, tls...),
			want: []string{"events.github_secret: a placeholder, not a secret", "events.circleci_secret: 5 characters; a secret in production has at least 32"}},
		{name: "everything in order", targets: []string{"invoicing", "credit", "collector", "chaos", "report-server"},
			args: append([]string{issuer, "--events.github-secret=" + strings.Repeat("a", 40), "--credit.invoicing-client-id=credit",
				"--credit.invoicing-client-secret-file=/run/secret", "--credit.invoicing-token-url=https://auth.example/oauth2/token"}, tls...)},
		{name: "development accepts all of it", targets: []string{"collector"}, args: []string{"--auth.dev=true", "--collector.otlp.grpc-auth=false"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := &environ{getenv: noEnv, stdout: io.Discard, stderr: io.Discard}
			args := tc.args
			if !strings.HasPrefix(tc.name, "development") {
				args = append([]string{"--env=production"}, args...)
			}
			cmd, _, _ := strings.Cut(tc.name, ":") // up listens on loopback
			_, _, err := loadConfig(env, cmd, tc.targets, args)
			if len(tc.want) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			lines := strings.Split(strings.TrimPrefix(err.Error(), "invalid configuration: "), "\n")
			require.Len(t, lines, len(tc.want), "one line per fault:\n%s", err)
		})
	}

	_, _, err := loadConfig(&environ{getenv: noEnv, stdout: io.Discard, stderr: io.Discard}, "test", []string{"invoicing"}, []string{"--env=staging", "--auth.dev"})
	require.ErrorContains(t, err, `env: must be development or production, not "staging"`)
}
