package contract_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pact-foundation/pact-go/v2/log"
	"github.com/pact-foundation/pact-go/v2/message"
	"github.com/pact-foundation/pact-go/v2/models"
	"github.com/pact-foundation/pact-go/v2/provider"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/logging"
	"github.com/estatehq/estate/internal/testenv"
	"github.com/estatehq/estate/services/contracts"
	"github.com/estatehq/estate/services/invoicing"
	invoicinghttp "github.com/estatehq/estate/services/invoicing/http"
	"github.com/estatehq/estate/services/invoicing/sqlite"
	"github.com/estatehq/estate/services/kit/outbox"
)

// The fixed ids the consumers' provider states name.
const (
	issuerID   = "bus_pact_issuer"
	customerID = "bus_pact_customer"
)

func contractsDir(t *testing.T) string {
	dir, err := filepath.Abs("../../../contracts")
	require.NoError(t, err)
	return dir
}

// requireFFI reports a missing Pact FFI library: a failure in strict mode.
func requireFFI(t *testing.T) {
	t.Helper()
	dir := os.Getenv("ESTATE_PACT_FFI_DIR")
	if _, err := os.Stat(filepath.Join(dir, "libpact_ffi.so")); dir == "" || err != nil {
		testenv.Missing(t, "the Pact FFI library", "run `make test`, which unpacks libpact_ffi.so from @pact-foundation/pact-core-linux-x64-glibc@18.1.0 into build/pact and sets ESTATE_PACT_FFI_DIR")
	}
}

// TestMain sets pact-go's log level once: its verification proxies outlive
// each test (pact-go never stops them) and read the level concurrently.
func TestMain(m *testing.M) {
	_ = log.SetLogLevel("ERROR")
	os.Exit(m.Run())
}

// creditClient is the credit service's machine client, which the
// provider trusts.
const creditClient = "estate-credit"

// provider is the real invoicing API on a real (SQLite) store.
type providerEnv struct {
	store  *sqlite.Store
	svc    *invoicing.Service
	issuer *auth.DevIssuer
	url    string
	now    time.Time

	// scopes are those of the caller's token, as the pact's token state
	// names them; the state handler sets them and the request filter reads
	// them, each in its own goroutine.
	mu     sync.Mutex
	scopes []string
}

