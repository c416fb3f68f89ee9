package auth_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/auth"
)

func staticFile(entries ...string) string {
	s := "tokens:\n"
	for _, e := range entries {
		s += e
	}
	return s
}

func staticEntry(name, token string, roles ...string) string {
	s := fmt.Sprintf("  - name: %s\n    sha256: %s\n    roles: [", name, auth.HashToken(token))
	for i, r := range roles {
		if i > 0 {
			s += ", "
		}
		s += r
	}
	return s + "]\n"
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
}

func TestStaticTokens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "tokens.yaml")
		writeFile(t, path, staticFile(
			staticEntry("otel-sdk", "old-secret-token", "telemetry.write"),
			"  - name: alertmanager\n    sha256: "+auth.HashToken("am-token")+"\n    roles: [events.write]\n    business: bus_1\n",
		))
		reg := prometheus.NewRegistry()
		s, err := auth.OpenStaticTokens(auth.StaticTokensOptions{Path: path, Registerer: reg})
		require.NoError(t, err)
		s.Start(context.Background())
		defer func() { require.NoError(t, s.Shutdown(context.Background())) }()

		// tick lets the file be checked again.
		tick := func() {
			time.Sleep(6 * time.Second)
			synctest.Wait()
		}
		p, ok := s.Lookup("old-secret-token")
		require.True(t, ok)
		require.Equal(t, auth.Principal{Issuer: auth.StaticIssuer, Subject: "otel-sdk", StaticToken: "otel-sdk",
			Roles: []string{"telemetry.write"}}, p)
		require.Equal(t, "static:otel-sdk", p.Who())
		p, ok = s.Lookup("am-token")
		require.True(t, ok)
		require.Equal(t, "bus_1", p.BusinessID)
		_, ok = s.Lookup("wrong-token")
		require.False(t, ok)
		_, ok = s.Lookup("")
		require.False(t, ok)

		// The token is rotated in the file: the new one is accepted and the
		// old one refused, without restart.
		writeFile(t, path, staticFile(staticEntry("otel-sdk", "new-secret-token-longer", "telemetry.write")))
		tick()
		_, ok = s.Lookup("new-secret-token-longer")
		require.True(t, ok)
		_, ok = s.Lookup("old-secret-token")
		require.False(t, ok)
		_, ok = s.Lookup("am-token")
		require.False(t, ok)
		require.InDelta(t, 1, testutil.ToFloat64(s.Metrics()[1]), 0)

		// A bad file keeps the last good set and is counted.
		writeFile(t, path, staticFile(staticEntry("otel-sdk", "x", "telemetry.writ")))
		tick()
		_, ok = s.Lookup("new-secret-token-longer")
		require.True(t, ok)
		_, ok = s.Lookup("x")
		require.False(t, ok)
		require.InDelta(t, 1, testutil.ToFloat64(s.Metrics()[0]), 0)

		// Checked again unchanged, it is not counted twice.
		tick()
		require.InDelta(t, 1, testutil.ToFloat64(s.Metrics()[0]), 0)
	})
}

func TestParseStaticTokens(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		wantErr string
	}{
		{name: "empty file", file: ""},
		{name: "no tokens", file: "tokens: []\n"},
		{name: "good", file: staticFile(staticEntry("a", "t", "admin"))},
		{name: "unknown key", file: "tokens:\n  - name: a\n    token: plain\n", wantErr: "field token not found"},
		{name: "no name", file: staticFile(staticEntry("", "t", "admin")), wantErr: "tokens[0].name: must not be empty"},
		{
			name:    "name twice",
			file:    staticFile(staticEntry("a", "t", "admin"), staticEntry("a", "u", "admin")),
			wantErr: `tokens[1].name: "a" is used twice`,
		},
		{name: "plain token", file: "tokens:\n  - name: a\n    sha256: hunter2\n    roles: [admin]\n", wantErr: "tokens[0].sha256: must be 64 hex digits"},
		{name: "no roles", file: staticFile(staticEntry("a", "t")), wantErr: "tokens[0].roles: must name at least one role"},
		{name: "unknown role", file: staticFile(staticEntry("a", "t", "root")), wantErr: `tokens[0].roles: unknown role "root"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auth.ParseStaticTokens([]byte(tc.file))
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestOpenStaticTokensRefusesABadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	_, err := auth.OpenStaticTokens(auth.StaticTokensOptions{Path: path})
	require.ErrorContains(t, err, "reading static tokens")
	writeFile(t, path, "tokens: [{name: a}]")
	_, err = auth.OpenStaticTokens(auth.StaticTokensOptions{Path: path})
	require.ErrorContains(t, err, "tokens[0].sha256")
}
