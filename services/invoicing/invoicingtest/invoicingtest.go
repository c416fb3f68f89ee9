// Package invoicingtest is the store test suite every invoicing backend runs
// (sqlite and postgres), so that both behave alike.
package invoicingtest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/services/invoicing"
	"github.com/estatehq/estate/services/kit/idempotency"
	"github.com/estatehq/estate/services/kit/idempotency/idempotencytest"
	"github.com/estatehq/estate/services/kit/outbox"
)

// Store is what a backend implements.
type Store interface {
	invoicing.Store
	idempotency.Store
	outbox.Store
}

// Run runs the suite; newStore returns an empty, migrated store for one
// test.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"Businesses", testBusinesses},
		{"Members", testMembers},
		{"InvoiceRoundTrip", testInvoiceRoundTrip},
		{"UpdateInvoice", testUpdateInvoice},
		{"UpdateErrorWritesNothing", testUpdateErrorWritesNothing},
		{"DeleteInvoice", testDeleteInvoice},
		{"ListInvoices", testListInvoices},
		{"PaginationStableUnderInserts", testPaginationStable},
		{"ConcurrentPaymentsNeverOverpay", testConcurrentPayments},
		{"ConcurrentSendsNumberOnce", testConcurrentNumbers},
		{"IssuedInvoices", testIssuedInvoices},
		{"Idempotency", testIdempotency},
		{"FailedChangeKeepsItsAnswer", testFailedChangeKeepsItsAnswer},
		{"Outbox", testOutbox},
		{"CurrencyKeptInUpperCase", testCurrencyCase},
		{"PaymentProvenance", testPaymentProvenance},
		{"ConfirmPayment", testConfirmPayment},
		{"ProviderPayments", testProviderPayments},
		{"ConcurrentProviderReports", testConcurrentProviderReports},
		{"HistoryByProvenance", testHistoryByProvenance},
		{"VoidRules", testVoidRules},
		{"Financing", testFinancing},
		{"FinancingRacesVoid", testFinancingRacesVoid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

type fixture struct {
	svc        *invoicing.Service
	clock      *clock
	alice, bob invoicing.Caller
	aliceBiz   *invoicing.Business
	bobBiz     *invoicing.Business
}

func newFixture(t *testing.T, s Store) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{clock: &clock{t: t0}}
	f.svc = invoicing.New(invoicing.Options{Store: s, Now: f.clock.Now})
	f.alice, f.bob = invoicing.Caller{Subject: "alice"}, invoicing.Caller{Subject: "bob"}
	var err error
	f.aliceBiz, err = f.svc.RegisterBusiness(ctx, f.alice, invoicing.BusinessInput{LegalName: "Alice SARL", Country: "FR", RegistrationNumber: "RCS 1", BillingEmail: "billing@alice.example"})
	require.NoError(t, err)
	f.bobBiz, err = f.svc.RegisterBusiness(ctx, f.bob, invoicing.BusinessInput{LegalName: "Bob Ltd", Country: "GB", RegistrationNumber: "0001", BillingEmail: "ap@bob.example"})
	require.NoError(t, err)
	return f
}

func (f *fixture) draft(t *testing.T, amount int64) *invoicing.Invoice {
	t.Helper()
	inv, err := f.svc.CreateInvoice(context.Background(), f.alice, invoicing.InvoiceInput{
		Customer: f.bobBiz.ID, Currency: "eur", DueDate: "2026-04-01",
		LineItems: []invoicing.LineItemInput{{Description: "Work", Quantity: 1, UnitAmount: amount}},
	})
	require.NoError(t, err)
	return inv
}

func (f *fixture) open(t *testing.T, amount int64) *invoicing.Invoice {
	t.Helper()
	inv, err := f.svc.SendInvoice(context.Background(), f.alice, f.draft(t, amount).ID, nil)
	require.NoError(t, err)
	return inv
}