func newProvider(t *testing.T, wrap func(http.Handler) http.Handler) *providerEnv {
	dir := t.TempDir()
	store, err := sqlite.Open(context.Background(), filepath.Join(dir, "invoicing.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	iss, err := auth.OpenDevIssuer(filepath.Join(dir, "dev-issuer"), nil)
	require.NoError(t, err)
	p := &providerEnv{store: store, issuer: iss, now: time.Now().UTC().Truncate(time.Second)}
	p.svc = invoicing.New(invoicing.Options{Store: store})
	var h http.Handler = invoicinghttp.NewServer(invoicinghttp.Options{
		Service: p.svc, Verifier: auth.NewFromConfig(auth.Config{Dev: true}, iss, nil, nil), Idempotency: store, Logger: logging.Discard(),
		MachineClients: []string{creditClient},
	})
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

// ignoreConflict lets a state be set up twice.
func ignoreConflict(err error) error {
	if invoicing.ErrorCode(err) == invoicing.ECONFLICT {
		return nil
	}
	return err
}

func (p *providerEnv) businesses(ctx context.Context) error {
	for _, id := range []string{issuerID, customerID} {
		err := p.store.CreateBusiness(ctx, &invoicing.Business{ID: id, Owner: "owner-" + id, LegalName: id, Country: "FR",
			RegistrationNumber: "RCS " + id, BillingEmail: id + "@example.com", CreatedAt: p.now.AddDate(0, -6, 0)})
		if err := ignoreConflict(err); err != nil {
			return err
		}
	}
	return nil
}

// invoice writes an invoice of 100.00 EUR from the issuer, open, or paid
// by a payment its customer confirmed; financedBy names the drawdown that
// finances it, if any.
func (p *providerEnv) invoice(ctx context.Context, id string, status invoicing.Status, financedBy string) error {
	finalized := p.now.AddDate(0, 0, -10)
	inv := &invoicing.Invoice{
		ID: id, Number: "INV-" + id, IssuerID: issuerID, CustomerID: customerID, Currency: "EUR", FinancedBy: financedBy,
		DueDate:   p.now.AddDate(0, 0, 20).Format(invoicing.DateLayout),
		LineItems: []invoicing.LineItem{{Description: "Work", Quantity: 1, UnitAmount: 10000, Amount: 10000}},
		Subtotal:  10000, Total: 10000, AmountDue: 10000, Status: invoicing.StatusOpen,
		Transitions: invoicing.StatusTransitions{FinalizedAt: &finalized},
		CreatedAt:   finalized, UpdatedAt: finalized, Version: 1,
	}
	if status == invoicing.StatusPaid {
		paid := p.now.AddDate(0, 0, -1)
		inv.Status, inv.AmountPaid, inv.AmountDue, inv.Transitions.PaidAt = invoicing.StatusPaid, 10000, 0, &paid
		inv.PaidBy.CustomerConfirmed = 10000
	}
	return ignoreConflict(p.store.CreateInvoice(ctx, inv))
}

// stateHandlers set up each provider state through the store.
func (p *providerEnv) stateHandlers() models.StateHandlers {
	ctx := context.Background()
	state := func(setup func() error) models.StateHandler {
		return func(setupPhase bool, _ models.ProviderState) (models.ProviderStateResponse, error) {
			if !setupPhase {
				return nil, nil
			}
			if err := p.businesses(ctx); err != nil {
				return nil, err
			}
			return nil, setup()
		}
	}
	return models.StateHandlers{
		"business bus_pact_issuer has invoices paid in EUR, their payments confirmed by the customer": state(func() error {
			return errors.Join(p.invoice(ctx, "in_pact_h1", invoicing.StatusPaid, ""), p.invoice(ctx, "in_pact_h2", invoicing.StatusPaid, ""),
				p.invoice(ctx, "in_pact_h3", invoicing.StatusPaid, ""))
		}),
		"business bus_pact_issuer issued the open invoice in_pact_open": state(func() error { return p.invoice(ctx, "in_pact_open", invoicing.StatusOpen, "") }),
		"business bus_pact_issuer issued the paid invoice in_pact_paid, its payment confirmed by the customer": state(func() error {
			return p.invoice(ctx, "in_pact_paid", invoicing.StatusPaid, "")
		}),
		"business bus_pact_issuer issued the open invoice in_pact_financed, financed by the drawdown dd_pact": state(func() error {
			return p.invoice(ctx, "in_pact_financed", invoicing.StatusOpen, "dd_pact")
		}),
		"there is no invoice in_pact_missing": state(func() error { return nil }),
		// businesses makes owner-bus_pact_issuer the owner of bus_pact_issuer.
		"business bus_pact_issuer is registered by the subject owner-bus_pact_issuer": state(func() error { return nil }),
		"the caller holds a machine token acting for bus_pact_issuer": func(setup bool, s models.ProviderState) (models.ProviderStateResponse, error) {
			scope := stateParam(s, "scope")
			p.mu.Lock()
			defer p.mu.Unlock()
			p.scopes = nil
			if setup {
				p.scopes = strings.Fields(scope)
			}
			return nil, nil
		},
	}
}

// stateParam returns a string parameter of a provider state. The Pact FFI
// sends the parameters under "params", and pact-go passes that object on.
func stateParam(s models.ProviderState, key string) string {
	params, ok := s.Parameters["params"].(map[string]any)
	if !ok {
		params = s.Parameters
	}
	v, _ := params[key].(string)
	return v
}

// authenticate replaces the pact's example token with a machine token of
// the development issuer acting for the issuer, as the credit service's is,
// with the scopes the pact's token state names: the real server then
// decides whether they are enough.
func (p *providerEnv) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			p.mu.Lock()
			scopes := p.scopes
			p.mu.Unlock()
			tok, err := p.issuer.Sign(auth.TokenRequest{Subject: creditClient, ClientID: creditClient, BusinessID: issuerID, Scopes: scopes})
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		next.ServeHTTP(w, r)
	})
}

