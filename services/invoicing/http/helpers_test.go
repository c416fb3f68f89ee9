package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/logging"
	"github.com/estatehq/estate/internal/pgtest"
	"github.com/estatehq/estate/internal/server"
	"github.com/estatehq/estate/services/invoicing"
	invoicinghttp "github.com/estatehq/estate/services/invoicing/http"
	"github.com/estatehq/estate/services/invoicing/invoicingtest"
	"github.com/estatehq/estate/services/invoicing/postgres"
	"github.com/estatehq/estate/services/invoicing/sqlite"
	"github.com/estatehq/estate/services/kit/httpapi/httpapitest"
)

// backends are the stores the HTTP tests run on.
var backends = []struct {
	name string
	open func(t testing.TB) invoicingtest.Store
}{
	{"sqlite", func(t testing.TB) invoicingtest.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "invoicing.db"), sqlite.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
	{"postgres", func(t testing.TB) invoicingtest.Store {
		s, err := postgres.Open(context.Background(), pgtest.NewDatabase(t), postgres.Options{MaxConns: 30})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
}

// webhookSecret is the payment webhook's secret in the tests.
const webhookSecret = "whsec_test_0123456789abcdef0123456789"

// env is a running invoicing API on loopback.
type env struct {
	t      testing.TB
	url    string
	store  invoicingtest.Store
	issuer *auth.DevIssuer
	// api checks every response against the OpenAPI document.
	api    *httpapitest.Validator
	client *http.Client
	opts   invoicinghttp.Options
}

type envOption func(*invoicinghttp.Options)

// newFuzzEnv is an env on SQLite that lives as long as the fuzz target (its
// inputs each have their own *testing.T), cleaned up with f.
func newFuzzEnv(f *testing.F) *env {
	t := f
	dir, err := os.MkdirTemp("", "invoicing-fuzz")
	require.NoError(t, err)
	s, err := sqlite.Open(context.Background(), filepath.Join(dir, "invoicing.db"), sqlite.Options{})
	require.NoError(t, err)
	f.Cleanup(func() {
		_ = s.Close()
		_ = os.RemoveAll(dir)
	})
	return buildEnv(t, s, dir, f.Cleanup)
}

func newEnv(t testing.TB, store invoicingtest.Store, options ...envOption) *env {
	t.Helper()
	return buildEnv(t, store, t.TempDir(), func(f func()) { t.Cleanup(f) }, options...)
}

func buildEnv(t testing.TB, store invoicingtest.Store, dir string, cleanup func(func()), options ...envOption) *env {
	t.Helper()
	iss, err := auth.OpenDevIssuer(filepath.Join(dir, "dev-issuer"), nil)
	require.NoError(t, err)
	reg := server.NewRegistry()
	opts := invoicinghttp.Options{
		Registry:             reg,
		Service:              invoicing.New(invoicing.Options{Store: store}),
		Verifier:             auth.NewFromConfig(auth.Config{Dev: true}, iss, nil, nil),
		Idempotency:          store,
		Logger:               logging.Discard(),
		PaymentWebhookSecret: webhookSecret,
		MachineClients:       []string{machineClient},
	}
	for _, o := range options {
		o(&opts)
	}
	srv := server.New(server.Options{Name: "invoicing", Addr: "127.0.0.1:0", Handler: invoicinghttp.NewServer(opts), Logger: logging.Discard(), Registry: reg})
	require.NoError(t, srv.Start(context.Background()))
	client := &http.Client{Timeout: 30 * time.Second}
	cleanup(func() {
		client.CloseIdleConnections()
		_ = srv.Shutdown(context.Background())
	})
	return &env{t: t, url: srv.URL(), store: store, issuer: iss, api: openAPIValidator(t), client: client, opts: opts}
}

var (
	validatorOnce sync.Once
	validator     *httpapitest.Validator
)

// openAPIValidator loads the generated document once.
func openAPIValidator(t testing.TB) *httpapitest.Validator {
	validatorOnce.Do(func() { validator = httpapitest.New(t, invoicinghttp.OpenAPI()) })
	require.NotNil(t, validator)
	return validator
}

func (e *env) token(sub, business string, scopes ...string) string {
	tok, err := e.issuer.Sign(auth.TokenRequest{Subject: sub, BusinessID: business, Scopes: scopes})
	require.NoError(e.t, err)
	return tok
}

// machineClient is the trusted machine client of the tests.
const machineClient = "estate-credit"

// machine is a token of the trusted machine client, as the
// client-credentials grant issues it (its subject is its client id),
// acting for business.
func (e *env) machine(business string, scopes ...string) string {
	tok, err := e.issuer.Sign(auth.TokenRequest{Subject: machineClient, ClientID: machineClient, BusinessID: business, Scopes: scopes})
	require.NoError(e.t, err)
	return tok
}

// resp is a response read whole.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), "body: %s", r.Body)
	return m
}

func (r resp) str(t testing.TB, key string) string {
	t.Helper()
	v, _ := r.json(t)[key].(string)
	return v
}

func (r resp) num(t testing.TB, key string) int64 {
	t.Helper()
	v, _ := r.json(t)[key].(float64)
	return int64(v)
}

// req is one request.
type req struct {
	method, path, token string
	body                any // string for raw bytes
	header              map[string]string
}

// do sends the request, and checks the response against the OpenAPI
// document (every response of the API tests is validated).
func (e *env) do(t testing.TB, r req) resp {
	t.Helper()
	var body io.Reader
	var raw []byte
	switch b := r.body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	default:
		var err error
		raw, err = json.Marshal(b)
		require.NoError(t, err)
	}
	if raw != nil {
		body = bytes.NewReader(raw)
	}
	hr, err := http.NewRequest(r.method, e.url+r.path, body)
	require.NoError(t, err)
	if raw != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	res, err := e.client.Do(hr)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	out := resp{Status: res.StatusCode, Header: res.Header, Body: b}
	require.NotEqual(t, 500, out.Status, "%s %s answered 500: %s", r.method, r.path, b)
	if out.Status >= 400 {
		require.Equal(t, "application/problem+json", res.Header.Get("Content-Type"), "%s %s: %s", r.method, r.path, b)
	}
	if strings.HasPrefix(r.path, "/v1/") {
		require.NoError(t, e.validate(r.method, r.path, hr.Header, out), "%s", out.Body)
	}
	return out
}

