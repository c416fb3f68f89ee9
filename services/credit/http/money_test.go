package http_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/logging"
	"github.com/estatehq/estate/services/contracts"
	"github.com/estatehq/estate/services/credit"
)

func (e *env) apply(tn tenant, limit int64, currency string) map[string]any {
	e.t.Helper()
	return expect(e.t, e.do(e.credit.URL, "POST", "/v1/credit/applications", tn.token, map[string]any{"requested_limit": limit, "currency": currency}), 201).Body
}

func (e *env) draw(tn tenant, invoice string, amount int64) resp {
	e.t.Helper()
	return e.do(e.credit.URL, "POST", "/v1/credit/drawdowns", tn.token, map[string]any{"invoice_id": invoice, "amount": amount})
}

func (e *env) invoiceOf(tn tenant, id string) map[string]any {
	e.t.Helper()
	return expect(e.t, e.do(e.invoices.URL, "GET", "/v1/invoices/"+id, tn.token, nil), 200).Body
}

func (e *env) deliver() {
	e.t.Helper()
	_, err := e.relay.DeliverOnce(context.Background())
	require.NoError(e.t, err)
	drain(e.delivered)
}

func (e *env) owed() []credit.Release {
	e.t.Helper()
	rs, err := e.creditStore.OwedReleases(context.Background(), e.clock.Now().AddDate(1, 0, 0), 100)
	require.NoError(e.t, err)
	return rs
}

func codes(reasons any) []string {
	var out []string
	for _, r := range reasons.([]any) {
		code, _, _ := strings.Cut(r.(string), ":")
		out = append(out, code)
	}
	return out
}

// TestCreditAbuseReplay replays what probing the services found: an issuer
// recording "cash" payments on its own invoices to a business that never
// paid, to win a credit line; a "cash" entry on a financed invoice to free
// the credit it drew; and voiding a financed invoice. None of it gets
// credit or frees any.
func TestCreditAbuseReplay(t *testing.T) {
	e := newEnv(t)

	// Three self-declared payments of 1,000,000 asked a limit of 1,500,000.
	me, shell := e.register("me"), e.register("shell")
	for range 3 {
		inv := e.invoice(me, shell, 1_000_000, 30)
		e.record(me, inv, 1_000_000, "cash")
	}
	for range 3 {
		e.invoice(me, shell, 0, 30) // paid at once, with no payment at all
	}
	a := e.apply(me, 1_500_000, "EUR")
	require.Equal(t, "declined", a["status"])
	require.Equal(t, []string{credit.ReasonHistoryTooShort}, codes(a["reasons"]))
	expect(t, e.do(e.credit.URL, "GET", "/v1/credit/line", me.token, nil), 404)
	// The rule, not chance, declines it: a policy that took the issuer's
	// word would have granted it all.
	gullible := credit.New(credit.Options{Store: e.creditStore, Invoicing: e.client, Now: e.clock.Now, Logger: logging.Discard(),
		Trust: credit.Trust{contracts.ProvenanceIssuerRecorded}})
	got, err := gullible.Apply(context.Background(), credit.Caller{Subject: "me", BusinessID: me.id}, 1_500_000, "eur")
	require.NoError(t, err)
	require.Equal(t, []any{credit.Approved, int64(1_500_000)}, []any{got.Status, got.ApprovedLimit})

	// A business with a history its customer's payments vouch for.
	good, customer := e.withHistory("good", 3, 10_000)
	require.Equal(t, "approved", e.apply(good, 10_000, "eur")["status"])
	financed := e.invoice(good, customer, 10_000, 30)
	expect(t, e.draw(good, financed, 8000), 201)
	require.Equal(t, true, e.invoiceOf(good, financed)["financed"])
	e.deliver()

	// A "cash" entry pays the financed invoice in full: no credit is freed,
	// by the event nor by the reconciler.
	cash := e.record(good, financed, 10_000, "cash")
	require.Equal(t, "paid", e.invoiceOf(good, financed)["status"])
	e.deliver()
	require.Equal(t, int64(8000), num(e.line(good)["drawn"]))
	e.clock.Add(time.Hour)
	n, err := e.creditSvc.Reconcile(context.Background(), e.clock.Now().Add(-10*time.Minute), 100)
	require.NoError(t, err)
	require.Zero(t, n)
	require.Equal(t, int64(8000), num(e.line(good)["drawn"]))

	// A financed invoice cannot be voided nor marked uncollectible.
	open := e.invoice(good, customer, 2000, 30)
	expect(t, e.draw(good, open, 1000), 201)
	for _, action := range []string{"void", "mark-uncollectible"} {
		r := expect(t, e.do(e.invoices.URL, "POST", "/v1/invoices/"+open+"/"+action, good.token, nil), 409)
		require.Contains(t, r.Body["detail"], "financed")
	}
	require.Equal(t, "open", e.invoiceOf(good, open)["status"])
	require.Equal(t, int64(9000), num(e.line(good)["drawn"]))
	list := expect(t, e.do(e.credit.URL, "GET", "/v1/credit/drawdowns", good.token, nil), 200)
	for _, d := range list.Body["data"].([]any) {
		require.Equal(t, "active", d.(map[string]any)["status"])
	}

	// Once the customer confirms the cash, the drawdown is repaid and the
	// invoice's hold released.
	e.confirm(customer, financed, cash)
	e.deliver()
	require.Equal(t, int64(1000), num(e.line(good)["drawn"]))
	require.Equal(t, false, e.invoiceOf(good, financed)["financed"])
	require.Empty(t, e.owed())
}

