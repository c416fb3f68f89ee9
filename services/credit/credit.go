// Package credit is the domain of the credit service: credit applications
// decided from a business's invoice history, the credit line they open, and
// drawdowns (advances against open invoices the business issued, which the
// invoicing service holds as financed) settled when the invoice is paid.
// Only the payments the policy trusts count, in decisions and in repayments
// (Trust). It holds the decision rules, the Store interface its adapters
// (sqlite, postgres) implement and the Invoicing interface its client of the
// invoicing service implements; it imports no adapter.
//
// Money is int64 minor units, as in the invoicing service.
package credit

import (
	"context"
	"time"
)

// Decision is the outcome of an application.
type Decision string

// The outcomes of an application.
const (
	Approved Decision = "approved"
	Declined Decision = "declined"
)

// Application is a request for a credit line and its decision; the reasons
// are kept with it, approved or not.
type Application struct {
	ID             string
	BusinessID     string
	RequestedLimit int64
	Currency       string
	Status         Decision
	ApprovedLimit  int64
	Reasons        []string
	DecidedAt      time.Time
}

// Line is a business's credit line: the limit of its last approved
// application and what is drawn on it.
type Line struct {
	BusinessID string
	Currency   string
	Limit      int64
	Drawn      int64
	UpdatedAt  time.Time
}

// Available is what may still be drawn; never negative (a lowered limit can
// leave more drawn than allowed until repayments come in).
func (l *Line) Available() int64 { return max(l.Limit-l.Drawn, 0) }

// DrawdownStatus is where a drawdown is in its life.
type DrawdownStatus string

// The statuses of a drawdown.
const (
	DrawdownActive  DrawdownStatus = "active"
	DrawdownSettled DrawdownStatus = "settled"
)

// Drawdown is an advance against one open invoice the business issued; it is
// settled when the invoice is paid.
type Drawdown struct {
	ID         string
	BusinessID string
	InvoiceID  string
	Amount     int64
	Currency   string
	Status     DrawdownStatus
	CreatedAt  time.Time
	SettledAt  *time.Time
	// CheckedAt is when the reconcile loop last asked the invoicing service
	// about the invoice (CreatedAt until then).
	CheckedAt time.Time
}

// Release is a financing hold the credit service owes the invoicing service
// to end: the hold of a drawdown that was repaid, or that was never written
// after its hold was asked for. Until the invoicing service confirms the
// release, the invoice cannot be voided; releases are therefore kept, and
// retried until confirmed.
type Release struct {
	DrawdownID string
	BusinessID string
	InvoiceID  string
	CreatedAt  time.Time
}

// Page selects a page of a list, newest first.
type Page struct {
	Limit int
	// StartingAfter is the id of the last item of the previous page.
	StartingAfter string
}

// Store keeps applications, lines, drawdowns and the ids of the events
// already handled. Methods return an *Error with ENOTFOUND when a row is
// missing and ECONFLICT on a uniqueness violation; other errors are
// internal.
type Store interface {
	// Decide writes the application and, when approved, sets the business's
	// line to its limit and currency, in one transaction. ECONFLICT when the
	// line is drawn in another currency.
	Decide(ctx context.Context, a *Application) error
	// Application returns an application; ENOTFOUND when there is none.
	Application(ctx context.Context, id string) (*Application, error)
	// Line returns the business's line; ENOTFOUND when it has none.
	Line(ctx context.Context, businessID string) (*Line, error)
	// Draw locks the business's line, passes it to check and, when check
	// returns nil, inserts d, adds its amount to the line and forgets the
	// release owed for d (the hold is now the drawdown's), in one
	// transaction. ENOTFOUND when the business has no line; ECONFLICT when
	// the invoice is already financed; check's error is returned as is.
	Draw(ctx context.Context, d *Drawdown, check func(l *Line) error) error
	// Drawdown returns a drawdown; ENOTFOUND when there is none.
	Drawdown(ctx context.Context, id string) (*Drawdown, error)
	// Drawdowns lists a business's drawdowns, newest first, and whether more
	// follow. ENOTFOUND when StartingAfter names none of them.
	Drawdowns(ctx context.Context, businessID string, p Page) ([]*Drawdown, bool, error)
	// ActiveDrawdown returns the active drawdown on an invoice; ENOTFOUND
	// when there is none.
	ActiveDrawdown(ctx context.Context, invoiceID string) (*Drawdown, error)
	// Settle records eventID as handled and settles the active drawdown on
	// the invoice, giving its amount back to the line and owing the release
	// of its financing hold, in one transaction. It returns the drawdown
	// settled, or nil when the event was handled before or no drawdown is
	// active on the invoice.
	Settle(ctx context.Context, eventID, invoiceID string, at time.Time) (*Drawdown, error)
	// OweRelease records a release owed; recording it again changes
	// nothing.
	OweRelease(ctx context.Context, r Release) error
	// OwedReleases returns up to limit releases owed since before t, oldest
	// first.
	OwedReleases(ctx context.Context, before time.Time, limit int) ([]Release, error)
	// Released forgets the release owed for the drawdown, once made.
	Released(ctx context.Context, drawdownID string) error
	// Unchecked returns up to limit active drawdowns last checked before t,
	// oldest check first.
	Unchecked(ctx context.Context, before time.Time, limit int) ([]*Drawdown, error)
	// MarkChecked records that the drawdown's invoice was asked about at t.
	MarkChecked(ctx context.Context, id string, at time.Time) error

	Ping(ctx context.Context) error
	Close() error
}
