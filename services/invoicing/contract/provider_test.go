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
	"testing"
	"time"

	"github.com/pact-foundation/pact-go/v2/log"
	"github.com/pact-foundation/pact-go/v2/message"
	"github.com/pact-foundation/pact-go/v2/models"
	"github.com/pact-foundation/pact-go/v2/provider"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/logging"
	"github.com/estatehq/estate/internal/testenv"
	"github.com/estatehq/estate/services/invoicing"
	invoicinghttp "github.com/estatehq/estate/services/invoicing/http"
	"github.com/estatehq/estate/services/invoicing/sqlite"
	"github.com/estatehq/estate/services/kit/auth"
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

// provider is the real invoicing API on a real (SQLite) store.
type providerEnv struct {
	store  *sqlite.Store
	svc    *invoicing.Service
	issuer *auth.DevIssuer
	url    string
	now    time.Time
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

// invoice writes an invoice of 100.00 eur from the issuer, open or paid.
func (p *providerEnv) invoice(ctx context.Context, id string, status invoicing.Status) error {
	finalized := p.now.AddDate(0, 0, -10)
	inv := &invoicing.Invoice{
		ID: id, Number: "INV-" + id, IssuerID: issuerID, CustomerID: customerID, Currency: "eur",
		DueDate:   p.now.AddDate(0, 0, 20).Format(invoicing.DateLayout),
		LineItems: []invoicing.LineItem{{Description: "Work", Quantity: 1, UnitAmount: 10000, Amount: 10000}},
		Subtotal:  10000, Total: 10000, AmountDue: 10000, Status: invoicing.StatusOpen,
		Transitions: invoicing.StatusTransitions{FinalizedAt: &finalized},
		CreatedAt:   finalized, UpdatedAt: finalized, Version: 1,
	}
	if status == invoicing.StatusPaid {
		paid := p.now.AddDate(0, 0, -1)
		inv.Status, inv.AmountPaid, inv.AmountDue, inv.Transitions.PaidAt = invoicing.StatusPaid, 10000, 0, &paid
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
		"business bus_pact_issuer has invoices paid in eur": state(func() error {
			return errors.Join(p.invoice(ctx, "in_pact_h1", invoicing.StatusPaid), p.invoice(ctx, "in_pact_h2", invoicing.StatusPaid), p.invoice(ctx, "in_pact_h3", invoicing.StatusPaid))
		}),
		"business bus_pact_issuer issued the open invoice in_pact_open": state(func() error { return p.invoice(ctx, "in_pact_open", invoicing.StatusOpen) }),
		"business bus_pact_issuer issued the paid invoice in_pact_paid": state(func() error { return p.invoice(ctx, "in_pact_paid", invoicing.StatusPaid) }),
		"there is no invoice in_pact_missing":                           state(func() error { return nil }),
	}
}

// authenticate replaces the pact's example token with a machine token of
// the development issuer acting for the issuer, as the credit service's is.
func (p *providerEnv) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			tok, err := p.issuer.Sign(auth.TokenRequest{Subject: "estate-credit", BusinessID: issuerID, Scopes: []string{invoicinghttp.HistoryScope}})
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		next.ServeHTTP(w, r)
	})
}

func verifyHTTP(t *testing.T, p *providerEnv) error {
	return provider.NewVerifier().VerifyProvider(t, provider.VerifyRequest{
		ProviderBaseURL: p.url, Provider: "invoicing",
		PactFiles:     []string{filepath.Join(contractsDir(t), "credit-invoicing.json")},
		StateHandlers: p.stateHandlers(), RequestFilter: p.authenticate,
		FailIfNoPactsFound: true, DisableColoredOutput: true,
	})
}

// TestCreditPact replays the credit service's pact against the real
// invoicing API.
func TestCreditPact(t *testing.T) {
	requireFFI(t)
	require.NoError(t, verifyHTTP(t, newProvider(t, nil)))
}

// TestCreditMessagePact checks the invoice.paid message the credit service
// expects against the event the real outbox holds after a payment, encoded
// as the relay sends it.
func TestCreditMessagePact(t *testing.T) {
	requireFFI(t)
	p := newProvider(t, nil)
	ctx := context.Background()
	var event []byte
	err := provider.NewVerifier().VerifyProvider(t, provider.VerifyRequest{
		Provider:  "invoicing-events",
		PactFiles: []string{filepath.Join(contractsDir(t), "credit-invoicing-events.json")},
		StateHandlers: models.StateHandlers{
			"the invoice in_pact_open was paid": func(setup bool, _ models.ProviderState) (models.ProviderStateResponse, error) {
				if !setup {
					return nil, nil
				}
				if err := errors.Join(p.businesses(ctx), p.invoice(ctx, "in_pact_open", invoicing.StatusOpen)); err != nil {
					return nil, err
				}
				var err error
				event, err = p.paidEvent(ctx, "in_pact_open")
				return nil, err
			},
		},
		MessageHandlers: message.Handlers{
			"an invoice.paid event": func([]models.ProviderState) (message.Body, message.Metadata, error) {
				if event == nil {
					return nil, nil, errors.New("no invoice.paid event was written")
				}
				return json.RawMessage(event), message.Metadata{"contentType": "application/json"}, nil
			},
		},
		FailIfNoPactsFound: true, DisableColoredOutput: true,
	})
	require.NoError(t, err)
}

// paidEvent pays the invoice in full through the service and returns the
// invoice.paid event of the outbox, encoded as the relay sends it.
func (p *providerEnv) paidEvent(ctx context.Context, invoiceID string) ([]byte, error) {
	inv, err := p.store.Invoice(ctx, invoiceID)
	if err != nil {
		return nil, err
	}
	if inv.Status == invoicing.StatusOpen {
		if _, _, err := p.svc.PayInvoice(ctx, invoicing.Caller{Subject: "owner-" + issuerID, BusinessID: issuerID}, invoiceID,
			invoicing.PaymentInput{Amount: inv.AmountDue, Method: "bank_transfer"}, nil); err != nil {
			return nil, fmt.Errorf("paying: %w", err)
		}
	}
	events, err := p.store.Pending(ctx, "pact", time.Now().Add(time.Hour), 1000)
	if err != nil {
		return nil, err
	}
	for _, e := range events {
		if e.Type == invoicing.EventInvoicePaid && e.Subject == invoiceID {
			return outbox.Encode(e)
		}
	}
	return nil, errors.New("no invoice.paid event in the outbox")
}

// TestIncompatibleProviderFails proves the gate works: an invoicing API
// whose invoices name amount_due differently (a change built here, not in
// the product) fails the credit pact. The verification runs in a child test
// process, whose failure is the expected outcome.
func TestIncompatibleProviderFails(t *testing.T) {
	requireFFI(t)
	if os.Getenv("ESTATE_PACT_INCOMPATIBLE") == "1" {
		p := newProvider(t, renameAmountDue)
		_ = verifyHTTP(t, p)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestIncompatibleProviderFails$", "-test.count=1")
	cmd.Env = append(os.Environ(), "ESTATE_PACT_INCOMPATIBLE=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the verification of an incompatible provider passed:\n%s", out)
	require.Contains(t, string(out), "amount_due", "the failure names the missing field:\n%s", out)
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
