package invoicingtest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/sqldb"
	"github.com/estatehq/estate/services/invoicing"
)

// The suite's tests of the money rules: currency case, the provenance of
// payments, confirmation by the customer, reports of payment providers,
// the history by provenance, voiding, and the financing hold.

func (f *fixture) register(t *testing.T, sub string) (invoicing.Caller, *invoicing.Business) {
	t.Helper()
	c := invoicing.Caller{Subject: sub}
	b, err := f.svc.RegisterBusiness(context.Background(), c, invoicing.BusinessInput{LegalName: sub, Country: "FR", RegistrationNumber: "RCS " + sub, BillingEmail: sub + "@example.com"})
	require.NoError(t, err)
	return c, b
}

func (f *fixture) pay(t *testing.T, id string, amount int64) *invoicing.Payment {
	t.Helper()
	_, p, err := f.svc.PayInvoice(context.Background(), f.alice, id, invoicing.PaymentInput{Amount: amount, Method: "cash"}, nil)
	require.NoError(t, err)
	return p
}

func (f *fixture) report(id, invoiceID string, amount int64) (*invoicing.Invoice, *invoicing.Payment, bool, error) {
	return f.svc.ReportPayment(context.Background(), invoicing.ProviderPaymentInput{ID: id, InvoiceID: invoiceID,
		PaymentInput: invoicing.PaymentInput{Amount: amount, Method: "card", Reference: "ch_" + id}})
}

func stored(t *testing.T, s Store, id string) *invoicing.Invoice {
	t.Helper()
	inv, err := s.Invoice(context.Background(), id)
	require.NoError(t, err)
	return inv
}

func testCurrencyCase(t *testing.T, s Store) {
	f := newFixture(t, s)
	ctx := context.Background()
	for _, cur := range []string{"gbp", "GBP", "gBp"} {
		inv, err := f.svc.CreateInvoice(ctx, f.alice, invoicing.InvoiceInput{Customer: f.bobBiz.ID, Currency: cur, DueDate: "2026-04-01",
			LineItems: []invoicing.LineItemInput{{Description: "x", Quantity: 1, UnitAmount: 1}}})
		require.NoError(t, err)
		require.Equal(t, "GBP", inv.Currency)
		require.Equal(t, "GBP", stored(t, s, inv.ID).Currency)
	}
	usd := "usd"
	inv, err := f.svc.UpdateInvoice(ctx, f.alice, f.draft(t, 1).ID, invoicing.InvoicePatch{Currency: &usd}, nil)
	require.NoError(t, err)
	require.Equal(t, "USD", stored(t, s, inv.ID).Currency)
	for _, bad := range []string{"XAU", "xts", "zzz"} {
		_, err = f.svc.CreateInvoice(ctx, f.alice, invoicing.InvoiceInput{Customer: f.bobBiz.ID, Currency: bad, DueDate: "2026-04-01",
			LineItems: []invoicing.LineItemInput{{Description: "x", Quantity: 1, UnitAmount: 1}}})
		var e *invoicing.Error
		require.ErrorAs(t, err, &e)
		require.Equal(t, invoicing.EINVALID, e.Code)
		require.Equal(t, "currency", e.Fields[0].Field)
	}
}

func testPaymentProvenance(t *testing.T, s Store) {
	f := newFixture(t, s)
	ctx := context.Background()
	inv := f.open(t, 1000)
	paid, p, err := f.svc.PayInvoice(ctx, f.alice, inv.ID, invoicing.PaymentInput{Amount: 300, Method: "cash", Reference: "r"}, nil)
	require.NoError(t, err)
	require.Equal(t, invoicing.ProvenanceIssuerRecorded, p.Provenance)
	require.Nil(t, p.ConfirmedAt)
	require.Equal(t, invoicing.PaidByProvenance{IssuerRecorded: 300}, paid.PaidBy)
	require.Empty(t, cmp.Diff(paid, stored(t, s, inv.ID)))
	pays, err := s.Payments(ctx, inv.ID)
	require.NoError(t, err)
	require.Empty(t, cmp.Diff([]*invoicing.Payment{p}, pays))
}