func testBusinesses(t *testing.T, s Store) {
	ctx := context.Background()
	b := &invoicing.Business{ID: "bus_1", Owner: "u1", LegalName: "One", Country: "FR", RegistrationNumber: "1", BillingEmail: "a@b.c", CreatedAt: t0}
	require.NoError(t, s.CreateBusiness(ctx, b))
	got, err := s.Business(ctx, "bus_1")
	require.NoError(t, err)
	require.Empty(t, cmp.Diff(b, got))
	got, err = s.BusinessByOwner(ctx, "u1")
	require.NoError(t, err)
	require.Equal(t, "bus_1", got.ID)

	dup := *b
	dup.ID = "bus_2"
	require.Equal(t, invoicing.ECONFLICT, invoicing.ErrorCode(s.CreateBusiness(ctx, &dup)), "one business per owner")
	_, err = s.Business(ctx, "bus_nope")
	require.Equal(t, invoicing.ENOTFOUND, invoicing.ErrorCode(err))
	_, err = s.BusinessByOwner(ctx, "nobody")
	require.Equal(t, invoicing.ENOTFOUND, invoicing.ErrorCode(err))
}

func testMembers(t *testing.T, s Store) {
	ctx := context.Background()
	b := &invoicing.Business{ID: "bus_1", Owner: "u1", LegalName: "One", Country: "FR", RegistrationNumber: "1", BillingEmail: "a@b.c", CreatedAt: t0}
	require.NoError(t, s.CreateBusiness(ctx, b))
	owner := &invoicing.Member{BusinessID: "bus_1", Subject: "u1", Role: invoicing.MemberOwner, CreatedAt: t0, UpdatedAt: t0, Version: 1}
	got, err := s.Member(ctx, "bus_1", "u1")
	require.NoError(t, err)
	require.Empty(t, cmp.Diff(owner, got), "the registering user is the first owner")

	reader := &invoicing.Member{BusinessID: "bus_1", Subject: "u2", Role: invoicing.MemberReadOnly, CreatedAt: t0.Add(time.Second), UpdatedAt: t0.Add(time.Second), Version: 1}
	require.NoError(t, s.AddMember(ctx, reader))
	require.Equal(t, invoicing.ECONFLICT, invoicing.ErrorCode(s.AddMember(ctx, reader)))
	all, err := s.Members(ctx, "bus_1")
	require.NoError(t, err)
	require.Empty(t, cmp.Diff([]*invoicing.Member{owner, reader}, all))
	mine, err := s.Memberships(ctx, "u2")
	require.NoError(t, err)
	require.Empty(t, cmp.Diff([]*invoicing.Member{reader}, mine))

	var owners int
	changed, err := s.UpdateMember(ctx, "bus_1", "u2", func(m *invoicing.Member, n int) (invoicing.MemberChange, error) {
		owners = n
		m.Role = invoicing.MemberFinance
		m.UpdatedAt = t0.Add(time.Minute)
		return invoicing.MemberChange{}, nil
	})
	require.NoError(t, err)
	require.Equal(t, 1, owners)
	require.Equal(t, int64(2), changed.Version)
	got, err = s.Member(ctx, "bus_1", "u2")
	require.NoError(t, err)
	require.Empty(t, cmp.Diff(changed, got))

	refused := invoicing.Errorf(invoicing.ECONFLICT, "no")
	_, err = s.UpdateMember(ctx, "bus_1", "u2", func(m *invoicing.Member, _ int) (invoicing.MemberChange, error) {
		m.Role = invoicing.MemberOwner
		return invoicing.MemberChange{}, refused
	})
	require.ErrorIs(t, err, refused)
	got, err = s.Member(ctx, "bus_1", "u2")
	require.NoError(t, err)
	require.Equal(t, invoicing.MemberFinance, got.Role, "a refused change writes nothing")

	_, err = s.UpdateMember(ctx, "bus_1", "u2", func(*invoicing.Member, int) (invoicing.MemberChange, error) {
		return invoicing.MemberChange{Remove: true}, nil
	})
	require.NoError(t, err)
	_, err = s.Member(ctx, "bus_1", "u2")
	require.Equal(t, invoicing.ENOTFOUND, invoicing.ErrorCode(err))
	_, err = s.UpdateMember(ctx, "bus_1", "u2", func(*invoicing.Member, int) (invoicing.MemberChange, error) {
		return invoicing.MemberChange{}, nil
	})
	require.Equal(t, invoicing.ENOTFOUND, invoicing.ErrorCode(err))
	mine, err = s.Memberships(ctx, "u2")
	require.NoError(t, err)
	require.Empty(t, mine)
}

