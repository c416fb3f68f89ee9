package invoicing

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// History summarizes a business's invoicing over a window, per currency: what
// a credit decision reads.
type History struct {
	BusinessID string
	Days       int
	From, To   time.Time
	Currencies []CurrencyHistory
}

// CurrencyHistory is the history in one currency. Issued and paid count
// invoices finalized or paid in the window [From, To]; overdue and outstanding are the
// state at To. Paid splits the paid invoices by the provenances of their
// payments, so that a reader counts only those it trusts.
type CurrencyHistory struct {
	Currency          string
	IssuedCount       int64
	IssuedAmount      int64
	PaidCount         int64
	PaidAmount        int64
	PaidOnTimeCount   int64
	PaidOnTimeAmount  int64
	OverdueCount      int64
	OverdueAmount     int64
	OutstandingCount  int64
	OutstandingAmount int64
	// Paid groups the invoices counted in PaidCount by the provenances of
	// their payments, fewest provenances first.
	Paid []PaidGroup
}

// PaidGroup counts the invoices paid in the window whose payments have
// exactly these provenances. An invoice paid with no payment (its total is
// zero) has none.
type PaidGroup struct {
	Provenances  []Provenance
	Count        int64
	Amount       int64
	OnTimeCount  int64
	OnTimeAmount int64
}

// MaxHistoryDays bounds the history window.
const MaxHistoryDays = 730

// History returns the invoicing history of a business over the last days.
// The edge checks that the caller may read it (a machine token with the
// history scope).
func (s *Service) History(ctx context.Context, businessID string, days int) (*History, error) {
	if days < 1 || days > MaxHistoryDays {
		return nil, &Error{Code: EINVALID, Message: "days is out of range",
			Fields: []FieldError{{Field: "days", Message: fmt.Sprintf("must be from 1 to %d", MaxHistoryDays), Value: days}}}
	}
	if _, err := s.store.Business(ctx, businessID); err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	from := now.AddDate(0, 0, -days)
	invs, err := s.store.IssuedInvoices(ctx, businessID, from)
	if err != nil {
		return nil, fmt.Errorf("reading issued invoices: %w", err)
	}
	return summarize(businessID, days, from, now, invs), nil
}

func summarize(businessID string, days int, from, to time.Time, invs []*Invoice) *History {
	by := map[string]*CurrencyHistory{}
	groups := map[string]map[string]*PaidGroup{} // currency → provenances → group
	in := func(t *time.Time) bool { return t != nil && !t.Before(from) && !t.After(to) }
	for _, inv := range invs {
		h := by[inv.Currency]
		if h == nil {
			h = &CurrencyHistory{Currency: inv.Currency}
			by[inv.Currency] = h
		}
		if in(inv.Transitions.FinalizedAt) {
			h.IssuedCount++
			h.IssuedAmount += inv.Total
		}
		if inv.Status == StatusPaid && in(inv.Transitions.PaidAt) {
			prs := inv.PaidBy.Provenances()
			key := fmt.Sprint(prs)
			if groups[inv.Currency] == nil {
				groups[inv.Currency] = map[string]*PaidGroup{}
			}
			g := groups[inv.Currency][key]
			if g == nil {
				g = &PaidGroup{Provenances: prs}
				groups[inv.Currency][key] = g
			}
			h.PaidCount++
			h.PaidAmount += inv.Total
			g.Count++
			g.Amount += inv.Total
			if inv.Transitions.PaidAt.UTC().Format(DateLayout) <= inv.DueDate {
				h.PaidOnTimeCount++
				h.PaidOnTimeAmount += inv.Total
				g.OnTimeCount++
				g.OnTimeAmount += inv.Total
			}
		}
		if inv.Overdue(to) {
			h.OverdueCount++
			h.OverdueAmount += inv.AmountDue
		}
		if inv.Status == StatusOpen || inv.Status == StatusUncollectible {
			h.OutstandingCount++
			h.OutstandingAmount += inv.AmountDue
		}
	}
	out := &History{BusinessID: businessID, Days: days, From: from, To: to, Currencies: []CurrencyHistory{}}
	for cur, h := range by {
		for _, g := range groups[cur] {
			h.Paid = append(h.Paid, *g)
		}
		slices.SortFunc(h.Paid, func(a, b PaidGroup) int {
			if n := len(a.Provenances) - len(b.Provenances); n != 0 {
				return n
			}
			return slices.Compare(a.Provenances, b.Provenances)
		})
		out.Currencies = append(out.Currencies, *h)
	}
	slices.SortFunc(out.Currencies, func(a, b CurrencyHistory) int {
		switch {
		case a.Currency < b.Currency:
			return -1
		case a.Currency > b.Currency:
			return 1
		}
		return 0
	})
	return out
}
