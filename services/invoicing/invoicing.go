// Package invoicing is the domain of the invoicing service: businesses (the
// tenants), invoices and their lifecycle, payments and who vouches for them
// (Provenance), the financing hold of the credit service, the money maths,
// the domain events, and the Store interface its adapters (sqlite, postgres)
// implement. It imports no adapter; the HTTP edge lives in the http
// subpackage.
//
// Money is int64 minor units everywhere (cents for USD, yen for JPY); no
// floating point value ever holds an amount or a rate.
package invoicing

import (
	"context"
	"time"
)

// Status is where an invoice is in its lifecycle:
//
//	draft → open → paid | void | uncollectible
//	uncollectible → paid | void
type Status string

// The statuses of an invoice. Overdue is not a status: it is derived (open
// and past its due date).
const (
	StatusDraft         Status = "draft"
	StatusOpen          Status = "open"
	StatusPaid          Status = "paid"
	StatusVoid          Status = "void"
	StatusUncollectible Status = "uncollectible"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	switch s {
	case StatusDraft, StatusOpen, StatusPaid, StatusVoid, StatusUncollectible:
		return true
	}
	return false
}

// Business is a tenant: it issues invoices to, and receives them from, other
// businesses registered on Estate.
type Business struct {
	ID string
	// Owner is the subject of the user who registered the business.
	Owner              string
	LegalName          string
	Country            string // ISO 3166-1 alpha-2
	RegistrationNumber string
	BillingEmail       string
	CreatedAt          time.Time
}

// LineItem is one line of an invoice. Amount and Tax are computed.
type LineItem struct {
	Description string
	Quantity    int64
	UnitAmount  int64
	// TaxRate is a percentage as a decimal string ("20", "8.25"); empty means
	// no tax.
	TaxRate string
	Amount  int64
	Tax     int64
}

// StatusTransitions keeps when the invoice changed status.
type StatusTransitions struct {
	FinalizedAt           *time.Time
	PaidAt                *time.Time
	VoidedAt              *time.Time
	MarkedUncollectibleAt *time.Time
}

// Invoice is a bill from an issuer business to a customer business.
type Invoice struct {
	ID string
	// Number is the issuer's sequential number, assigned when sent.
	Number      string
	IssuerID    string
	CustomerID  string
	Currency    string // ISO 4217, upper case as the standard writes it
	DueDate     string // YYYY-MM-DD
	Memo        string
	LineItems   []LineItem
	Subtotal    int64
	Tax         int64
	Total       int64
	AmountPaid  int64
	AmountDue   int64
	Status      Status
	Transitions StatusTransitions
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// Version grows by one with every change; it is the ETag.
	Version int64
	// PaidBy splits AmountPaid by the provenance of the payments.
	PaidBy PaidByProvenance
	// FinancedBy is the credit drawdown that finances the invoice, while it
	// is outstanding: a financed invoice cannot be voided or marked
	// uncollectible. Empty when none.
	FinancedBy string
}

// Overdue reports whether the invoice is open and past its due date at now.
func (inv *Invoice) Overdue(now time.Time) bool {
	return inv.Status == StatusOpen && inv.DueDate < now.UTC().Format(DateLayout)
}

// DateLayout is the layout of due dates.
const DateLayout = "2006-01-02"

// Payment is money received against an invoice: recorded by its issuer
// (and then perhaps confirmed by its customer), or reported by a payment
// provider.
type Payment struct {
	ID        string
	InvoiceID string
	Amount    int64
	Method    string
	Reference string
	CreatedAt time.Time
	// Provenance says who vouches for the payment.
	Provenance Provenance
	// ConfirmedAt is when the customer confirmed the payment.
	ConfirmedAt *time.Time
	// ProviderPaymentID is the provider's id of a provider-reported
	// payment; a provider reporting it again records nothing new.
	ProviderPaymentID string
}

// Event is a domain event written to the outbox in the transaction of the
// change it reports; it is delivered as a CloudEvent.
type Event struct {
	ID      string
	Type    string
	Source  string
	Subject string
	Time    time.Time
	// Data is the JSON of EventData.
	Data []byte
}

// Event types, as CloudEvents `type`.
const (
	EventInvoiceSent   = "dev.estate.invoice.sent"
	EventInvoicePaid   = "dev.estate.invoice.paid"
	EventInvoiceVoided = "dev.estate.invoice.voided"
	// EventPaymentConfirmed: the customer confirmed a payment of the
	// invoice, which may make its payments trusted where they were not.
	EventPaymentConfirmed = "dev.estate.invoice.payment_confirmed"
)

// EventData is the payload of every invoice event.
type EventData struct {
	InvoiceID  string     `json:"invoice_id"`
	Number     string     `json:"number"`
	Issuer     string     `json:"issuer"`
	Customer   string     `json:"customer"`
	Currency   string     `json:"currency"`
	Total      int64      `json:"total"`
	AmountPaid int64      `json:"amount_paid"`
	AmountDue  int64      `json:"amount_due"`
	Status     Status     `json:"status"`
	DueDate    string     `json:"due_date"`
	PaidAt     *time.Time `json:"paid_at,omitempty"`
	VoidedAt   *time.Time `json:"voided_at,omitempty"`
}

