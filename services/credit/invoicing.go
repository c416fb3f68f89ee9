package credit

import (
	"context"
	"time"
)

// Invoicing is what the credit service asks the invoicing service. Both
// calls return an *Error: ENOTFOUND when the business or invoice is unknown
// (or not visible to the business), EUNAVAILABLE when the invoicing service
// cannot answer now.
type Invoicing interface {
	// History returns the business's invoice history over the last days.
	History(ctx context.Context, businessID string, days int) (*History, error)
	// Invoice returns an invoice as the business sees it.
	Invoice(ctx context.Context, businessID, invoiceID string) (*Invoice, error)
}

// History is the part of the invoice history a decision reads, per
// currency.
type History struct {
	BusinessID string
	Days       int
	Currencies []CurrencyHistory
}

// CurrencyHistory is the history in one currency.
type CurrencyHistory struct {
	Currency        string
	IssuedCount     int64
	PaidCount       int64
	PaidAmount      int64
	PaidOnTimeCount int64
	OverdueCount    int64
	OverdueAmount   int64
}

// In returns the history in a currency, zero when there is none.
func (h *History) In(currency string) CurrencyHistory {
	for _, c := range h.Currencies {
		if c.Currency == currency {
			return c
		}
	}
	return CurrencyHistory{Currency: currency}
}

// Invoice is the part of an invoice a drawdown reads.
type Invoice struct {
	ID        string
	Issuer    string
	Customer  string
	Currency  string
	Status    string // draft, open, paid, void, uncollectible
	Total     int64
	AmountDue int64
	PaidAt    *time.Time
}
