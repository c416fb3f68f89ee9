// Package credittest is the credit store test suite, run against every
// backend: Run(t, store).
package credittest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/sqldb"
	"github.com/estatehq/estate/services/credit"
	"github.com/estatehq/estate/services/kit/idempotency"
)

// Store is what the suite needs of a backend.
type Store interface {
	credit.Store
	idempotency.Store
}

func id(prefix string) string { return credit.NewID(prefix) }

// Run runs the suite; each test uses its own businesses, so one store serves
// them all.
func Run(t *testing.T, s Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

	approve := func(t *testing.T, business string, limit int64, currency string) *credit.Application {
		a := &credit.Application{ID: id("capp"), BusinessID: business, RequestedLimit: limit, Currency: currency,
			Status: credit.Approved, ApprovedLimit: limit, Reasons: []string{"r1", "r2"}, DecidedAt: t0}
		require.NoError(t, s.Decide(ctx, a))
		return a
	}
	draw := func(business, invoice string, amount int64) (*credit.Drawdown, error) {
		d := &credit.Drawdown{ID: id("dd"), BusinessID: business, InvoiceID: invoice, Amount: amount, Currency: "eur",
			Status: credit.DrawdownActive, CreatedAt: t0, CheckedAt: t0}
		return d, s.Draw(ctx, d, func(l *credit.Line) error {
			if amount > l.Available() {
				return credit.Errorf(credit.ECONFLICT, "over")
			}
			return nil
		})
	}

	t.Run("Decide keeps the application and opens the line", func(t *testing.T) {
		b := id("bus")
		a := approve(t, b, 5000, "eur")
		got, err := s.Application(ctx, a.ID)
		require.NoError(t, err)
		require.Empty(t, cmp.Diff(a, got))
		l, err := s.Line(ctx, b)
		require.NoError(t, err)
		require.Equal(t, credit.Line{BusinessID: b, Currency: "eur", Limit: 5000, Drawn: 0, UpdatedAt: t0}, *l)

		declined := &credit.Application{ID: id("capp"), BusinessID: b, RequestedLimit: 9, Currency: "eur", Status: credit.Declined, Reasons: []string{"no"}, DecidedAt: t0}
		require.NoError(t, s.Decide(ctx, declined))
		l, err = s.Line(ctx, b)
		require.NoError(t, err)
		require.Equal(t, int64(5000), l.Limit, "a declined application leaves the line alone")

		approve(t, b, 7000, "eur")
		l, err = s.Line(ctx, b)
		require.NoError(t, err)
		require.Equal(t, int64(7000), l.Limit)
	})

	t.Run("missing rows are ENOTFOUND", func(t *testing.T) {
		_, err := s.Application(ctx, "capp_nope")
		require.Equal(t, credit.ENOTFOUND, credit.ErrorCode(err))
		_, err = s.Line(ctx, "bus_nope")
		require.Equal(t, credit.ENOTFOUND, credit.ErrorCode(err))
		_, err = s.Drawdown(ctx, "dd_nope")
		require.Equal(t, credit.ENOTFOUND, credit.ErrorCode(err))
		_, err = s.ActiveDrawdown(ctx, "in_nope")
		require.Equal(t, credit.ENOTFOUND, credit.ErrorCode(err))
		_, err = draw("bus_nope", id("in"), 1)
		require.Equal(t, credit.ENOTFOUND, credit.ErrorCode(err))
	})

	t.Run("Draw checks under lock, finances an invoice once, and Settle restores the line once", func(t *testing.T) {
		b := id("bus")
		approve(t, b, 1000, "eur")
		inv := id("in")
		d, err := draw(b, inv, 600)
		require.NoError(t, err)
		_, err = draw(b, inv, 100)
		require.Equal(t, credit.ECONFLICT, credit.ErrorCode(err), "financed twice")
		_, err = draw(b, id("in"), 500)
		require.Equal(t, credit.ECONFLICT, credit.ErrorCode(err), "over the available credit")
		l, err := s.Line(ctx, b)
		require.NoError(t, err)
		require.Equal(t, int64(600), l.Drawn)
		require.Equal(t, int64(400), l.Available())

		// Another currency cannot replace a drawn line.
		err = s.Decide(ctx, &credit.Application{ID: id("capp"), BusinessID: b, RequestedLimit: 1, Currency: "usd", Status: credit.Approved, ApprovedLimit: 1, Reasons: []string{}, DecidedAt: t0})
		require.Equal(t, credit.ECONFLICT, credit.ErrorCode(err))

		active, err := s.ActiveDrawdown(ctx, inv)
		require.NoError(t, err)
		require.Equal(t, d.ID, active.ID)

		at := t0.Add(time.Hour)
		settled, err := s.Settle(ctx, id("evt"), inv, at)
		require.NoError(t, err)
		require.NotNil(t, settled)
		require.Equal(t, credit.DrawdownSettled, settled.Status)
		again, err := s.Settle(ctx, id("evt"), inv, at)
		require.NoError(t, err)
		require.Nil(t, again, "nothing active is left to settle")
		got, err := s.Drawdown(ctx, d.ID)
		require.NoError(t, err)
		require.Equal(t, credit.DrawdownSettled, got.Status)
		require.Equal(t, at, *got.SettledAt)
		l, err = s.Line(ctx, b)
		require.NoError(t, err)
		require.Equal(t, int64(0), l.Drawn)
	})

	t.Run("Settle is idempotent by event id", func(t *testing.T) {
		b := id("bus")
		approve(t, b, 1000, "eur")
		inv1, inv2 := id("in"), id("in")
		_, err := draw(b, inv1, 100)
		require.NoError(t, err)
		evt := id("evt")
		_, err = s.Settle(ctx, evt, "in_unrelated", t0)
		require.NoError(t, err)
		_, err = draw(b, inv2, 100)
		require.NoError(t, err)
		// The same event id again settles nothing, even on another invoice.
		got, err := s.Settle(ctx, evt, inv2, t0)
		require.NoError(t, err)
		require.Nil(t, got)
		l, err := s.Line(ctx, b)
		require.NoError(t, err)
		require.Equal(t, int64(200), l.Drawn)
	})

	t.Run("concurrent drawdowns never overdraw", func(t *testing.T) {
		b := id("bus")
		approve(t, b, 1000, "eur")
		var wg sync.WaitGroup
		var ok atomic.Int64
		for range 8 {
			wg.Go(func() {
				if _, err := draw(b, id("in"), 300); err == nil {
					ok.Add(1)
				}
			})
		}
		wg.Wait()
		require.Equal(t, int64(3), ok.Load())
		l, err := s.Line(ctx, b)
		require.NoError(t, err)
		require.Equal(t, int64(900), l.Drawn)
	})

	t.Run("Drawdowns pages newest first", func(t *testing.T) {
		b := id("bus")
		approve(t, b, 1000, "eur")
		var ids []string
		for i := range 3 {
			d := &credit.Drawdown{ID: id("dd"), BusinessID: b, InvoiceID: id("in"), Amount: 1, Currency: "eur",
				Status: credit.DrawdownActive, CreatedAt: t0.Add(time.Duration(i) * time.Minute), CheckedAt: t0}
			require.NoError(t, s.Draw(ctx, d, func(*credit.Line) error { return nil }))
			ids = append([]string{d.ID}, ids...)
		}
		page, more, err := s.Drawdowns(ctx, b, credit.Page{Limit: 2})
		require.NoError(t, err)
		require.True(t, more)
		require.Equal(t, []string{page[0].ID, page[1].ID}, ids[:2])
		page, more, err = s.Drawdowns(ctx, b, credit.Page{Limit: 2, StartingAfter: ids[1]})
		require.NoError(t, err)
		require.False(t, more)
		require.Len(t, page, 1)
		require.Equal(t, ids[2], page[0].ID)
		_, _, err = s.Drawdowns(ctx, id("bus"), credit.Page{Limit: 2, StartingAfter: ids[1]})
		require.Equal(t, credit.ENOTFOUND, credit.ErrorCode(err), "another business's cursor")
	})

	t.Run("Unchecked and MarkChecked", func(t *testing.T) {
		b := id("bus")
		approve(t, b, 1000, "eur")
		d, err := draw(b, id("in"), 10)
		require.NoError(t, err)
		found := func(before time.Time) bool {
			ds, err := s.Unchecked(ctx, before, 1000)
			require.NoError(t, err)
			for _, x := range ds {
				if x.ID == d.ID {
					return true
				}
			}
			return false
		}
		require.True(t, found(t0.Add(time.Minute)))
		require.NoError(t, s.MarkChecked(ctx, d.ID, t0.Add(2*time.Minute)))
		require.False(t, found(t0.Add(time.Minute)))
	})

	t.Run("releases owed: Draw forgets its drawdown's, Settle owes one, Released forgets", func(t *testing.T) {
		b := id("bus")
		approve(t, b, 1000, "EUR")
		owed := func(before time.Time) []credit.Release {
			rs, err := s.OwedReleases(ctx, before, 1000)
			require.NoError(t, err)
			var mine []credit.Release
			for _, r := range rs {
				if r.BusinessID == b {
					mine = append(mine, r)
				}
			}
			return mine
		}
		drawn, refused := id("dd"), id("dd")
		inv, other := id("in"), id("in")
		for _, r := range []credit.Release{
			{DrawdownID: drawn, BusinessID: b, InvoiceID: inv, CreatedAt: t0},
			{DrawdownID: refused, BusinessID: b, InvoiceID: other, CreatedAt: t0.Add(time.Minute)},
		} {
			require.NoError(t, s.OweRelease(ctx, r))
			require.NoError(t, s.OweRelease(ctx, r), "owing again changes nothing")
		}
		require.Len(t, owed(t0.Add(time.Hour)), 2)
		require.Len(t, owed(t0.Add(time.Second)), 1, "only those owed before the time")

		d := &credit.Drawdown{ID: drawn, BusinessID: b, InvoiceID: inv, Amount: 100, Currency: "EUR", Status: credit.DrawdownActive, CreatedAt: t0, CheckedAt: t0}
		require.NoError(t, s.Draw(ctx, d, func(*credit.Line) error { return nil }))
		require.Equal(t, []credit.Release{{DrawdownID: refused, BusinessID: b, InvoiceID: other, CreatedAt: t0.Add(time.Minute)}}, owed(t0.Add(time.Hour)),
			"the drawdown written holds the invoice; the other hold is still owed")
		failed := &credit.Drawdown{ID: refused, BusinessID: b, InvoiceID: other, Amount: 100, Currency: "EUR", Status: credit.DrawdownActive, CreatedAt: t0, CheckedAt: t0}
		require.Error(t, s.Draw(ctx, failed, func(*credit.Line) error { return credit.Errorf(credit.ECONFLICT, "no") }))
		require.Len(t, owed(t0.Add(time.Hour)), 1, "a refused drawdown leaves its release owed")
		require.NoError(t, s.Released(ctx, refused))
		require.Empty(t, owed(t0.Add(time.Hour)))

		at := t0.Add(2 * time.Hour)
		settled, err := s.Settle(ctx, id("evt"), inv, at)
		require.NoError(t, err)
		require.NotNil(t, settled)
		require.Equal(t, []credit.Release{{DrawdownID: drawn, BusinessID: b, InvoiceID: inv, CreatedAt: at}}, owed(at.Add(time.Second)),
			"settling owes the release of the hold")
		require.NoError(t, s.Released(ctx, drawn))
		require.NoError(t, s.Released(ctx, drawn), "forgetting again is harmless")
		require.Empty(t, owed(at.Add(time.Second)))
	})

	t.Run("idempotency keys", func(t *testing.T) {
		scope := id("tenant")
		c := idempotency.Claim{Scope: scope, Key: "k", Hash: "h", Now: t0, ExpiredBefore: t0.Add(-24 * time.Hour), StaleBefore: t0.Add(-time.Minute)}
		o, _, err := s.Begin(ctx, c)
		require.NoError(t, err)
		require.Equal(t, idempotency.Acquired, o)
		o, _, err = s.Begin(ctx, c)
		require.NoError(t, err)
		require.Equal(t, idempotency.InProgress, o)
		require.NoError(t, s.Complete(ctx, scope, "k", idempotency.Record{Status: 201, Body: []byte(`{}`)}))
		o, rec, err := s.Begin(ctx, c)
		require.NoError(t, err)
		require.Equal(t, idempotency.Replay, o)
		require.Equal(t, 201, rec.Status)
		c.Hash = "other"
		o, _, err = s.Begin(ctx, c)
		require.NoError(t, err)
		require.Equal(t, idempotency.Mismatch, o)
	})
}