// validate checks a response against the OpenAPI document.
func (e *env) validate(method, path string, h http.Header, out resp) error {
	return e.api.Check(method, path, h, out.Status, out.Header, out.Body)
}

// expect checks the status.
func expect(t testing.TB, r resp, status int) resp {
	t.Helper()
	require.Equal(t, status, r.Status, "body: %s", r.Body)
	return r
}

func invoiceBody(customer string, amounts ...int64) map[string]any {
	var lines []map[string]any
	for i, a := range amounts {
		lines = append(lines, map[string]any{"description": fmt.Sprintf("Line %d", i+1), "quantity": 1, "unit_amount": a})
	}
	return map[string]any{"customer": customer, "currency": "eur", "due_date": "2030-01-31", "line_items": lines}
}

// tenant is a registered business with its token.
type tenant struct {
	id, token string
}

func (e *env) register(t testing.TB, sub, name string) tenant {
	t.Helper()
	r := expect(t, e.do(t, req{method: "POST", path: "/v1/businesses", token: e.token(sub, ""), body: map[string]any{
		"legal_name": name, "country": "FR", "registration_number": "RCS " + sub, "billing_email": sub + "@example.com",
	}}), 201)
	id := r.str(t, "id")
	return tenant{id: id, token: e.token(sub, id)}
}

// must asserts v's type.
func must[T any](t testing.TB, v any) T {
	t.Helper()
	x, ok := v.(T)
	require.True(t, ok, "%v is a %T", v, v)
	return x
}