// Role selects invoices by the caller's side of them.
type Role string

// The roles of a business towards an invoice.
const (
	RoleIssued   Role = "issued"
	RoleReceived Role = "received"
)

// InvoiceFilter selects invoices for a list; BusinessID and Role are
// required.
type InvoiceFilter struct {
	BusinessID string
	Role       Role
	// Status filters on a status; "overdue" selects open invoices due before
	// Today.
	Status     string
	CustomerID string
	// DueBefore keeps invoices due strictly before this date (YYYY-MM-DD).
	DueBefore string
	// Today is the date overdue is computed against.
	Today string
	Limit int
	// StartingAfter is the id of the last invoice of the previous page.
	StartingAfter string
}

// InvoiceTx is what an update may do inside the store's transaction.
type InvoiceTx interface {
	// NextNumber returns the issuer's next invoice sequence number; it is
	// never handed out twice.
	NextNumber(ctx context.Context, issuerID string) (int64, error)
	// Payment returns a payment of the locked invoice; ENOTFOUND when the
	// invoice has no such payment.
	Payment(ctx context.Context, id string) (*Payment, error)
	// ProviderPayment returns the payment a provider reported under its id,
	// on any invoice; ENOTFOUND when there is none.
	ProviderPayment(ctx context.Context, providerPaymentID string) (*Payment, error)
}

// Change is what an update asks the store to write beside the invoice, in the
// same transaction.
type Change struct {
	// Delete removes the invoice instead of saving it.
	Delete  bool
	Payment *Payment
	Events  []Event
	// Keep writes nothing: the invoice is already as asked (a repeated
	// request).
	Keep bool
	// Confirmed is a payment of the invoice whose provenance and
	// confirmation time are written.
	Confirmed *Payment
}

// Store keeps businesses, invoices, payments and the outbox. Every method
// returns an *Error with code ENOTFOUND when a row is missing and ECONFLICT
// on a uniqueness violation; other errors are internal.
type Store interface {
	// CreateBusiness inserts b and makes b.Owner its owner member, in one
	// transaction; ECONFLICT when b.Owner already registered one.
	CreateBusiness(ctx context.Context, b *Business) error
	// Business returns the business; ENOTFOUND when there is none.
	Business(ctx context.Context, id string) (*Business, error)
	// BusinessByOwner returns the business registered by the subject;
	// ENOTFOUND when there is none.
	BusinessByOwner(ctx context.Context, owner string) (*Business, error)

	// Member returns the subject's membership of the business; ENOTFOUND
	// when it is not a member.
	Member(ctx context.Context, businessID, subject string) (*Member, error)
	// Members lists the members of the business, oldest first.
	Members(ctx context.Context, businessID string) ([]*Member, error)
	// Memberships lists the memberships of the subject, oldest first.
	Memberships(ctx context.Context, subject string) ([]*Member, error)
	// AddMember inserts m; ECONFLICT when its subject is already a member.
	AddMember(ctx context.Context, m *Member) error
	// UpdateMember locks the members of the business, passes fn the member
	// and how many owners the business has, and writes the member as fn
	// left it (its Version incremented), or removes it when fn's change
	// says Remove, in one transaction. An error from fn is returned as is
	// and nothing is written. ENOTFOUND when the subject is not a member.
	UpdateMember(ctx context.Context, businessID, subject string, fn func(m *Member, owners int) (MemberChange, error)) (*Member, error)

	// CreateInvoice inserts a draft.
	CreateInvoice(ctx context.Context, inv *Invoice) error
	// Invoice returns the invoice; ENOTFOUND when there is none.
	Invoice(ctx context.Context, id string) (*Invoice, error)
	// UpdateInvoice locks the invoice, passes it to fn, and writes the
	// invoice (its Version incremented), fn's payments and events in one
	// transaction; nothing when fn's change says Keep. An error from fn is
	// returned as is and nothing is written. ENOTFOUND when there is no
	// such invoice; ECONFLICT when a provider payment id is recorded twice.
	UpdateInvoice(ctx context.Context, id string, fn func(tx InvoiceTx, inv *Invoice) (Change, error)) (*Invoice, error)
	// ListInvoices returns a page, newest first, and whether more follow.
	// ENOTFOUND when StartingAfter names no invoice.
	ListInvoices(ctx context.Context, f InvoiceFilter) ([]*Invoice, bool, error)
	// IssuedInvoices returns the issuer's invoices finalized at or after
	// since, plus every one still open or uncollectible.
	IssuedInvoices(ctx context.Context, issuerID string, since time.Time) ([]*Invoice, error)
	// Payments lists the payments of an invoice, oldest first, with their
	// provenance.
	Payments(ctx context.Context, invoiceID string) ([]*Payment, error)

	// Ping checks the store answers.
	Ping(ctx context.Context) error
	Close() error
}
