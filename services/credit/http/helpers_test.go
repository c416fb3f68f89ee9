package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/logging"
	"github.com/estatehq/estate/services/contracts"
	"github.com/estatehq/estate/services/credit"
	credithttp "github.com/estatehq/estate/services/credit/http"
	"github.com/estatehq/estate/services/credit/invoicingapi"
	creditsqlite "github.com/estatehq/estate/services/credit/sqlite"
	"github.com/estatehq/estate/services/invoicing"
	invoicinghttp "github.com/estatehq/estate/services/invoicing/http"
	invoicingsqlite "github.com/estatehq/estate/services/invoicing/sqlite"
	"github.com/estatehq/estate/services/kit/httpapi/httpapitest"
	"github.com/estatehq/estate/services/kit/outbox"
	"github.com/estatehq/estate/services/kit/telemetry"
	"github.com/estatehq/estate/services/kit/webhook"
)

// clock is a settable clock shared by both services.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env runs the invoicing API and the credit API on loopback, on their real
// stores, with the outbox relay from one to the other driven by hand.
type env struct {
	t        *testing.T
	clock    *clock
	issuer   *auth.DevIssuer
	invoices *httptest.Server
	credit   *httptest.Server
	// creditDown makes the credit service's event receiver unreachable
	// (503 from the front, as a load balancer with no backend answers).
	creditDown atomic.Bool
	// delivered keeps the bodies the relay sent to the credit service.
	delivered   chan []byte
	relay       *outbox.Relay
	creditStore *creditsqlite.Store
	invStore    *invoicingsqlite.Store
	client      *invoicingapi.Client
	spans       *tracetest.SpanRecorder
	creditSvc   *credit.Service
	// creditAPI and invoicingAPI check every response of the two APIs
	// against their OpenAPI documents.
	creditAPI, invoicingAPI *httpapitest.Validator
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	e := &env{t: t, clock: &clock{t: time.Now().UTC().Truncate(time.Second)}, delivered: make(chan []byte, 100), spans: tracetest.NewSpanRecorder(),
		creditAPI: httpapitest.New(t, credithttp.OpenAPI()), invoicingAPI: httpapitest.New(t, invoicinghttp.OpenAPI())}
	iss, err := auth.OpenDevIssuer(filepath.Join(dir, "dev-issuer"), nil)
	require.NoError(t, err)
	e.issuer = iss
	verifier := auth.NewFromConfig(auth.Config{Dev: true}, iss, nil, nil)

	tel := func(name string) *telemetry.Telemetry {
		tl, err := telemetry.New(ctx, telemetry.Options{ServiceName: name, SpanProcessors: []sdktrace.SpanProcessor{e.spans}})
		require.NoError(t, err)
		t.Cleanup(func() { _ = tl.Shutdown(context.Background()) })
		return tl
	}

	// invoicing
	e.invStore, err = invoicingsqlite.Open(ctx, filepath.Join(dir, "invoicing.db"), invoicingsqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.invStore.Close() })
	e.invoices = httptest.NewServer(invoicinghttp.NewServer(invoicinghttp.Options{
		Service:  invoicing.New(invoicing.Options{Store: e.invStore, Now: e.clock.Now}),
		Verifier: verifier, Idempotency: e.invStore, Telemetry: tel("invoicing"), Logger: logging.Discard(), Now: e.clock.Now,
		PaymentWebhookSecret: webhookSecret, MachineClients: []string{invoicing.DefaultMachineClient},
	}))
	t.Cleanup(e.invoices.Close)

	// credit
	e.creditStore, err = creditsqlite.Open(ctx, filepath.Join(dir, "credit.db"), creditsqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.creditStore.Close() })
	ctel := tel("credit")
	e.client, err = invoicingapi.New(invoicingapi.Options{
		BaseURL: e.invoices.URL, Token: devTokens(iss), TracerProvider: ctel.TracerProvider, Propagator: ctel.Propagator,
		Transport: e.invoicingAPI.Transport(t, nil),
		Now:       e.clock.Now, Sleep: func(context.Context, time.Duration) error { return nil },
	})
	require.NoError(t, err)
	e.creditSvc = credit.New(credit.Options{Store: e.creditStore, Invoicing: e.client, Now: e.clock.Now, Logger: logging.Discard()})
	handler := credithttp.NewServer(credithttp.Options{
		Service: e.creditSvc, Verifier: verifier, Idempotency: e.creditStore, Telemetry: ctel, Logger: logging.Discard(), Now: e.clock.Now,
	})
	e.credit = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == contracts.CreditEventsPath {
			if e.creditDown.Load() {
				http.Error(w, "no backend", http.StatusServiceUnavailable)
				return
			}
			b, _ := io.ReadAll(r.Body)
			e.delivered <- b
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(e.credit.Close)

	e.relay = outbox.NewRelay(outbox.Options{
		Store: e.invStore, Subscribers: []outbox.Subscriber{{Name: "credit", URL: e.credit.URL + contracts.CreditEventsPath}},
		Now: e.clock.Now, Jitter: func() float64 { return 0 },
	})
	return e
}

// devTokens mints machine tokens acting for a business, as `estate up`
// does with the development issuer.
func devTokens(iss *auth.DevIssuer) invoicingapi.TokenSource {
	return func(_ context.Context, business string, scopes []string) (string, error) {
		return iss.Sign(auth.TokenRequest{Subject: invoicing.DefaultMachineClient, ClientID: invoicing.DefaultMachineClient,
			BusinessID: business, Scopes: scopes, TTL: time.Hour})
	}
}