func testConfirmPayment(t *testing.T, s Store) {
	f := newFixture(t, s)
	ctx := context.Background()
	carol, _ := f.register(t, "carol")
	inv := f.open(t, 1000)
	p1 := f.pay(t, inv.ID, 400)
	f.pay(t, inv.ID, 600)
	other := f.open(t, 50)
	theirs := f.pay(t, other.ID, 50)
	before := stored(t, s, inv.ID)

	refused := []struct {
		name    string
		caller  invoicing.Caller
		payment string
		code    string
	}{
		{"by the issuer", f.alice, p1.ID, invoicing.EFORBIDDEN},
		{"by a stranger", carol, p1.ID, invoicing.ENOTFOUND},
		{"an unknown payment", f.bob, "py_nope", invoicing.ENOTFOUND},
		{"a payment of another invoice", f.bob, theirs.ID, invoicing.ENOTFOUND},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := f.svc.ConfirmPayment(ctx, tc.caller, inv.ID, tc.payment)
			require.Equal(t, tc.code, invoicing.ErrorCode(err))
			require.Empty(t, cmp.Diff(before, stored(t, s, inv.ID)), "a refused confirmation writes nothing")
		})
	}

	f.clock.Add(time.Hour)
	got, p, err := f.svc.ConfirmPayment(ctx, f.bob, inv.ID, p1.ID)
	require.NoError(t, err)
	require.Equal(t, invoicing.ProvenanceCustomerConfirmed, p.Provenance)
	require.NotNil(t, p.ConfirmedAt)
	require.True(t, p.ConfirmedAt.Equal(f.clock.Now()))
	require.Equal(t, invoicing.PaidByProvenance{IssuerRecorded: 600, CustomerConfirmed: 400}, got.PaidBy)
	require.Equal(t, before.Version+1, got.Version)
	require.Equal(t, invoicing.StatusPaid, got.Status, "confirming changes no amount")
	require.Equal(t, int64(1000), got.AmountPaid)
	require.Empty(t, cmp.Diff(got, stored(t, s, inv.ID)))
	pays, err := s.Payments(ctx, inv.ID)
	require.NoError(t, err)
	require.Len(t, pays, 2)
	i := slices.IndexFunc(pays, func(q *invoicing.Payment) bool { return q.ID == p.ID })
	require.GreaterOrEqual(t, i, 0)
	require.Empty(t, cmp.Diff(p, pays[i]))

	again, p2, err := f.svc.ConfirmPayment(ctx, f.bob, inv.ID, p1.ID)
	require.NoError(t, err)
	require.Equal(t, got.Version, again.Version, "confirming again writes nothing")
	require.Empty(t, cmp.Diff(p, p2))

	events, err := s.Pending(ctx, "sub", f.clock.Now(), 100)
	require.NoError(t, err)
	confirmed := 0
	for _, e := range events {
		if e.Type == invoicing.EventPaymentConfirmed && e.Subject == inv.ID {
			confirmed++
		}
	}
	require.Equal(t, 1, confirmed, "one payment_confirmed event, written with the confirmation")
}

func testProviderPayments(t *testing.T, s Store) {
	f := newFixture(t, s)
	ctx := context.Background()
	inv := f.open(t, 1000)
	small := f.open(t, 500)
	draft := f.draft(t, 100)

	got, p, created, err := f.report("pi_1", inv.ID, 1000)
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, invoicing.ProvenanceProviderReported, p.Provenance)
	require.Equal(t, "pi_1", p.ProviderPaymentID)
	require.Equal(t, invoicing.StatusPaid, got.Status)
	require.Equal(t, invoicing.PaidByProvenance{ProviderReported: 1000}, got.PaidBy)
	require.Empty(t, cmp.Diff(got, stored(t, s, inv.ID)))
	pays, err := s.Payments(ctx, inv.ID)
	require.NoError(t, err)
	require.Empty(t, cmp.Diff([]*invoicing.Payment{p}, pays))

	again, p2, created, err := f.report("pi_1", inv.ID, 1000)
	require.NoError(t, err)
	require.False(t, created, "a repeated report records nothing")
	require.Empty(t, cmp.Diff(p, p2))
	require.Equal(t, got.Version, again.Version)

	tests := []struct {
		name, id, invoice string
		amount            int64
		code, field       string
	}{
		{"the same id for another invoice", "pi_1", small.ID, 500, invoicing.ECONFLICT, "id"},
		{"the same id with another amount", "pi_1", inv.ID, 999, invoicing.ECONFLICT, "id"},
		{"a paid invoice", "pi_2", inv.ID, 1, invoicing.ECONFLICT, ""},
		{"more than is due", "pi_3", small.ID, 501, invoicing.ECONFLICT, "amount"},
		{"a draft", "pi_4", draft.ID, 1, invoicing.ECONFLICT, ""},
		{"an unknown invoice", "pi_5", "in_nope", 1, invoicing.ENOTFOUND, ""},
		{"no id", "", small.ID, 1, invoicing.EINVALID, "id"},
		{"no amount", "pi_6", small.ID, 0, invoicing.EINVALID, "amount"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := f.report(tc.id, tc.invoice, tc.amount)
			require.Equal(t, tc.code, invoicing.ErrorCode(err), "%v", err)
			if tc.field != "" {
				var e *invoicing.Error
				require.ErrorAs(t, err, &e)
				require.Equal(t, tc.field, e.Fields[0].Field)
			}
		})
	}
	require.Equal(t, int64(0), stored(t, s, small.ID).AmountPaid, "no refused report paid anything")

	_, _, err = f.svc.ConfirmPayment(ctx, f.bob, inv.ID, p.ID)
	require.Equal(t, invoicing.ECONFLICT, invoicing.ErrorCode(err), "a provider's payment needs no confirmation")
}