// FillLowerCaseCurrencies fills db, migrated to version 2, with an
// application, a line and a drawdown in a lower-case currency, as the
// credit service kept them before, and closes it; ts is a time literal of
// the backend.
func FillLowerCaseCurrencies(t *testing.T, db *sqldb.DB, ts string) {
	for _, q := range []string{
		`INSERT INTO applications (id, business_id, requested_limit, currency, status, approved_limit, reasons, decided_at)
			VALUES ('capp_1', 'bus_1', 1000, 'eur', 'approved', 1000, '[]', ` + ts + `)`,
		`INSERT INTO lines (business_id, currency, credit_limit, drawn, updated_at) VALUES ('bus_1', 'eur', 1000, 300, ` + ts + `)`,
		`INSERT INTO drawdowns (id, business_id, invoice_id, amount, currency, status, created_at, settled_at, checked_at)
			VALUES ('dd_1', 'bus_1', 'in_1', 300, 'eur', 'active', ` + ts + `, NULL, ` + ts + `)`,
	} {
		_, err := db.W.ExecContext(context.Background(), q)
		require.NoError(t, err, q)
	}
	require.NoError(t, db.Close())
}

// CheckUpperCaseCurrencies checks that the rows of LowerCaseCurrencies read
// back in upper case, and that no release is owed for them.
func CheckUpperCaseCurrencies(t *testing.T, s Store) {
	ctx := context.Background()
	a, err := s.Application(ctx, "capp_1")
	require.NoError(t, err)
	l, err := s.Line(ctx, "bus_1")
	require.NoError(t, err)
	d, err := s.Drawdown(ctx, "dd_1")
	require.NoError(t, err)
	require.Equal(t, []string{"EUR", "EUR", "EUR"}, []string{a.Currency, l.Currency, d.Currency})
	rs, err := s.OwedReleases(ctx, time.Now().AddDate(100, 0, 0), 10)
	require.NoError(t, err)
	require.Empty(t, rs)
}