func testInvoiceRoundTrip(t *testing.T, s Store) {
	f := newFixture(t, s)
	ctx := context.Background()
	inv, err := f.svc.CreateInvoice(ctx, f.alice, invoicing.InvoiceInput{
		Customer: f.bobBiz.ID, Currency: "eur", DueDate: "2026-04-01", Memo: "Thanks ✓",
		LineItems: []invoicing.LineItemInput{
			{Description: "Design", Quantity: 3, UnitAmount: 12_345, TaxRate: "20"},
			{Description: "Hosting", Quantity: 1, UnitAmount: 999, TaxRate: "8.25"},
			{Description: "Fee", Quantity: 2, UnitAmount: 50},
		},
	})
	require.NoError(t, err)
	require.Equal(t, int64(3*12_345+999+100), inv.Subtotal)
	require.Equal(t, int64(7407+82), inv.Tax) // 37035 × 20% = 7407; 999 × 8.25% = 82.4175 → 82
	require.Equal(t, inv.Subtotal+inv.Tax, inv.Total)
	require.Equal(t, inv.Total, inv.AmountDue)
	got, err := s.Invoice(ctx, inv.ID)
	require.NoError(t, err)
	require.Empty(t, cmp.Diff(inv, got))
	_, err = s.Invoice(ctx, "in_nope")
	require.Equal(t, invoicing.ENOTFOUND, invoicing.ErrorCode(err))
}

func testUpdateInvoice(t *testing.T, s Store) {
	f := newFixture(t, s)
	ctx := context.Background()
	a := f.open(t, 1000)
	require.Equal(t, "INV-000001", a.Number)
	require.Equal(t, int64(2), a.Version)
	b := f.open(t, 500)
	require.Equal(t, "INV-000002", b.Number)

	f.clock.Add(time.Hour)
	paid, pay, err := f.svc.PayInvoice(ctx, f.alice, a.ID, invoicing.PaymentInput{Amount: 1000, Method: "bank_transfer", Reference: "r1"}, nil)
	require.NoError(t, err)
	require.Equal(t, invoicing.StatusPaid, paid.Status)
	require.NotNil(t, paid.Transitions.PaidAt)
	require.True(t, paid.Transitions.PaidAt.Equal(t0.Add(time.Hour)))
	got, err := s.Invoice(ctx, a.ID)
	require.NoError(t, err)
	require.Empty(t, cmp.Diff(paid, got))
	pays, err := s.Payments(ctx, a.ID)
	require.NoError(t, err)
	require.Empty(t, cmp.Diff([]*invoicing.Payment{pay}, pays))

	events, err := s.Pending(ctx, "sub", f.clock.Now(), 10)
	require.NoError(t, err)
	var types []string
	for _, e := range events {
		types = append(types, e.Type)
	}
	require.Equal(t, []string{invoicing.EventInvoiceSent, invoicing.EventInvoiceSent, invoicing.EventInvoicePaid}, types)
}

func testUpdateErrorWritesNothing(t *testing.T, s Store) {
	f := newFixture(t, s)
	ctx := context.Background()
	inv := f.draft(t, 100)
	_, err := s.UpdateInvoice(ctx, inv.ID, func(tx invoicing.InvoiceTx, i *invoicing.Invoice) (invoicing.Change, error) {
		_, err := tx.NextNumber(ctx, i.IssuerID)
		require.NoError(t, err)
		i.Memo = "changed"
		return invoicing.Change{}, invoicing.Errorf(invoicing.ECONFLICT, "no")
	})
	require.Equal(t, invoicing.ECONFLICT, invoicing.ErrorCode(err))
	got, err := s.Invoice(ctx, inv.ID)
	require.NoError(t, err)
	require.Empty(t, cmp.Diff(inv, got))
	sent, err := f.svc.SendInvoice(ctx, f.alice, inv.ID, nil)
	require.NoError(t, err)
	require.Equal(t, "INV-000001", sent.Number, "the rolled back number is not used up")
	_, err = s.UpdateInvoice(ctx, "in_nope", func(invoicing.InvoiceTx, *invoicing.Invoice) (invoicing.Change, error) {
		return invoicing.Change{}, nil
	})
	require.Equal(t, invoicing.ENOTFOUND, invoicing.ErrorCode(err))
}