func testConcurrentProviderReports(t *testing.T, s Store) {
	f := newFixture(t, s)
	ctx := context.Background()
	inv := f.open(t, 1000)
	var created atomic.Int64
	ids := sync.Map{}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			_, p, isNew, err := f.report("pi_race", inv.ID, 100)
			if err != nil {
				t.Errorf("reporting: %v", err)
				return
			}
			if isNew {
				created.Add(1)
			}
			ids.Store(p.ID, true)
		})
	}
	wg.Wait()
	require.Equal(t, int64(1), created.Load())
	n := 0
	ids.Range(func(any, any) bool { n++; return true })
	require.Equal(t, 1, n, "every report answers the one payment")
	require.Equal(t, int64(100), stored(t, s, inv.ID).AmountPaid)

	// One id reported for two invoices at once is recorded for one only.
	a, b := f.open(t, 100), f.open(t, 100)
	var ok, conflict atomic.Int64
	for _, id := range []string{a.ID, b.ID} {
		wg.Go(func() {
			_, _, _, err := f.report("pi_twice", id, 100)
			switch invoicing.ErrorCode(err) {
			case "":
				ok.Add(1)
			case invoicing.ECONFLICT:
				conflict.Add(1)
			default:
				t.Errorf("reporting: %v", err)
			}
		})
	}
	wg.Wait()
	require.Equal(t, []int64{1, 1}, []int64{ok.Load(), conflict.Load()})
	require.Equal(t, int64(100), stored(t, s, a.ID).AmountPaid+stored(t, s, b.ID).AmountPaid)
	pays, err := s.Payments(ctx, a.ID)
	require.NoError(t, err)
	more, err := s.Payments(ctx, b.ID)
	require.NoError(t, err)
	require.Len(t, append(pays, more...), 1)
}

func testHistoryByProvenance(t *testing.T, s Store) {
	f := newFixture(t, s)
	ctx := context.Background()
	issuer := f.open(t, 100)
	f.pay(t, issuer.ID, 100)
	confirmed := f.open(t, 200)
	p := f.pay(t, confirmed.ID, 200)
	_, _, err := f.svc.ConfirmPayment(ctx, f.bob, confirmed.ID, p.ID)
	require.NoError(t, err)
	provider := f.open(t, 300)
	_, _, _, err = f.report("pi_h1", provider.ID, 300)
	require.NoError(t, err)
	mixed := f.open(t, 400)
	f.pay(t, mixed.ID, 100)
	_, _, _, err = f.report("pi_h2", mixed.ID, 300)
	require.NoError(t, err)
	f.open(t, 0) // paid at once, with no payment
	partly := f.open(t, 500)
	f.pay(t, partly.ID, 100) // not paid: in no group
	late := f.open(t, 600)
	f.clock.Add(40 * 24 * time.Hour) // past the due date
	_, _, _, err = f.report("pi_h3", late.ID, 600)
	require.NoError(t, err)

	h, err := f.svc.History(ctx, f.aliceBiz.ID, 90)
	require.NoError(t, err)
	require.Len(t, h.Currencies, 1)
	c := h.Currencies[0]
	pr := func(ps ...invoicing.Provenance) []invoicing.Provenance { return ps }
	want := []invoicing.PaidGroup{
		{Provenances: nil, Count: 1, Amount: 0, OnTimeCount: 1, OnTimeAmount: 0},
		{Provenances: pr(invoicing.ProvenanceCustomerConfirmed), Count: 1, Amount: 200, OnTimeCount: 1, OnTimeAmount: 200},
		{Provenances: pr(invoicing.ProvenanceIssuerRecorded), Count: 1, Amount: 100, OnTimeCount: 1, OnTimeAmount: 100},
		{Provenances: pr(invoicing.ProvenanceProviderReported), Count: 2, Amount: 900, OnTimeCount: 1, OnTimeAmount: 300},
		{Provenances: pr(invoicing.ProvenanceIssuerRecorded, invoicing.ProvenanceProviderReported), Count: 1, Amount: 400, OnTimeCount: 1, OnTimeAmount: 400},
	}
	require.Empty(t, cmp.Diff(want, c.Paid))
	require.Equal(t, int64(6), c.PaidCount)
	require.Equal(t, int64(1600), c.PaidAmount)
	require.Equal(t, int64(5), c.PaidOnTimeCount)
}