// The pacts of the credit service.
const (
	httpPact    = "credit-invoicing.json"
	messagePact = "credit-invoicing-events.json"
)

// verifyHTTP replays the HTTP pact in file against the provider.
func verifyHTTP(t *testing.T, p *providerEnv, file string) error {
	return provider.NewVerifier().VerifyProvider(t, provider.VerifyRequest{
		ProviderBaseURL: p.url, Provider: "invoicing",
		PactFiles:     []string{file},
		StateHandlers: p.stateHandlers(), RequestFilter: p.authenticate,
		FailIfNoPactsFound: true, DisableColoredOutput: true,
	})
}

// TestCreditPact replays the credit service's pact against the real
// invoicing API.
func TestCreditPact(t *testing.T) {
	requireFFI(t)
	require.NoError(t, verifyHTTP(t, newProvider(t, nil), filepath.Join(contractsDir(t), httpPact)))
}

// TestCreditMessagePact checks the messages the credit service expects
// (invoice.paid, invoice.payment_confirmed) against what the real relay
// posts after a payment, and after its customer confirms one, when credit
// is subscribed at [contracts.CreditEventsPath], as `estate up` subscribes
// it: the body it sent and the path it sent it to.
func TestCreditMessagePact(t *testing.T) {
	requireFFI(t)
	require.NoError(t, verifyMessages(t, newProvider(t, nil), filepath.Join(contractsDir(t), messagePact)))
}

// verifyMessages checks the message pact in file against the provider.
func verifyMessages(t *testing.T, p *providerEnv, file string) error {
	ctx := context.Background()
	sent := map[string]*delivery{} // by event type
	// deliver sets up an open invoice, pays it in full through the service
	// (confirm: then its customer confirms the payment), and keeps the
	// event of type typ the relay posted.
	deliver := func(id, typ string, confirm bool) models.StateHandler {
		return func(setup bool, _ models.ProviderState) (models.ProviderStateResponse, error) {
			if !setup {
				return nil, nil
			}
			if err := errors.Join(p.businesses(ctx), p.invoice(ctx, id, invoicing.StatusOpen, "")); err != nil {
				return nil, err
			}
			d, err := p.deliverPaid(ctx, id, typ, confirm)
			sent[typ] = d
			return nil, err
		}
	}
	posted := func(typ string) message.Handler {
		return func([]models.ProviderState) (message.Body, message.Metadata, error) {
			d := sent[typ]
			if d == nil {
				return nil, nil, fmt.Errorf("no %s event was delivered", typ)
			}
			return json.RawMessage(d.body), message.Metadata{"contentType": "application/json", "path": d.path}, nil
		}
	}
	return provider.NewVerifier().VerifyProvider(t, provider.VerifyRequest{
		Provider:  "invoicing-events",
		PactFiles: []string{file},
		StateHandlers: models.StateHandlers{
			"the invoice in_pact_open was paid":                                   deliver("in_pact_open", invoicing.EventInvoicePaid, false),
			"the customer of the invoice in_pact_confirmed confirmed its payment": deliver("in_pact_confirmed", invoicing.EventPaymentConfirmed, true),
		},
		MessageHandlers: message.Handlers{
			"an invoice.paid event":              posted(invoicing.EventInvoicePaid),
			"an invoice.payment_confirmed event": posted(invoicing.EventPaymentConfirmed),
		},
		FailIfNoPactsFound: true, DisableColoredOutput: true,
	})
}

// delivery is one event the relay posted.
type delivery struct {
	path string
	body []byte
}

