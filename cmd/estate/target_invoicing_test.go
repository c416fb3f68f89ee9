package main

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/auth"
)

func TestTokenCommand(t *testing.T) {
	dir := t.TempDir()
	out, _, err := runCmd(t, "token", "--data-dir", dir, "--sub", "alice", "--business", "bus_1", "--scope", "a b", "--ttl", "5m")
	require.NoError(t, err)
	require.Len(t, strings.Split(strings.TrimSpace(out), "."), 3, "a JWT")
	_, errOut, err := runCmd(t, "token", "--data-dir", dir)
	require.ErrorIs(t, err, errUsage)
	require.Contains(t, errOut, "--sub is required")
}

// TestTokenCommandRoles: a development token gets roles from its groups
// and scopes, as a Cognito token does.
func TestTokenCommandRoles(t *testing.T) {
	dir := t.TempDir()
	out, _, err := runCmd(t, "token", "--data-dir", dir, "--sub", "oncall", "--group", "estate-oncall", "--scope", "estate/reports.read")
	require.NoError(t, err)
	dev, err := auth.OpenDevIssuer(filepath.Join(dir, "dev-issuer"), nil)
	require.NoError(t, err)
	c := auth.Config{Dev: true, ScopePrefix: auth.DefaultScopePrefix, GroupRoles: auth.DefaultGroupRoles}
	p, err := auth.NewFromConfig(c, dev, nil, nil).Verify(context.Background(), strings.TrimSpace(out))
	require.NoError(t, err)
	require.Equal(t, []string{auth.RoleChaosHalt, auth.RoleObservabilityRead, auth.RoleReportsRead}, p.Roles)
}

func TestInvoicingMigrate(t *testing.T) {
	dir := t.TempDir()
	out, _, err := runCmd(t, "invoicing", "migrate", "--data-dir", dir)
	require.NoError(t, err)
	require.Contains(t, out, "invoicing database migrated")
	_, _, err = runCmd(t, "invoicing", "migrate", "--data-dir", dir)
	require.NoError(t, err, "migrating twice changes nothing")
}

func TestInvoicingNeedsAnIssuer(t *testing.T) {
	_, _, err := runCmd(t, "invoicing", "--data-dir", t.TempDir())
	require.ErrorContains(t, err, "auth.issuer: must be set unless auth.dev is on")
}

// TestInvoicingWithDevTokens runs `estate invoicing` in process and uses it
// with tokens printed by `estate token`, as a developer would.
func TestInvoicingWithDevTokens(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"estate", "invoicing", "--data-dir", dir, "--auth.dev", "--invoicing.listen-addr", "127.0.0.1:0", "--log.level=warn"},
			noEnv, strings.NewReader(""), &out, &errOut)
	}()
	base := waitForURL(t, "invoicing", &out, &errOut)
	tok, _, err := runCmd(t, "token", "--data-dir", dir, "--sub", "alice")
	require.NoError(t, err)
	client := &http.Client{Timeout: 5 * time.Second}
	req, _ := http.NewRequest("POST", base+"/v1/businesses", strings.NewReader(`{"legal_name":"Alice","country":"FR","registration_number":"1","billing_email":"a@example.com"}`))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	require.NoError(t, err)
	var b map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&b))
	resp.Body.Close()
	require.Equal(t, 201, resp.StatusCode, "%v", b)

	resp, err = client.Get(base + "/v1/invoices")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 401, resp.StatusCode, "no token, no entry")
	client.CloseIdleConnections()
	cancel()
	require.NoError(t, <-done, errOut.String())
}