func testDeleteInvoice(t *testing.T, s Store) {
	f := newFixture(t, s)
	ctx := context.Background()
	inv := f.draft(t, 100)
	require.NoError(t, f.svc.DeleteInvoice(ctx, f.alice, inv.ID, nil))
	_, err := s.Invoice(ctx, inv.ID)
	require.Equal(t, invoicing.ENOTFOUND, invoicing.ErrorCode(err))
}

func ids(invs []*invoicing.Invoice) []string {
	var out []string
	for _, inv := range invs {
		out = append(out, inv.ID)
	}
	return out
}

func testListInvoices(t *testing.T, s Store) {
	f := newFixture(t, s)
	ctx := context.Background()
	d := f.draft(t, 100)
	o := f.open(t, 200)
	p := f.open(t, 300)
	_, _, err := f.svc.PayInvoice(ctx, f.alice, p.ID, invoicing.PaymentInput{Amount: 300, Method: "card"}, nil)
	require.NoError(t, err)

	list := func(c invoicing.Caller, fl invoicing.InvoiceFilter) []string {
		t.Helper()
		invs, _, err := f.svc.ListInvoices(ctx, c, fl)
		require.NoError(t, err)
		return ids(invs)
	}
	tests := []struct {
		name   string
		caller invoicing.Caller
		filter invoicing.InvoiceFilter
		want   []string
	}{
		{"issued", f.alice, invoicing.InvoiceFilter{Role: invoicing.RoleIssued}, []string{p.ID, o.ID, d.ID}},
		{"received hides drafts", f.bob, invoicing.InvoiceFilter{Role: invoicing.RoleReceived}, []string{p.ID, o.ID}},
		{"bob issued nothing", f.bob, invoicing.InvoiceFilter{Role: invoicing.RoleIssued}, nil},
		{"status", f.alice, invoicing.InvoiceFilter{Role: invoicing.RoleIssued, Status: "open"}, []string{o.ID}},
		{"customer", f.alice, invoicing.InvoiceFilter{Role: invoicing.RoleIssued, CustomerID: "bus_other"}, nil},
		{"due before", f.alice, invoicing.InvoiceFilter{Role: invoicing.RoleIssued, DueBefore: "2026-04-01"}, nil},
		{"due before later", f.alice, invoicing.InvoiceFilter{Role: invoicing.RoleIssued, DueBefore: "2026-04-02"}, []string{p.ID, o.ID, d.ID}},
		{"not overdue yet", f.alice, invoicing.InvoiceFilter{Role: invoicing.RoleIssued, Status: "overdue"}, nil},
		{"page", f.alice, invoicing.InvoiceFilter{Role: invoicing.RoleIssued, Limit: 1, StartingAfter: p.ID}, []string{o.ID}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Empty(t, cmp.Diff(tc.want, list(tc.caller, tc.filter)))
		})
	}
	f.clock.Add(60 * 24 * time.Hour)
	require.Equal(t, []string{o.ID}, list(f.alice, invoicing.InvoiceFilter{Status: "overdue"}))
}

