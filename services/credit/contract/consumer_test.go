package contract_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pact-foundation/pact-go/v2/consumer"
	"github.com/pact-foundation/pact-go/v2/log"
	"github.com/pact-foundation/pact-go/v2/matchers"
	message "github.com/pact-foundation/pact-go/v2/message/v4"
	"github.com/pact-foundation/pact-go/v2/models"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/testenv"
	"github.com/estatehq/estate/services/contracts"
	"github.com/estatehq/estate/services/credit"
	credithttp "github.com/estatehq/estate/services/credit/http"
	"github.com/estatehq/estate/services/credit/invoicingapi"
	creditsqlite "github.com/estatehq/estate/services/credit/sqlite"
)

// The names of the pacts: contracts/credit-invoicing.json and
// contracts/credit-invoicing-events.json.
const (
	consumerName = "credit"
	providerHTTP = "invoicing"
	providerMsg  = "invoicing-events"
)

// Provider states; the provider verification sets each up through its
// store. The ids are fixed so the consumer can name them.
const (
	stateHistory        = "business bus_pact_issuer has invoices paid in EUR, their payments confirmed by the customer"
	stateOpenInvoice    = "business bus_pact_issuer issued the open invoice in_pact_open"
	statePaidInvoice    = "business bus_pact_issuer issued the paid invoice in_pact_paid, its payment confirmed by the customer"
	stateFinanced       = "business bus_pact_issuer issued the open invoice in_pact_financed, financed by the drawdown dd_pact"
	stateNoInvoice      = "there is no invoice in_pact_missing"
	stateOwner          = "business bus_pact_issuer is registered by the subject owner-bus_pact_issuer"
	statePaidEvent      = "the invoice in_pact_open was paid"
	stateConfirmedEvent = "the customer of the invoice in_pact_confirmed confirmed its payment"
	// stateToken has a parameter, scope: the scopes of the caller's machine
	// token, space-separated as in OAuth 2.0.
	stateToken = "the caller holds a machine token acting for bus_pact_issuer"
)

// token is the state of a machine token with the given scopes.
func token(scopes ...string) models.ProviderState {
	return models.ProviderState{Name: stateToken, Parameters: map[string]any{"scope": strings.Join(scopes, " ")}}
}

// contractsDir is contracts/ at the root of the repository.
const contractsDir = "../../../contracts"

// written is where the tests write their pacts; TestMain then moves them to
// contractsDir with a rename, so that the provider verification, which may
// run at the same time in another test process, never reads half a file.
var written string