// deliverPaid pays the invoice in full through the service (confirm: and
// its customer confirms the payment), runs the real relay once with credit
// subscribed at its events path, and returns the event of type typ it
// posted.
func (p *providerEnv) deliverPaid(ctx context.Context, invoiceID, typ string, confirm bool) (*delivery, error) {
	inv, err := p.store.Invoice(ctx, invoiceID)
	if err != nil {
		return nil, err
	}
	if inv.Status == invoicing.StatusOpen {
		_, pay, err := p.svc.PayInvoice(ctx, invoicing.Caller{Subject: "owner-" + issuerID, BusinessID: issuerID}, invoiceID,
			invoicing.PaymentInput{Amount: inv.AmountDue, Method: "bank_transfer"}, nil)
		if err != nil {
			return nil, fmt.Errorf("paying: %w", err)
		}
		if confirm {
			if _, _, err := p.svc.ConfirmPayment(ctx, invoicing.Caller{Subject: "owner-" + customerID, BusinessID: customerID}, invoiceID, pay.ID); err != nil {
				return nil, fmt.Errorf("confirming: %w", err)
			}
		}
	}
	var mu sync.Mutex
	var paid *delivery
	credit := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var e struct{ Type, Subject string }
		if json.Unmarshal(body, &e) == nil && e.Type == typ && e.Subject == invoiceID {
			mu.Lock()
			paid = &delivery{path: r.URL.Path, body: body}
			mu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer credit.Close()
	relay := outbox.NewRelay(outbox.Options{
		Store: p.store, Subscribers: []outbox.Subscriber{{Name: "credit", URL: credit.URL + contracts.CreditEventsPath}},
	})
	if _, err := relay.DeliverOnce(ctx); err != nil {
		return nil, fmt.Errorf("delivering: %w", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if paid == nil {
		return nil, fmt.Errorf("the relay delivered no %s event", typ)
	}
	return paid, nil
}

// TestIncompatibleProviderFails proves the gate works: a provider that
// changed without its consumer fails the credit pacts. Each change is built
// here, not in the product: an invoicing API whose invoices name amount_due
// differently, and pacts that name another history scope or another
// delivery path than the provider's. Each verification runs in a child test
// process, whose failure is the expected outcome.
func TestIncompatibleProviderFails(t *testing.T) {
	requireFFI(t)
	tests := []struct {
		name   string
		verify func(t *testing.T) error
		// want is in the failure's output.
		want string
	}{
		{"invoice field renamed", func(t *testing.T) error {
			return verifyHTTP(t, newProvider(t, renameAmountDue), filepath.Join(contractsDir(t), httpPact))
		}, "amount_due"},
		{"history scope changed", func(t *testing.T) error {
			return verifyHTTP(t, newProvider(t, nil), rewritePact(t, httpPact, contracts.HistoryScope, "invoicing/history.list"))
		}, "expected 200 but was 403"},
		{"delivery path changed", func(t *testing.T) error {
			return verifyMessages(t, newProvider(t, nil), rewritePact(t, messagePact, contracts.CreditEventsPath, "/v1/credit/invoice-events"))
		}, "Expected metadata key 'path'"},
	}
	if name := os.Getenv("ESTATE_PACT_INCOMPATIBLE"); name != "" {
		for _, tc := range tests {
			if tc.name == name {
				_ = tc.verify(t)
			}
		}
		return
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestIncompatibleProviderFails$", "-test.count=1")
			cmd.Env = append(os.Environ(), "ESTATE_PACT_INCOMPATIBLE="+tc.name)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "the verification of an incompatible provider passed:\n%s", out)
			require.Contains(t, string(out), tc.want, "the failure names what differs:\n%s", out)
		})
	}
}

// rewritePact writes a copy of the pact file with from replaced by to, as
// a consumer that changed without its provider would, and returns its path.
func rewritePact(t *testing.T, file, from, to string) string {
	b, err := os.ReadFile(filepath.Join(contractsDir(t), file))
	require.NoError(t, err)
	require.Contains(t, string(b), from, "the pact names %s", from)
	out := filepath.Join(t.TempDir(), file)
	require.NoError(t, os.WriteFile(out, bytes.ReplaceAll(b, []byte(from), []byte(to)), 0o600))
	return out
}

// renameAmountDue rewrites invoice responses as a careless change would:
// amount_due becomes amountDue.
func renameAmountDue(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body, _ := io.ReadAll(rec.Body)
		if strings.HasPrefix(r.URL.Path, "/v1/invoices/") {
			body = bytes.ReplaceAll(body, []byte(`"amount_due"`), []byte(`"amountDue"`))
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
}
