package credit

import (
	"context"
	"strings"
	"time"

	"github.com/estatehq/estate/services/contracts"
)

// Invoicing is what the credit service asks the invoicing service. Every
// call returns an *Error: ENOTFOUND when the business or invoice is unknown
// (or not visible to the business), EUNAVAILABLE when the invoicing service
// cannot answer now (a change may then have been made or not: each is safe
// to repeat).
type Invoicing interface {
	// History returns the business's invoice history over the last days.
	History(ctx context.Context, businessID string, days int) (*History, error)
	// Invoice returns an invoice as the business sees it.
	Invoice(ctx context.Context, businessID, invoiceID string) (*Invoice, error)
	// Finance marks an open invoice the business issued as financed by the
	// drawdown, so that it cannot be voided or marked uncollectible; doing
	// it again changes nothing. ECONFLICT when the invoicing service
	// refuses (the invoice is not open, or another drawdown finances it).
	Finance(ctx context.Context, businessID, invoiceID, drawdownID string) error
	// ReleaseFinancing ends the financing of the invoice by the drawdown;
	// it changes nothing when the drawdown does not finance it.
	ReleaseFinancing(ctx context.Context, businessID, invoiceID, drawdownID string) error
	// Memberships returns the businesses the subject acts for, and its
	// role in each (none when it acts for none).
	Memberships(ctx context.Context, subject string) ([]contracts.Membership, error)
}

// History is the part of the invoice history a decision reads, per
// currency.
type History struct {
	BusinessID string
	Days       int
	Currencies []CurrencyHistory
}

// CurrencyHistory is the history in one currency. The paid figures count
// every paid invoice whoever vouches for its payments; Paid splits them by
// provenance, for Trust.History.
type CurrencyHistory struct {
	Currency        string
	IssuedCount     int64
	PaidCount       int64
	PaidAmount      int64
	PaidOnTimeCount int64
	OverdueCount    int64
	OverdueAmount   int64
	Paid            []PaidGroup
}

// PaidGroup counts the paid invoices whose payments have exactly these
// provenances (none for an invoice paid with no payment).
type PaidGroup struct {
	Provenances []string
	Count       int64
	Amount      int64
	OnTimeCount int64
}

// In returns the history in a currency (ISO 4217 codes compare in any
// case), zero when there is none.
func (h *History) In(currency string) CurrencyHistory {
	for _, c := range h.Currencies {
		if strings.EqualFold(c.Currency, currency) {
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
	// PaidBy is the amount paid by provenance.
	PaidBy map[string]int64
	PaidAt *time.Time
	// Financed: a drawdown holds the invoice (Invoicing.Finance).
	Financed bool
}