func TestMain(m *testing.M) {
	_ = log.SetLogLevel("ERROR")
	dir, err := os.MkdirTemp("", "credit-pacts")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	written = dir
	code := m.Run()
	if code == 0 {
		if err := publish(dir, contractsDir); err != nil {
			fmt.Fprintln(os.Stderr, "publishing pacts:", err)
			code = 1
		}
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// publish replaces each pact of to that differs from the one in from.
func publish(from, to string) error {
	files, err := filepath.Glob(filepath.Join(from, "*.json"))
	if err != nil {
		return err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, filepath.Base(f))
		if old, err := os.ReadFile(dst); err == nil && bytes.Equal(old, b) {
			continue
		}
		tmp, err := os.CreateTemp(to, ".pact-*")
		if err != nil {
			return err
		}
		_, werr := tmp.Write(b)
		if err := errors.Join(werr, tmp.Close()); err != nil {
			_ = os.Remove(tmp.Name())
			return err
		}
		if err := os.Rename(tmp.Name(), dst); err != nil {
			_ = os.Remove(tmp.Name())
			return err
		}
	}
	return nil
}

func pactDir(*testing.T) string { return written }

// requireFFI reports a missing Pact FFI library: a failure in strict mode.
func requireFFI(t *testing.T) {
	t.Helper()
	dir := os.Getenv("ESTATE_PACT_FFI_DIR")
	if _, err := os.Stat(filepath.Join(dir, "libpact_ffi.so")); dir == "" || err != nil {
		testenv.Missing(t, "the Pact FFI library", "run `make test`, which unpacks libpact_ffi.so from @pact-foundation/pact-core-linux-x64-glibc@18.1.0 into build/pact and sets ESTATE_PACT_FFI_DIR")
	}
}

// client calls the mock provider on port; asked gets the scopes of each
// token it asks for.
func client(t *testing.T, port int, asked *[][]string) *invoicingapi.Client {
	c, err := invoicingapi.New(invoicingapi.Options{
		BaseURL: fmt.Sprintf("http://127.0.0.1:%d", port),
		Token: func(_ context.Context, _ string, scopes []string) (string, error) {
			*asked = append(*asked, scopes)
			return "machine-token", nil
		},
		Attempts: 1,
	})
	require.NoError(t, err)
	return c
}

var (
	like    = matchers.Like
	integer = matchers.Integer
)

func str(s string) matchers.S { return matchers.S(s) }

// currency matches an ISO 4217 code in upper case, as the invoicing API
// answers them.
func currency() matchers.Matcher { return matchers.Regex("EUR", `^[A-Z]{3}$`) }

// provenance matches the name of a payment provenance, as services/contracts
// spells them; the pact carries the names, so a provider that spells them
// otherwise fails it.
func provenance(example string) matchers.Matcher {
	return matchers.Regex(example, "^("+strings.Join(contracts.Provenances(), "|")+")$")
}

// timestamp matches an RFC 3339 time in UTC as the invoicing API writes
// them; the example is fixed so that the pact file does not change.
func timestamp() matchers.Matcher {
	return matchers.Regex("2026-01-15T10:00:00Z", `^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$`)
}

// invoiceBody is the part of an invoice the credit service reads.
func invoiceBody(id, status string) matchers.StructMatcher {
	m := matchers.StructMatcher{
		"id":         str(id),
		"status":     str(status),
		"issuer":     str("bus_pact_issuer"),
		"customer":   like("bus_pact_customer"),
		"currency":   currency(),
		"total":      integer(10000),
		"amount_due": integer(10000),
		"status_transitions": matchers.Like(map[string]any{
			"finalized_at": timestamp(),
		}),
		"amount_paid_by_provenance": paidBy(0),
		"financed":                  matchers.Like(false),
	}
	if status == "paid" {
		m["amount_due"] = integer(0)
		m["status_transitions"] = matchers.Like(map[string]any{"finalized_at": timestamp(), "paid_at": timestamp()})
		m["amount_paid_by_provenance"] = paidBy(10000)
	}
	return m
}

// paidBy is an invoice's amount paid by provenance, confirmed by the
// customer.
func paidBy(confirmed int64) matchers.StructMatcher {
	return matchers.StructMatcher{
		contracts.ProvenanceIssuerRecorded:    integer(0),
		contracts.ProvenanceCustomerConfirmed: integer(int(confirmed)),
		contracts.ProvenanceProviderReported:  integer(0),
	}
}

func TestInvoicingAPI(t *testing.T) {
	requireFFI(t)
	pact, err := consumer.NewV4Pact(consumer.MockHTTPProviderConfig{
		Consumer: consumerName, Provider: providerHTTP, Host: "127.0.0.1", PactDir: pactDir(t),
	})
	require.NoError(t, err)
	auth := like("Bearer eyJhbGciOiJSUzI1NiJ9.machine.token")

	t.Run("invoice history", func(t *testing.T) {
		var asked [][]string
		err := pact.AddInteraction().
			Given(stateHistory).
			GivenWithParameter(token(contracts.HistoryScope)).
			UponReceiving("a request for the invoice history of a business").
			WithRequest("GET", "/v1/businesses/bus_pact_issuer/invoice-history", func(b *consumer.V4RequestBuilder) {
				b.Header("Authorization", auth).Query("days", str("90"))
			}).
			WillRespondWith(200, func(b *consumer.V4ResponseBuilder) {
				b.Header("Content-Type", matchers.Regex("application/json", `^application/json`)).
					JSONBody(matchers.StructMatcher{
						"business": str("bus_pact_issuer"),
						"days":     integer(90),
						"currencies": matchers.EachLike(matchers.StructMatcher{
							"currency":           currency(),
							"issued_count":       integer(3),
							"paid_count":         integer(3),
							"paid_amount":        integer(30000),
							"paid_on_time_count": integer(3),
							"overdue_count":      integer(0),
							"overdue_amount":     integer(0),
							"paid_by_provenance": matchers.EachLike(matchers.StructMatcher{
								"provenances":   matchers.EachLike(provenance(contracts.ProvenanceCustomerConfirmed), 1),
								"count":         integer(3),
								"amount":        integer(30000),
								"on_time_count": integer(3),
							}, 1),
						}, 1),
					})
			}).
			ExecuteTest(t, func(cfg consumer.MockServerConfig) error {
				h, err := client(t, cfg.Port, &asked).History(context.Background(), "bus_pact_issuer", 90)
				if err != nil {
					return err
				}
				require.Equal(t, credit.CurrencyHistory{Currency: "EUR", IssuedCount: 3, PaidCount: 3, PaidAmount: 30000, PaidOnTimeCount: 3,
					Paid: []credit.PaidGroup{{Provenances: []string{contracts.ProvenanceCustomerConfirmed}, Count: 3, Amount: 30000, OnTimeCount: 3}}}, h.In("eur"))
				require.Equal(t, int64(3), credit.DefaultTrust().History(h.In("EUR")).PaidCount, "the default policy trusts these payments")
				return nil
			})
		require.NoError(t, err)
		require.Equal(t, [][]string{{contracts.HistoryScope}}, asked, "the client asks for the scope the pact names")
	})

	for _, tc := range []struct{ state, id, status string }{
		{stateOpenInvoice, "in_pact_open", "open"},
		{statePaidInvoice, "in_pact_paid", "paid"},
	} {
		t.Run("invoice lookup "+tc.status, func(t *testing.T) {
			var asked [][]string
			err := pact.AddInteraction().
				Given(tc.state).
				GivenWithParameter(token()).
				UponReceiving("a request for the "+tc.status+" invoice "+tc.id+" by its issuer").
				WithRequest("GET", "/v1/invoices/"+tc.id, func(b *consumer.V4RequestBuilder) {
					b.Header("Authorization", auth)
				}).
				WillRespondWith(200, func(b *consumer.V4ResponseBuilder) {
					b.Header("Content-Type", matchers.Regex("application/json", `^application/json`)).JSONBody(invoiceBody(tc.id, tc.status))
				}).
				ExecuteTest(t, func(cfg consumer.MockServerConfig) error {
					inv, err := client(t, cfg.Port, &asked).Invoice(context.Background(), "bus_pact_issuer", tc.id)
					if err != nil {
						return err
					}
					require.Equal(t, tc.status, inv.Status)
					require.Equal(t, "bus_pact_issuer", inv.Issuer)
					require.Equal(t, tc.status == "paid", inv.PaidAt != nil)
					require.Equal(t, tc.status == "paid", credit.DefaultTrust().Repaid(inv), "a paid invoice confirmed by its customer repays")
					return nil
				})
			require.NoError(t, err)
			require.Equal(t, [][]string{nil}, asked, "a lookup needs no scope")
		})
	}

	t.Run("financing hold", func(t *testing.T) {
		var asked [][]string
		body := invoiceBody("in_pact_open", "open")
		body["financed"] = matchers.Like(true)
		err := pact.AddInteraction().
			Given(stateOpenInvoice).
			GivenWithParameter(token(contracts.FinancingScope)).
			UponReceiving("a request to hold the open invoice in_pact_open as financed by the drawdown dd_pact").
			WithRequest("PUT", "/v1/invoices/in_pact_open/financing/dd_pact", func(b *consumer.V4RequestBuilder) {
				b.Header("Authorization", auth)
			}).
			WillRespondWith(200, func(b *consumer.V4ResponseBuilder) {
				b.Header("Content-Type", matchers.Regex("application/json", `^application/json`)).JSONBody(body)
			}).
			ExecuteTest(t, func(cfg consumer.MockServerConfig) error {
				return client(t, cfg.Port, &asked).Finance(context.Background(), "bus_pact_issuer", "in_pact_open", "dd_pact")
			})
		require.NoError(t, err)
		require.Equal(t, [][]string{{contracts.FinancingScope}}, asked, "the client asks for the scope the pact names")
	})

	t.Run("financing hold refused", func(t *testing.T) {
		var asked [][]string
		err := pact.AddInteraction().
			Given(statePaidInvoice).
			GivenWithParameter(token(contracts.FinancingScope)).
			UponReceiving("a request to hold the paid invoice in_pact_paid as financed").
			WithRequest("PUT", "/v1/invoices/in_pact_paid/financing/dd_pact", func(b *consumer.V4RequestBuilder) {
				b.Header("Authorization", auth)
			}).
			WillRespondWith(409, func(b *consumer.V4ResponseBuilder) {
				b.Header("Content-Type", str("application/problem+json")).
					JSONBody(matchers.StructMatcher{"detail": like("cannot finance an invoice whose status is paid")})
			}).
			ExecuteTest(t, func(cfg consumer.MockServerConfig) error {
				err := client(t, cfg.Port, &asked).Finance(context.Background(), "bus_pact_issuer", "in_pact_paid", "dd_pact")
				require.Equal(t, credit.ECONFLICT, credit.ErrorCode(err))
				require.ErrorContains(t, err, "cannot finance an invoice whose status is paid")
				return nil
			})
		require.NoError(t, err)
	})

	t.Run("financing release", func(t *testing.T) {
		var asked [][]string
		err := pact.AddInteraction().
			Given(stateFinanced).
			GivenWithParameter(token(contracts.FinancingScope)).
			UponReceiving("a request to end the financing of the invoice in_pact_financed by the drawdown dd_pact").
			WithRequest("DELETE", "/v1/invoices/in_pact_financed/financing/dd_pact", func(b *consumer.V4RequestBuilder) {
				b.Header("Authorization", auth)
			}).
			WillRespondWith(204).
			ExecuteTest(t, func(cfg consumer.MockServerConfig) error {
				return client(t, cfg.Port, &asked).ReleaseFinancing(context.Background(), "bus_pact_issuer", "in_pact_financed", "dd_pact")
			})
		require.NoError(t, err)
		require.Equal(t, [][]string{{contracts.FinancingScope}}, asked)
	})

	t.Run("memberships", func(t *testing.T) {
		var asked [][]string
		err := pact.AddInteraction().
			Given(stateOwner).
			GivenWithParameter(token()).
			UponReceiving("a request for the memberships of the subject owner-bus_pact_issuer").
			WithRequest("GET", "/v1/memberships", func(b *consumer.V4RequestBuilder) {
				b.Header("Authorization", auth).Query("subject", str("owner-bus_pact_issuer"))
			}).
			WillRespondWith(200, func(b *consumer.V4ResponseBuilder) {
				b.Header("Content-Type", matchers.Regex("application/json", `^application/json`)).
					JSONBody(matchers.StructMatcher{
						"data": matchers.EachLike(matchers.StructMatcher{
							"business": str("bus_pact_issuer"),
							"role":     matchers.Regex(contracts.RoleOwner, "^(owner|finance|read_only)$"),
						}, 1),
					})
			}).
			ExecuteTest(t, func(cfg consumer.MockServerConfig) error {
				ms, err := client(t, cfg.Port, &asked).Memberships(context.Background(), "owner-bus_pact_issuer")
				if err != nil {
					return err
				}
				require.Equal(t, []contracts.Membership{{Business: "bus_pact_issuer", Role: contracts.RoleOwner}}, ms)
				return nil
			})
		require.NoError(t, err)
	})

	t.Run("unknown invoice", func(t *testing.T) {
		var asked [][]string
		err := pact.AddInteraction().
			Given(stateNoInvoice).
			GivenWithParameter(token()).
			UponReceiving("a request for an invoice that does not exist").
			WithRequest("GET", "/v1/invoices/in_pact_missing", func(b *consumer.V4RequestBuilder) {
				b.Header("Authorization", auth)
			}).
			WillRespondWith(404, func(b *consumer.V4ResponseBuilder) {
				b.Header("Content-Type", str("application/problem+json"))
			}).
			ExecuteTest(t, func(cfg consumer.MockServerConfig) error {
				_, err := client(t, cfg.Port, &asked).Invoice(context.Background(), "bus_pact_issuer", "in_pact_missing")
				require.Equal(t, credit.ENOTFOUND, credit.ErrorCode(err))
				return nil
			})
		require.NoError(t, err)
	})
}

// eventReceiver is the credit API on a real (SQLite) store that finances no
// invoice.
func eventReceiver(t *testing.T) http.Handler {
	store, err := creditsqlite.Open(context.Background(), filepath.Join(t.TempDir(), "credit.db"), creditsqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	return credithttp.NewServer(credithttp.Options{Service: credit.New(credit.Options{Store: store}), Idempotency: store})
}

func TestInvoicePaidMessage(t *testing.T) {
	requireFFI(t)
	pact, err := message.NewAsynchronousPact(message.Config{Consumer: consumerName, Provider: providerMsg, PactDir: pactDir(t)})
	require.NoError(t, err)
	// A structured-mode CloudEvent is a JSON document; the relay posts it as
	// application/cloudevents+json, which the receiver's own tests check.
	// path is where the credit API receives it.
	metadata := map[string]string{"contentType": "application/json", "path": contracts.CreditEventsPath}
	receiver := eventReceiver(t)
	for _, tc := range []struct{ state, description, typ, invoice, status string }{
		{statePaidEvent, "an invoice.paid event", credithttp.EventInvoicePaid, "in_pact_open", "paid"},
		{stateConfirmedEvent, "an invoice.payment_confirmed event", credithttp.EventPaymentConfirmed, "in_pact_confirmed", "paid"},
	} {
		err = pact.AddAsynchronousMessage().
			Given(tc.state).
			ExpectsToReceive(tc.description).
			WithMetadata(metadata).
			WithJSONContent(matchers.StructMatcher{
				"specversion": str("1.0"),
				"id":          like("evt_0a1b2c3d4e5f6g7h8j9k"),
				"type":        str(tc.typ),
				"source":      like("/estate/invoicing"),
				"data": matchers.StructMatcher{
					"invoice_id": str(tc.invoice),
					"issuer":     str("bus_pact_issuer"),
					"status":     str(tc.status),
				},
			}).
			ConsumedBy(func(m message.AsynchronousMessage) error {
				p, acted, err := credithttp.ParseEvent(m.Contents)
				if err != nil {
					return err
				}
				if !acted || p.InvoiceID != tc.invoice || p.EventID == "" {
					return fmt.Errorf("the event was not read as %s: %+v", tc.typ, p)
				}
				// The credit API takes it at the path the pact names: 204,
				// as for any invoice it did not finance.
				req := httptest.NewRequest(http.MethodPost, metadata["path"], bytes.NewReader(m.Contents))
				req.Header.Set("Content-Type", metadata["contentType"])
				rec := httptest.NewRecorder()
				receiver.ServeHTTP(rec, req)
				if rec.Code != http.StatusNoContent {
					return fmt.Errorf("POST %s answered %d: %s", metadata["path"], rec.Code, rec.Body)
				}
				return nil
			}).
			Verify(t)
		require.NoError(t, err)
	}
}