type resp struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

func (e *env) do(base, method, path, token string, body any, header ...string) resp {
	t := e.t
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, r)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	out := resp{Status: res.StatusCode, Header: res.Header, Raw: raw}
	require.NotEqual(t, 500, out.Status, "%s %s: %s", method, path, raw)
	if len(raw) > 0 && raw[0] == '{' {
		require.NoError(t, json.Unmarshal(raw, &out.Body))
	}
	if out.Status >= 400 {
		require.Equal(t, "application/problem+json", res.Header.Get("Content-Type"), "%s %s: %s", method, path, raw)
	}
	if api := e.api(base, path); api != nil {
		require.NoError(t, api.Check(method, path, req.Header, out.Status, out.Header, raw), "%s", raw)
	}
	return out
}

// api is the validator of the responses of base, nil for the credit
// service's event receiver, which is not part of its public API.
func (e *env) api(base, path string) *httpapitest.Validator {
	switch {
	case base == e.invoices.URL:
		return e.invoicingAPI
	case path != contracts.CreditEventsPath:
		return e.creditAPI
	}
	return nil
}

func expect(t *testing.T, r resp, status int) resp {
	t.Helper()
	require.Equal(t, status, r.Status, "body: %s", r.Raw)
	return r
}

func (e *env) token(sub, business string) string {
	tok, err := e.issuer.Sign(auth.TokenRequest{Subject: sub, BusinessID: business})
	require.NoError(e.t, err)
	return tok
}

// tenant is a business registered with the invoicing service.
type tenant struct{ id, token string }

func (e *env) register(sub string) tenant {
	r := expect(e.t, e.do(e.invoices.URL, "POST", "/v1/businesses", e.token(sub, ""), map[string]any{
		"legal_name": sub + " SAS", "country": "FR", "registration_number": "RCS " + sub, "billing_email": sub + "@example.com",
	}), 201)
	id := r.Body["id"].(string)
	return tenant{id: id, token: e.token(sub, id)}
}

// invoice creates and sends an invoice of amount from issuer to customer,
// due in days; it returns its id.
func (e *env) invoice(issuer, customer tenant, amount int64, dueInDays int) string {
	due := e.clock.Now().AddDate(0, 0, dueInDays).Format("2006-01-02")
	r := expect(e.t, e.do(e.invoices.URL, "POST", "/v1/invoices", issuer.token, map[string]any{
		"customer": customer.id, "currency": "eur", "due_date": due,
		"line_items": []map[string]any{{"description": "Work", "quantity": 1, "unit_amount": amount}},
	}), 201)
	id := r.Body["id"].(string)
	r = expect(e.t, e.do(e.invoices.URL, "POST", "/v1/invoices/"+id+"/send", issuer.token, nil, "If-Match", r.Header.Get("ETag")), 200)
	return id
}

// webhookSecret is the secret of the invoicing service's payment webhook.
const webhookSecret = "whsec_test_0123456789abcdef0123456789"

// pay records a payment of the invoice as a payment provider reports it
// (the customer paid through the provider): a payment the credit policy
// trusts by default. The issuer only names the invoice's owner.
func (e *env) pay(_ tenant, invoiceID string, amount int64) {
	e.t.Helper()
	body, err := json.Marshal(map[string]any{"id": credit.NewID("pi"), "invoice_id": invoiceID, "amount": amount, "method": "card"})
	require.NoError(e.t, err)
	req, err := http.NewRequest("POST", e.invoices.URL+invoicinghttp.PaymentWebhookPath, bytes.NewReader(body))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.Header, webhook.Sign(webhookSecret, e.clock.Now(), body))
	res, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	raw, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	require.NoError(e.t, res.Body.Close())
	require.Equal(e.t, http.StatusCreated, res.StatusCode, "%s", raw)
	require.NoError(e.t, e.invoicingAPI.Check("POST", invoicinghttp.PaymentWebhookPath, req.Header, res.StatusCode, res.Header, raw))
}

// record records a payment of the invoice as its issuer says it received
// it, and returns the payment's id.
func (e *env) record(issuer tenant, invoiceID string, amount int64, method string) string {
	e.t.Helper()
	return expect(e.t, e.do(e.invoices.URL, "POST", "/v1/invoices/"+invoiceID+"/payments", issuer.token, map[string]any{
		"amount": amount, "method": method,
	}), 201).Body["id"].(string)
}

// confirm confirms a payment as the invoice's customer.
func (e *env) confirm(customer tenant, invoiceID, paymentID string) {
	e.t.Helper()
	expect(e.t, e.do(e.invoices.URL, "POST", "/v1/invoices/"+invoiceID+"/payments/"+paymentID+"/confirm", customer.token, nil), 200)
}

// withHistory registers an issuer with n invoices of amount paid on time,
// and a customer.
func (e *env) withHistory(name string, n int, amount int64) (tenant, tenant) {
	issuer, customer := e.register(name), e.register(name+"-customer")
	for range n {
		e.pay(issuer, e.invoice(issuer, customer, amount, 30), amount)
	}
	return issuer, customer
}

func (e *env) line(tn tenant) map[string]any {
	return expect(e.t, e.do(e.credit.URL, "GET", "/v1/credit/line", tn.token, nil), 200).Body
}

func num(v any) int64 { f, _ := v.(float64); return int64(f) }

func key(parts ...any) string { return fmt.Sprint(parts...) }