// hooked is the real client of the invoicing API with a hook run before
// each Finance, to put the invoicing service in the state a race would
// have left it, and the answer Finance may be made to give.
type hooked struct {
	credit.Invoicing
	beforeFinance func()
	finance       func(err error) error
}

func (h *hooked) Finance(ctx context.Context, business, invoice, drawdown string) error {
	if h.beforeFinance != nil {
		h.beforeFinance()
	}
	err := h.Invoicing.Finance(ctx, business, invoice, drawdown)
	if h.finance != nil {
		return h.finance(err)
	}
	return err
}

// TestDrawHoldsTheInvoice: the invoicing service holds an invoice as
// financed before the drawdown is written, and a hold whose drawdown is
// not written is released, at once or by the reconciler.
func TestDrawHoldsTheInvoice(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	me, customer := e.withHistory("me", 3, 10_000)
	e.apply(me, 10_000, "eur")
	caller := credit.Caller{Subject: "me", BusinessID: me.id}
	service := func(h *hooked) *credit.Service {
		h.Invoicing = e.client
		return credit.New(credit.Options{Store: e.creditStore, Invoicing: h, Now: e.clock.Now, Logger: logging.Discard()})
	}

	t.Run("a void that came first wins", func(t *testing.T) {
		inv := e.invoice(me, customer, 1000, 30)
		svc := service(&hooked{beforeFinance: func() {
			expect(t, e.do(e.invoices.URL, "POST", "/v1/invoices/"+inv+"/void", me.token, nil), 200)
		}})
		_, err := svc.Draw(ctx, caller, inv, 500)
		require.Equal(t, credit.ECONFLICT, credit.ErrorCode(err))
		require.Contains(t, err.Error(), "cannot finance an invoice whose status is void")
		require.Equal(t, int64(0), num(e.line(me)["drawn"]))
		require.Empty(t, e.owed())
	})

	t.Run("a drawdown refused after the hold releases it", func(t *testing.T) {
		inv, other := e.invoice(me, customer, 10_000, 30), e.invoice(me, customer, 10_000, 30)
		svc := service(&hooked{})
		svc2 := service(&hooked{beforeFinance: func() {
			_, err := svc.Draw(ctx, caller, other, 8000) // takes the credit first
			require.NoError(t, err)
		}})
		_, err := svc2.Draw(ctx, caller, inv, 8000)
		require.Equal(t, credit.ECONFLICT, credit.ErrorCode(err))
		require.Contains(t, err.Error(), "exceeds the available credit")
		require.Equal(t, false, e.invoiceOf(me, inv)["financed"], "released at once")
		require.Equal(t, true, e.invoiceOf(me, other)["financed"])
		require.Empty(t, e.owed())
		require.Equal(t, int64(8000), num(e.line(me)["drawn"]))
	})

	t.Run("a hold whose answer was lost is released by the reconciler", func(t *testing.T) {
		inv := e.invoice(me, customer, 1000, 30)
		svc := service(&hooked{finance: func(err error) error {
			require.NoError(t, err)
			return &credit.Error{Code: credit.EUNAVAILABLE, Message: "timed out", RetryAfter: time.Second}
		}})
		_, err := svc.Draw(ctx, caller, inv, 100)
		require.Equal(t, credit.EUNAVAILABLE, credit.ErrorCode(err))
		require.Equal(t, true, e.invoiceOf(me, inv)["financed"], "held, though the drawdown was not written")
		require.Len(t, e.owed(), 1)
		expect(t, e.do(e.invoices.URL, "POST", "/v1/invoices/"+inv+"/void", me.token, nil), 409)

		_, err = e.creditSvc.Reconcile(ctx, e.clock.Now().Add(-10*time.Minute), 100)
		require.NoError(t, err)
		require.Len(t, e.owed(), 1, "not before the release is stale: the drawdown may still be written")
		e.clock.Add(time.Hour)
		_, err = e.creditSvc.Reconcile(ctx, e.clock.Now().Add(-10*time.Minute), 100)
		require.NoError(t, err)
		require.Empty(t, e.owed())
		require.Equal(t, false, e.invoiceOf(me, inv)["financed"])
		expect(t, e.do(e.invoices.URL, "POST", "/v1/invoices/"+inv+"/void", me.token, nil), 200)
	})

	t.Run("a retry under the same key holds the invoice again", func(t *testing.T) {
		// The first attempt holds the invoice and dies before it saves the
		// drawdown (here: its answer is lost); the retry with the same
		// Idempotency-Key holds it under the same id and saves it.
		inv := e.invoice(me, customer, 1000, 30)
		keyed := credit.Caller{Subject: "me", BusinessID: me.id, RequestKey: "draw-once"}
		svc := service(&hooked{finance: func(err error) error {
			require.NoError(t, err)
			return &credit.Error{Code: credit.EUNAVAILABLE, Message: "timed out", RetryAfter: time.Second}
		}})
		_, err := svc.Draw(ctx, keyed, inv, 100)
		require.Equal(t, credit.EUNAVAILABLE, credit.ErrorCode(err))
		require.Equal(t, true, e.invoiceOf(me, inv)["financed"])

		d, err := service(&hooked{}).Draw(ctx, keyed, inv, 100)
		require.NoError(t, err, "the hold of the first attempt is the retry's own")
		require.Equal(t, int64(100), d.Amount)
		require.Empty(t, e.owed(), "the saved drawdown owes no release")

		// Another key is another drawdown: the invoice is taken.
		other := credit.Caller{Subject: "me", BusinessID: me.id, RequestKey: "draw-twice"}
		_, err = service(&hooked{}).Draw(ctx, other, inv, 100)
		require.Equal(t, credit.ECONFLICT, credit.ErrorCode(err))
	})
}

func TestApplicationCurrencies(t *testing.T) {
	e := newEnv(t)
	me, _ := e.withHistory("me", 3, 10_000)
	for _, cur := range []string{"eur", "EUR", "Eur"} {
		a := e.apply(me, 1000, cur)
		require.Equal(t, "EUR", a["currency"])
		require.Equal(t, "approved", a["status"])
	}
	for _, bad := range []string{"XAU", "xts", "ZZZ"} {
		r := expect(t, e.do(e.credit.URL, "POST", "/v1/credit/applications", me.token, map[string]any{"requested_limit": 1000, "currency": bad}), 422)
		errs := r.Body["errors"].([]any)
		require.Equal(t, "body.currency", errs[0].(map[string]any)["location"])
	}
	usd := e.apply(me, 1000, "usd")
	require.Equal(t, "declined", usd["status"], "no history in USD")
	require.Equal(t, "USD", usd["currency"])
}