func testVoidRules(t *testing.T, s Store) {
	f := newFixture(t, s)
	ctx := context.Background()
	open := f.open(t, 1000)
	f.pay(t, open.ID, 300)
	uncollectible := f.open(t, 1000)
	f.pay(t, uncollectible.ID, 1)
	_, err := f.svc.MarkUncollectible(ctx, f.alice, uncollectible.ID, nil)
	require.NoError(t, err, "a partly paid invoice may be marked uncollectible")
	unpaid := f.open(t, 1000)

	tests := []struct {
		name string
		id   string
		code string
	}{
		{"partly paid", open.ID, invoicing.ECONFLICT},
		{"uncollectible and partly paid", uncollectible.ID, invoicing.ECONFLICT},
		{"unpaid", unpaid.ID, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := stored(t, s, tc.id)
			_, err := f.svc.VoidInvoice(ctx, f.alice, tc.id, nil)
			require.Equal(t, tc.code, invoicing.ErrorCode(err))
			after := stored(t, s, tc.id)
			if tc.code != "" {
				require.Empty(t, cmp.Diff(before, after), "a refused void writes nothing")
				return
			}
			require.Equal(t, invoicing.StatusVoid, after.Status)
			require.Zero(t, after.AmountPaid)
		})
	}
}

func testFinancing(t *testing.T, s Store) {
	f := newFixture(t, s)
	ctx := context.Background()
	draft := f.draft(t, 100)
	inv := f.open(t, 1000)

	_, err := f.svc.Finance(ctx, f.alice, draft.ID, "dd_1")
	require.Equal(t, invoicing.ECONFLICT, invoicing.ErrorCode(err), "a draft cannot be financed")
	_, err = f.svc.Finance(ctx, f.alice, inv.ID, "")
	require.Equal(t, invoicing.EINVALID, invoicing.ErrorCode(err))
	_, err = f.svc.Finance(ctx, f.bob, inv.ID, "dd_1")
	require.Equal(t, invoicing.EFORBIDDEN, invoicing.ErrorCode(err), "only the issuer's financing")

	financed, err := f.svc.Finance(ctx, f.alice, inv.ID, "dd_1")
	require.NoError(t, err)
	require.Equal(t, "dd_1", financed.FinancedBy)
	require.Empty(t, cmp.Diff(financed, stored(t, s, inv.ID)))
	again, err := f.svc.Finance(ctx, f.alice, inv.ID, "dd_1")
	require.NoError(t, err)
	require.Equal(t, financed.Version, again.Version, "financing again writes nothing")
	_, err = f.svc.Finance(ctx, f.alice, inv.ID, "dd_2")
	require.Equal(t, invoicing.ECONFLICT, invoicing.ErrorCode(err), "financed by another drawdown")

	for name, fn := range map[string]func() error{
		"void": func() error { _, err := f.svc.VoidInvoice(ctx, f.alice, inv.ID, nil); return err },
		"mark uncollectible": func() error {
			_, err := f.svc.MarkUncollectible(ctx, f.alice, inv.ID, nil)
			return err
		},
	} {
		t.Run(name+" is refused while financed", func(t *testing.T) {
			require.Equal(t, invoicing.ECONFLICT, invoicing.ErrorCode(fn()))
			require.Empty(t, cmp.Diff(financed, stored(t, s, inv.ID)))
		})
	}

	kept, err := f.svc.ReleaseFinancing(ctx, f.alice, inv.ID, "dd_2")
	require.NoError(t, err)
	require.Equal(t, "dd_1", kept.FinancedBy, "another drawdown's release leaves the financing")
	_, err = f.svc.ReleaseFinancing(ctx, f.bob, inv.ID, "dd_1")
	require.Equal(t, invoicing.EFORBIDDEN, invoicing.ErrorCode(err))
	released, err := f.svc.ReleaseFinancing(ctx, f.alice, inv.ID, "dd_1")
	require.NoError(t, err)
	require.Empty(t, released.FinancedBy)
	require.Empty(t, stored(t, s, inv.ID).FinancedBy)
	_, err = f.svc.ReleaseFinancing(ctx, f.alice, inv.ID, "dd_1")
	require.NoError(t, err, "releasing again is harmless")
	voided, err := f.svc.VoidInvoice(ctx, f.alice, inv.ID, nil)
	require.NoError(t, err)
	require.Equal(t, invoicing.StatusVoid, voided.Status)

	// A financed invoice stays financed when paid, until the release.
	paid := f.open(t, 100)
	_, err = f.svc.Finance(ctx, f.alice, paid.ID, "dd_3")
	require.NoError(t, err)
	f.pay(t, paid.ID, 100)
	require.Equal(t, "dd_3", stored(t, s, paid.ID).FinancedBy)
}

