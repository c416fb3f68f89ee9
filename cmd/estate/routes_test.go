//go:build !servicesonly

package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/estatehq/estate/collector/otlp/otlptest"
	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/auth/authtest"
	"github.com/estatehq/estate/internal/modules"
	"github.com/estatehq/estate/internal/server"
	credithttp "github.com/estatehq/estate/services/credit/http"
	invoicinghttp "github.com/estatehq/estate/services/invoicing/http"
)

// startApp runs every target as `estate up` does, and returns the app
// whose listeners it serves; it stops when the test ends.
func startApp(t *testing.T) *app {
	t.Helper()
	env := &environ{getenv: noEnv, stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, now: time.Now}
	args := append([]string{"--data-dir", t.TempDir(), "--auth.dev=true",
		"--invoicing.fault-listen-addr=127.0.0.1:0", "--credit.fault-listen-addr=127.0.0.1:0"}, loopbackArgs()...)
	cfg, _, err := loadConfig(env, "up", targetNames(), args)
	require.NoError(t, err)
	logger := slog.New(slog.DiscardHandler)
	a := newApp(cfg, logger, env)
	mgr, err := modules.New(logger, a.modules()...)
	require.NoError(t, err)
	require.NoError(t, mgr.Start(context.Background(), targetNames()...))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, mgr.Shutdown(ctx))
		a.close()
	})
	return a
}

// TestRouteTable walks the routes of every guarded listener of every
// target (their routers, the OTLP gRPC server's methods) and requires of
// each an entry in the target's route table; then serves each: without
// credentials 401, with a valid token holding none of its roles 403, with
// each of its roles and with admin let in. /healthz, /readyz and /metrics,
// which internal/server serves beside every router, are public. The
// services' routes (their OpenAPI operations) need a token.
func TestRouteTable(t *testing.T) {
	a := startApp(t)
	iss := authtest.Open(t, a.devIssuerDir())

	var seen []string
	for _, g := range a.guarded {
		seen = append(seen, g.target)
		keys, err := auth.Walk(g.routes)
		require.NoError(t, err)
		t.Run(g.target, func(t *testing.T) {
			listed := keys
			if g.methods != nil {
				listed = append(slices.Clone(keys), g.methods()...)
			}
			authtest.CheckTable(t, listed, g.table)
			iss.CheckRoutes(t, authtest.Forward(g.url()), keys, g.table)
			for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
				resp, err := http.Get(g.url() + path)
				require.NoError(t, err)
				resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode, path)
			}
		})
	}
	for _, target := range []string{"collector", "collector-otlp", "chaos", "report-server", "invoicing-faults", "credit-faults"} {
		require.Contains(t, seen, target, "every platform target and fault surface is guarded")
	}

	// A browser signs in at the report server; its cookie, per host and
	// not per port, then reads the collector's pages too, but never
	// writes.
	t.Run("browser sign-in", func(t *testing.T) {
		var report string
		for _, g := range a.guarded {
			if g.target == "report-server" {
				report = g.url()
			}
		}
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noFollow.PostForm(report+"/signin", url.Values{
			"token": {iss.Token(t, "alice", auth.RoleReportsRead, auth.RoleObservabilityRead)}, "next": {"/reports"},
		})
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Len(t, resp.Cookies(), 1)
		session := resp.Cookies()[0]
		call := func(method, u string) int {
			req, err := http.NewRequest(method, u, nil)
			require.NoError(t, err)
			req.AddCookie(session)
			resp, err := noFollow.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			return resp.StatusCode
		}
		require.Equal(t, http.StatusOK, call(http.MethodGet, report+"/reports"))
		require.Equal(t, http.StatusOK, call(http.MethodGet, a.collector.URL()+"/v1/slos"))
		require.Equal(t, http.StatusUnauthorized, call(http.MethodPost, a.collector.URL()+"/v1/events"))
	})

	t.Run("collector OTLP/gRPC", func(t *testing.T) {
		addr := server.LoopbackAddr(a.collector.OTLPGRPCAddr())
		require.Equal(t, codes.Unauthenticated, status.Code(otlptest.ExportLogs(t, addr, "")))
		require.Equal(t, codes.PermissionDenied, status.Code(otlptest.ExportLogs(t, addr, iss.Token(t, "reader", auth.RoleObservabilityRead))))
		require.NoError(t, otlptest.ExportLogs(t, addr, iss.Token(t, "svc", auth.RoleTelemetryWrite)))
	})

	for name, doc := range map[string]*huma.OpenAPI{"invoicing": invoicinghttp.OpenAPI(), "credit": credithttp.OpenAPI()} {
		t.Run(name, func(t *testing.T) {
			base := a.serviceServers[name].URL()
			require.NotEmpty(t, doc.Paths)
			for path, item := range doc.Paths {
				for method, op := range map[string]*huma.Operation{"GET": item.Get, "POST": item.Post, "PUT": item.Put, "DELETE": item.Delete, "PATCH": item.Patch} {
					// The payment provider's webhook is verified by its
					// signature, not by a token.
					if op == nil || (op.Security != nil && len(op.Security) == 0) || path == invoicinghttp.PaymentWebhookPath {
						continue
					}
					req, err := http.NewRequest(method, base+authtest.Path(path), nil)
					require.NoError(t, err)
					resp, err := http.DefaultClient.Do(req)
					require.NoError(t, err)
					resp.Body.Close()
					require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s %s without a token", method, path)
				}
			}
		})
	}
}

// TestUpSaysHowToGetATokenForEachRole: `up` prints, after the URLs, the
// `estate token` command of each role, and the command works.
func TestUpSaysHowToGetATokenForEachRole(t *testing.T) {
	var out strings.Builder
	dir := t.TempDir()
	printTokenHelp(&out, dir, "http://127.0.0.1:8090")
	for _, r := range auth.Roles {
		want := "estate token --data-dir " + dir + " --sub $USER --scope " + r
		require.Contains(t, out.String(), want)
	}
	require.Contains(t, out.String(), "open http://127.0.0.1:8090/signin and paste the output of:\n  estate token --data-dir "+dir+
		" --sub $USER --scope reports.read --scope observability.read\n")
	for _, line := range strings.Split(out.String(), "\n") {
		require.NotEqual(t, 2, len(strings.Fields(line)), "a line of two fields would read as a target and its URL: %q", line)
	}
	tok, errOut, err := runCmd(t, "token", "--data-dir", dir, "--sub", "alice", "--scope", auth.RoleChaosHalt)
	require.NoError(t, err, errOut)
	p, err := authtest.Open(t, filepath.Join(dir, "dev-issuer")).Authenticator.Authenticate(t.Context(), "Bearer "+strings.TrimSpace(tok))
	require.NoError(t, err)
	require.Equal(t, []string{auth.RoleChaosHalt}, p.Roles)
}