func testPaginationStable(t *testing.T, s Store) {
	f := newFixture(t, s)
	ctx := context.Background()
	var before []string
	for range 25 {
		before = append(before, f.draft(t, 100).ID)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := f.svc.CreateInvoice(ctx, f.alice, invoicing.InvoiceInput{Customer: f.bobBiz.ID, Currency: "eur", DueDate: "2026-04-01",
				LineItems: []invoicing.LineItemInput{{Description: "x", Quantity: 1, UnitAmount: 1}}}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	seen := map[string]int{}
	after := ""
	for {
		page, more, err := f.svc.ListInvoices(ctx, f.alice, invoicing.InvoiceFilter{Limit: 4, StartingAfter: after})
		require.NoError(t, err)
		for _, inv := range page {
			seen[inv.ID]++
		}
		if !more {
			break
		}
		after = page[len(page)-1].ID
	}
	close(stop)
	wg.Wait()
	for id, n := range seen {
		require.Equal(t, 1, n, "invoice %s listed %d times", id, n)
	}
	for _, id := range before {
		require.Contains(t, seen, id, "an invoice that existed before paging began was skipped")
	}
}

func testConcurrentPayments(t *testing.T, s Store) {
	f := newFixture(t, s)
	ctx := context.Background()
	inv := f.open(t, 1000)
	var ok, conflict atomic.Int64
	var wg sync.WaitGroup
	for range 25 {
		wg.Go(func() {
			_, _, err := f.svc.PayInvoice(ctx, f.alice, inv.ID, invoicing.PaymentInput{Amount: 100, Method: "card"}, nil)
			switch invoicing.ErrorCode(err) {
			case "":
				ok.Add(1)
			case invoicing.ECONFLICT:
				conflict.Add(1)
			default:
				t.Errorf("paying: %v", err)
			}
		})
	}
	wg.Wait()
	require.Equal(t, int64(10), ok.Load())
	require.Equal(t, int64(15), conflict.Load())
	got, err := s.Invoice(ctx, inv.ID)
	require.NoError(t, err)
	require.Equal(t, invoicing.StatusPaid, got.Status)
	require.Equal(t, int64(1000), got.AmountPaid)
	require.Equal(t, int64(0), got.AmountDue)
	pays, err := s.Payments(ctx, inv.ID)
	require.NoError(t, err)
	require.Len(t, pays, 10)
}

func testConcurrentNumbers(t *testing.T, s Store) {
	f := newFixture(t, s)
	ctx := context.Background()
	var drafts []string
	for range 10 {
		drafts = append(drafts, f.draft(t, 100).ID)
	}
	numbers := make(chan string, len(drafts))
	var wg sync.WaitGroup
	for _, id := range drafts {
		wg.Go(func() {
			inv, err := f.svc.SendInvoice(ctx, f.alice, id, nil)
			if err != nil {
				t.Errorf("sending: %v", err)
				return
			}
			numbers <- inv.Number
		})
	}
	wg.Wait()
	close(numbers)
	seen := map[string]bool{}
	for n := range numbers {
		require.False(t, seen[n], "number %s handed out twice", n)
		seen[n] = true
	}
	for i := 1; i <= len(drafts); i++ {
		require.True(t, seen[invoicing.FormatNumber(int64(i))], "gap at %d", i)
	}
}

func testIssuedInvoices(t *testing.T, s Store) {
	f := newFixture(t, s)
	ctx := context.Background()
	f.draft(t, 100)
	o := f.open(t, 200)
	h, err := f.svc.History(ctx, f.aliceBiz.ID, 90)
	require.NoError(t, err)
	require.Len(t, h.Currencies, 1)
	require.Equal(t, invoicing.CurrencyHistory{Currency: "EUR", IssuedCount: 1, IssuedAmount: 200, OutstandingCount: 1, OutstandingAmount: 200}, h.Currencies[0])
	_, _, err = f.svc.PayInvoice(ctx, f.alice, o.ID, invoicing.PaymentInput{Amount: 200, Method: "card"}, nil)
	require.NoError(t, err)
	h, err = f.svc.History(ctx, f.aliceBiz.ID, 90)
	require.NoError(t, err)
	require.Equal(t, invoicing.CurrencyHistory{Currency: "EUR", IssuedCount: 1, IssuedAmount: 200, PaidCount: 1, PaidAmount: 200, PaidOnTimeCount: 1, PaidOnTimeAmount: 200,
		Paid: []invoicing.PaidGroup{{Provenances: []invoicing.Provenance{invoicing.ProvenanceIssuerRecorded}, Count: 1, Amount: 200, OnTimeCount: 1, OnTimeAmount: 200}}}, h.Currencies[0])
	f.clock.Add(200 * 24 * time.Hour)
	h, err = f.svc.History(ctx, f.aliceBiz.ID, 90)
	require.NoError(t, err)
	require.Empty(t, h.Currencies, "nothing in the window")
}

// testIdempotency runs the kit's suite with the registration of a business
// as the change.
func testIdempotency(t *testing.T, s Store) {
	idempotencytest.Run(t, s, func(t *testing.T, ctx context.Context) func() bool {
		b := &invoicing.Business{ID: invoicing.NewID("bus"), Owner: invoicing.NewID("user"), LegalName: "Acme", Country: "FR",
			RegistrationNumber: "1", BillingEmail: "a@example.com", CreatedAt: t0}
		require.NoError(t, s.CreateBusiness(ctx, b))
		return func() bool {
			_, err := s.Business(context.Background(), b.ID)
			if invoicing.ErrorCode(err) == invoicing.ENOTFOUND {
				return false
			}
			require.NoError(t, err)
			return true
		}
	})
}

// testFailedChangeKeepsItsAnswer: a change that fails inside the request's
// transaction (after writing) is rolled back whole, and the key keeps the
// answer alone.
func testFailedChangeKeepsItsAnswer(t *testing.T, s Store) {
	f := newFixture(t, s)
	inv := f.open(t, 100)
	ctx, txn := s.Begin(context.Background())
	_, err := s.UpdateInvoice(ctx, inv.ID, func(_ invoicing.InvoiceTx, inv *invoicing.Invoice) (invoicing.Change, error) {
		inv.AmountPaid, inv.AmountDue = 100, 0
		return invoicing.Change{}, invoicing.Errorf(invoicing.ECONFLICT, "refused")
	})
	require.Equal(t, invoicing.ECONFLICT, invoicing.ErrorCode(err))
	c := idempotency.Claim{Scope: "bus_a", Key: "k", Hash: "h", Now: t0, ExpiredBefore: t0.Add(-time.Hour)}
	o, _, err := txn.Commit(ctx, c, idempotency.Record{Status: 409, Body: []byte(`{}`)})
	require.NoError(t, err)
	require.Equal(t, idempotency.Acquired, o)
	got, err := s.Invoice(context.Background(), inv.ID)
	require.NoError(t, err)
	require.Equal(t, int64(100), got.AmountDue)
	require.Equal(t, inv.Version, got.Version)

	_, txn = s.Begin(context.Background())
	o, rec, err := txn.Commit(context.Background(), c, idempotency.Record{Status: 201})
	require.NoError(t, err)
	require.Equal(t, idempotency.Replay, o)
	require.Equal(t, 409, rec.Status)
}

func testOutbox(t *testing.T, s Store) {
	f := newFixture(t, s)
	ctx := context.Background()
	inv := f.open(t, 100)
	now := f.clock.Now()
	evs, err := s.Pending(ctx, "credit", now, 10)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	e := evs[0]
	require.Equal(t, invoicing.EventInvoiceSent, e.Type)
	require.Equal(t, inv.ID, e.Subject)
	require.True(t, e.Time.Equal(now))
	require.JSONEq(t, fmt.Sprintf(`{"invoice_id":%q,"number":"INV-000001","issuer":%q,"customer":%q,"currency":"EUR","total":100,"amount_paid":0,"amount_due":100,"status":"open","due_date":"2026-04-01"}`,
		inv.ID, f.aliceBiz.ID, f.bobBiz.ID), string(e.Data))

	require.NoError(t, s.MarkFailed(ctx, "credit", e.ID, 1, now.Add(time.Minute), "connection refused"))
	evs, err = s.Pending(ctx, "credit", now, 10)
	require.NoError(t, err)
	require.Empty(t, evs, "not due before its next attempt")
	evs, err = s.Pending(ctx, "other", now, 10)
	require.NoError(t, err)
	require.Len(t, evs, 1, "subscribers are tracked apart")
	evs, err = s.Pending(ctx, "credit", now.Add(time.Minute), 10)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Equal(t, 1, evs[0].Attempts)
	require.NoError(t, s.MarkDelivered(ctx, "credit", e.ID, now.Add(time.Minute)))
	evs, err = s.Pending(ctx, "credit", now.Add(time.Hour), 10)
	require.NoError(t, err)
	require.Empty(t, evs)
}