// testFinancingRacesVoid: a financing hold and a void racing on one invoice
// are ordered by its lock: exactly one wins, and never both.
func testFinancingRacesVoid(t *testing.T, s Store) {
	f := newFixture(t, s)
	ctx := context.Background()
	for i := range 10 {
		inv := f.open(t, 100)
		dd := fmt.Sprintf("dd_%d", i)
		var financeErr, voidErr error
		var wg sync.WaitGroup
		wg.Go(func() { _, financeErr = f.svc.Finance(ctx, f.alice, inv.ID, dd) })
		wg.Go(func() { _, voidErr = f.svc.VoidInvoice(ctx, f.alice, inv.ID, nil) })
		wg.Wait()
		require.Equal(t, 1, okCount(financeErr, voidErr), "finance: %v, void: %v", financeErr, voidErr)
		got := stored(t, s, inv.ID)
		if financeErr == nil {
			require.Equal(t, invoicing.StatusOpen, got.Status)
			require.Equal(t, dd, got.FinancedBy)
		} else {
			require.Equal(t, invoicing.StatusVoid, got.Status)
			require.Empty(t, got.FinancedBy)
		}
	}
}

func okCount(errs ...error) int {
	n := 0
	for _, err := range errs {
		if err == nil {
			n++
		}
	}
	return n
}

// FillPreProvenance fills db, migrated to version 2 (the schema before
// payment provenance), with an invoice in a lower-case currency, paid in
// part by a payment its issuer recorded, and closes it; ts is a time
// literal of the backend.
func FillPreProvenance(t *testing.T, db *sqldb.DB, ts string) {
	fill(t, db, []string{
		`INSERT INTO businesses (id, owner, legal_name, country, registration_number, billing_email, invoice_seq, created_at)
			VALUES ('bus_a', 'a', 'A', 'FR', '1', 'a@example.com', 1, ` + ts + `), ('bus_b', 'b', 'B', 'FR', '2', 'b@example.com', 0, ` + ts + `)`,
		`INSERT INTO invoices (id, number, issuer_id, customer_id, currency, due_date, memo, line_items, subtotal, tax, total,
			amount_paid, amount_due, status, finalized_at, created_at, updated_at, version)
			VALUES ('in_1', 'INV-000001', 'bus_a', 'bus_b', 'eur', '2026-04-01', '', '[]', 1000, 0, 1000, 300, 700, 'open', ` + ts + `, ` + ts + `, ` + ts + `, 3)`,
		`INSERT INTO payments (id, invoice_id, amount, method, reference, created_at) VALUES ('py_1', 'in_1', 300, 'cash', '', ` + ts + `)`,
	})
}

func fill(t *testing.T, db *sqldb.DB, stmts []string) {
	t.Helper()
	for _, q := range stmts {
		_, err := db.W.ExecContext(context.Background(), q)
		require.NoError(t, err, q)
	}
	require.NoError(t, db.Close())
}

// CheckPreProvenanceMigrated checks what the payment provenance migration
// made of the rows of PreProvenance: the currency in upper case, the amount
// paid recorded by the issuer, and the invoice unfinanced; the customer can
// then confirm the payment.
func CheckPreProvenanceMigrated(t *testing.T, s Store) {
	ctx := context.Background()
	inv := stored(t, s, "in_1")
	require.Equal(t, "EUR", inv.Currency)
	require.Equal(t, invoicing.PaidByProvenance{IssuerRecorded: 300}, inv.PaidBy)
	require.Empty(t, inv.FinancedBy)
	pays, err := s.Payments(ctx, "in_1")
	require.NoError(t, err)
	require.Len(t, pays, 1)
	require.Equal(t, invoicing.ProvenanceIssuerRecorded, pays[0].Provenance)
	require.Nil(t, pays[0].ConfirmedAt)
	svc := invoicing.New(invoicing.Options{Store: s})
	got, _, err := svc.ConfirmPayment(ctx, invoicing.Caller{Subject: "b"}, "in_1", "py_1")
	require.NoError(t, err)
	require.Equal(t, invoicing.PaidByProvenance{CustomerConfirmed: 300}, got.PaidBy)
}
