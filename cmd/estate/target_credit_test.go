package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/services/contracts"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestCreditMigrate(t *testing.T) {
	out, errOut, err := runCmd(t, "credit", "migrate", "--data-dir", t.TempDir())
	require.NoError(t, err, errOut)
	require.Contains(t, out, "credit database migrated")
}

func TestCreditNeedsDevTokens(t *testing.T) {
	_, _, err := runCmd(t, "credit", "--data-dir", t.TempDir(), "--auth.issuer", "https://issuer.example.com", "--credit.listen-addr", "127.0.0.1:0")
	require.ErrorContains(t, err, "set --auth.dev")
}

// TestUpCreditLine is the credit story under `estate up`: a business with
// paid invoices (their payments confirmed by the customer) gets a credit
// line, draws against an open invoice, and sees the line restored when its
// customer pays (the invoicing outbox delivers the invoice's events to
// credit without configuration).
func TestUpCreditLine(t *testing.T) {
	inv := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	e := startUp(t, "--invoicing.listen-addr="+inv, fmt.Sprintf("--credit.listen-addr=127.0.0.1:%d", freePort(t)))
	invURL, creditURL := e.urls["invoicing"], e.urls["credit"]
	require.NotEmpty(t, creditURL)

	call := func(method, url, token string, body any, want int) map[string]any {
		t.Helper()
		code, b := e.do(t, method, url, token, nil, body)
		require.Equal(t, want, code, "%s %s: %s", method, url, b)
		var m map[string]any
		if len(b) > 0 {
			require.NoError(t, json.Unmarshal(b, &m))
		}
		return m
	}
	register := func(sub string) (string, string) {
		b := call("POST", invURL+"/v1/businesses", e.token(t, "--sub", sub), map[string]any{
			"legal_name": sub, "country": "FR", "registration_number": "RCS " + sub, "billing_email": sub + "@example.com"}, 201)
		id := b["id"].(string)
		return id, e.token(t, "--sub", sub, "--business", id)
	}
	_, myToken := register("alice")
	customer, customerToken := register("bob")
	due := time.Now().AddDate(0, 0, 30).Format("2006-01-02")
	issue := func(amount int64) string {
		b := call("POST", invURL+"/v1/invoices", myToken, map[string]any{"customer": customer, "currency": "eur", "due_date": due,
			"line_items": []map[string]any{{"description": "Work", "quantity": 1, "unit_amount": amount}}}, 201)
		id := b["id"].(string)
		call("POST", invURL+"/v1/invoices/"+id+"/send", myToken, nil, 200)
		return id
	}
	// The issuer records the payment and the customer confirms it: the
	// credit policy counts only payments someone other than the issuer
	// vouches for.
	pay := func(id string, amount int64) {
		p := call("POST", invURL+"/v1/invoices/"+id+"/payments", myToken, map[string]any{"amount": amount, "method": "bank_transfer"}, 201)
		call("POST", invURL+"/v1/invoices/"+id+"/payments/"+p["id"].(string)+"/confirm", customerToken, nil, 200)
	}
	for range 3 {
		pay(issue(10_000), 10_000)
	}
	app := call("POST", creditURL+"/v1/credit/applications", myToken, map[string]any{"requested_limit": 12_000, "currency": "eur"}, 201)
	require.Equal(t, "approved", app["status"], "%v", app)
	open := issue(10_000)
	call("POST", creditURL+"/v1/credit/drawdowns", myToken, map[string]any{"invoice_id": open, "amount": 8000}, 201)
	line := call("GET", creditURL+"/v1/credit/line", myToken, nil, 200)
	require.Equal(t, 4000.0, line["available"])

	pay(open, 10_000)
	deadline := time.Now().Add(20 * time.Second)
	for {
		line = call("GET", creditURL+"/v1/credit/line", myToken, nil, 200)
		if line["drawn"] == 0.0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the line was not restored: %v", line)
		time.Sleep(50 * time.Millisecond)
	}
	require.Equal(t, 12_000.0, line["available"])
	ds := call("GET", creditURL+"/v1/credit/drawdowns", myToken, nil, 200)
	require.Equal(t, "settled", ds["data"].([]any)[0].(map[string]any)["status"])
}

// TestCreditClientCredentials: with a client registered at the development
// issuer's token endpoint, credit fetches its invoicing tokens by the
// client-credentials grant, without --auth.dev.
func TestCreditClientCredentials(t *testing.T) {
	dir := t.TempDir()
	secret, _, err := runCmd(t, "token", "client", "--data-dir", dir, "--id", "estate-credit",
		"--scope", contracts.HistoryScope+" "+contracts.FinancingScope)
	require.NoError(t, err)
	secretFile := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(secretFile, []byte(secret), 0o600))

	issuerApp := &app{cfg: &Config{DataDir: dir}, now: time.Now}
	issuerApp.cfg.Auth.Dev = true
	h, err := issuerApp.withDevIssuer(http.NotFoundHandler())
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	a := &app{cfg: &Config{DataDir: t.TempDir()}, now: time.Now}
	a.cfg.Credit.InvoicingClientID = "estate-credit"
	a.cfg.Credit.InvoicingClientSecretFile = secretFile
	a.cfg.Credit.InvoicingTokenURL = srv.URL + auth.TokenPath
	tokens, err := a.invoicingTokens()
	require.NoError(t, err)
	tok, err := tokens(context.Background(), "bus_1", []string{contracts.HistoryScope})
	require.NoError(t, err)

	dev, err := auth.OpenDevIssuer(filepath.Join(dir, "dev-issuer"), nil)
	require.NoError(t, err)
	p, err := auth.NewFromConfig(auth.Config{Dev: true}, dev, nil, nil).Verify(context.Background(), tok)
	require.NoError(t, err)
	require.Equal(t, "estate-credit", p.ClientID)
	require.True(t, p.HasScope(contracts.HistoryScope))
	require.True(t, p.HasScope(contracts.FinancingScope))

	// The issuer serves its key set beside the token endpoint.
	resp, err := srv.Client().Get(srv.URL + "/.well-known/jwks.json")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	a.cfg.Credit.InvoicingClientSecretFile = filepath.Join(t.TempDir(), "missing")
	_, err = a.invoicingTokens()
	require.ErrorContains(t, err, "credit.invoicing_client_secret_file")

	_, _, err = runCmd(t, "credit", "--data-dir", t.TempDir(), "--auth.dev", "--credit.invoicing-client-id", "estate-credit")
	require.ErrorContains(t, err, "credit.invoicing_client_secret_file: must be set")
	require.ErrorContains(t, err, "credit.invoicing_token_url: must be an http(s) URL")
}
