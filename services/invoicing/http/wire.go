package http

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/estatehq/estate/services/invoicing"
)

// The wire format: snake_case JSON, Stripe-like. Money is integer minor
// units.

// Business is a registered business; another business sees only id,
// legal_name and country.
type Business struct {
	ID                 string     `json:"id" doc:"Business id." example:"bus_0a1b2c3d4e5f6g7h8j9k"`
	LegalName          string     `json:"legal_name" doc:"Registered legal name."`
	Country            string     `json:"country" doc:"ISO 3166-1 alpha-2 country code." example:"FR"`
	RegistrationNumber string     `json:"registration_number,omitempty" doc:"Company registration number; shown to the business itself only."`
	BillingEmail       string     `json:"billing_email,omitempty" format:"email" doc:"Billing email; shown to the business itself only."`
	CreatedAt          *time.Time `json:"created_at,omitempty" doc:"When the business registered; shown to the business itself only."`
}

// BusinessCreate registers a business.
type BusinessCreate struct {
	LegalName          string `json:"legal_name" minLength:"1" maxLength:"200" doc:"Registered legal name."`
	Country            string `json:"country" pattern:"^[A-Z]{2}$" doc:"ISO 3166-1 alpha-2 country code." example:"FR"`
	RegistrationNumber string `json:"registration_number" minLength:"1" maxLength:"64" doc:"Company registration number."`
	BillingEmail       string `json:"billing_email" maxLength:"254" format:"email" doc:"Where invoices are sent."`
}

func businessOut(b *invoicing.Business, own bool) *Business {
	out := &Business{ID: b.ID, LegalName: b.LegalName, Country: b.Country}
	if own {
		t := b.CreatedAt
		out.RegistrationNumber, out.BillingEmail, out.CreatedAt = b.RegistrationNumber, b.BillingEmail, &t
	}
	return out
}

// LineItemIn is a line as sent.
type LineItemIn struct {
	Description string `json:"description" minLength:"1" maxLength:"500"`
	Quantity    int64  `json:"quantity" minimum:"1" maximum:"1000000"`
	UnitAmount  int64  `json:"unit_amount" minimum:"0" maximum:"999999999999" doc:"Price of one unit in minor units (cents)."`
	TaxRate     string `json:"tax_rate,omitempty" pattern:"^[0-9]{1,3}(\\.[0-9]{1,4})?$" doc:"Tax rate in percent, as a decimal string: \"20\", \"8.25\"."`
}

// LineItem is a line as returned.
type LineItem struct {
	Description string `json:"description"`
	Quantity    int64  `json:"quantity"`
	UnitAmount  int64  `json:"unit_amount"`
	TaxRate     string `json:"tax_rate,omitempty"`
	Amount      int64  `json:"amount" doc:"quantity × unit_amount, minor units."`
	Tax         int64  `json:"tax" doc:"Tax of the line, rounded half up to the minor unit."`
}

// InvoiceCreate creates a draft.
type InvoiceCreate struct {
	Customer  string       `json:"customer" minLength:"1" maxLength:"64" doc:"Id of the customer business."`
	Currency  string       `json:"currency" pattern:"^[A-Za-z]{3}$" doc:"ISO 4217 currency code, in either case (EUR or eur); the invoice keeps and answers it in upper case. Codes of precious metals, units of account and testing (XAU, XDR, XTS...) are refused." example:"EUR"`
	DueDate   string       `json:"due_date" format:"date" doc:"Due date, YYYY-MM-DD, from 1900-01-01 to 2999-12-31." example:"2026-12-31"`
	Memo      string       `json:"memo,omitempty" maxLength:"5000"`
	LineItems []LineItemIn `json:"line_items" minItems:"1" maxItems:"100"`
}

// InvoicePatch changes a draft; absent fields are kept, line_items replaces
// every line.
type InvoicePatch struct {
	Customer  *string       `json:"customer,omitempty" minLength:"1" maxLength:"64"`
	Currency  *string       `json:"currency,omitempty" pattern:"^[A-Za-z]{3}$" doc:"ISO 4217 currency code, in either case; kept in upper case."`
	DueDate   *string       `json:"due_date,omitempty" format:"date" doc:"From 1900-01-01 to 2999-12-31."`
	Memo      *string       `json:"memo,omitempty" maxLength:"5000"`
	LineItems *[]LineItemIn `json:"line_items,omitempty" minItems:"1" maxItems:"100"`
}

// StatusTransitions says when the invoice changed status.
type StatusTransitions struct {
	FinalizedAt           *time.Time `json:"finalized_at,omitempty"`
	PaidAt                *time.Time `json:"paid_at,omitempty"`
	VoidedAt              *time.Time `json:"voided_at,omitempty"`
	MarkedUncollectibleAt *time.Time `json:"marked_uncollectible_at,omitempty"`
}

// Invoice is an invoice as returned.
type Invoice struct {
	ID                string            `json:"id" example:"in_0a1b2c3d4e5f6g7h8j9k"`
	Number            string            `json:"number,omitempty" doc:"The issuer's sequential number, assigned when sent." example:"INV-000123"`
	Status            string            `json:"status" enum:"draft,open,paid,void,uncollectible"`
	Overdue           bool              `json:"overdue" doc:"Open and past its due date."`
	Issuer            string            `json:"issuer"`
	Customer          string            `json:"customer"`
	Currency          string            `json:"currency" doc:"ISO 4217 currency code, upper case." example:"EUR"`
	DueDate           string            `json:"due_date" format:"date"`
	Memo              string            `json:"memo"`
	LineItems         []LineItem        `json:"line_items"`
	Subtotal          int64             `json:"subtotal"`
	Tax               int64             `json:"tax"`
	Total             int64             `json:"total"`
	AmountPaid        int64             `json:"amount_paid"`
	AmountDue         int64             `json:"amount_due"`
	StatusTransitions StatusTransitions `json:"status_transitions"`
	CreatedAt         time.Time         `json:"created_at"`
	UpdatedAt         time.Time         `json:"updated_at"`
	// Who vouches for the money paid, and whether credit finances the
	// invoice.
	AmountPaidByProvenance PaidByProvenance `json:"amount_paid_by_provenance" doc:"amount_paid split by who vouches for the payments."`
	Financed               bool             `json:"financed" doc:"A credit drawdown against the invoice is outstanding: it cannot be voided or marked uncollectible until the drawdown is repaid."`
}

// PaidByProvenance splits an amount paid by the provenance of the payments.
type PaidByProvenance struct {
	IssuerRecorded    int64 `json:"issuer_recorded" doc:"Recorded by the issuer and not confirmed by the customer."`
	CustomerConfirmed int64 `json:"customer_confirmed" doc:"Recorded by the issuer and confirmed by the customer."`
	ProviderReported  int64 `json:"provider_reported" doc:"Reported by a payment provider through the signed payment webhook."`
}

func invoiceOut(inv *invoicing.Invoice, now time.Time) *Invoice {
	out := &Invoice{
		ID: inv.ID, Number: inv.Number, Status: string(inv.Status), Overdue: inv.Overdue(now),
		Issuer: inv.IssuerID, Customer: inv.CustomerID, Currency: inv.Currency, DueDate: inv.DueDate, Memo: inv.Memo,
		LineItems: make([]LineItem, len(inv.LineItems)),
		Subtotal:  inv.Subtotal, Tax: inv.Tax, Total: inv.Total, AmountPaid: inv.AmountPaid, AmountDue: inv.AmountDue,
		StatusTransitions: StatusTransitions(inv.Transitions),
		CreatedAt:         inv.CreatedAt, UpdatedAt: inv.UpdatedAt,
		AmountPaidByProvenance: PaidByProvenance(inv.PaidBy), Financed: inv.FinancedBy != "",
	}
	for i, li := range inv.LineItems {
		out.LineItems[i] = LineItem(li)
	}
	return out
}

func lineItemsIn(in []LineItemIn) []invoicing.LineItemInput {
	out := make([]invoicing.LineItemInput, len(in))
	for i, li := range in {
		out[i] = invoicing.LineItemInput(li)
	}
	return out
}

// PaymentCreate records a payment.
type PaymentCreate struct {
	Amount    int64  `json:"amount" minimum:"1" maximum:"999999999999" doc:"Amount received, minor units; at most the amount due."`
	Method    string `json:"method" enum:"bank_transfer,card,cash,check,other"`
	Reference string `json:"reference,omitempty" maxLength:"200" doc:"The payer's reference, a bank transaction id."`
}

// PaymentReport is a payment a payment provider reports through the signed
// webhook.
type PaymentReport struct {
	ID        string `json:"id" minLength:"1" maxLength:"255" doc:"The provider's id of the payment; a report repeated with the same id records nothing new." example:"pi_3MtwBwLkdIwHu7ix28a3tqPa"`
	InvoiceID string `json:"invoice_id" minLength:"1" maxLength:"64" doc:"The invoice paid."`
	PaymentCreate
}

// Payment is a recorded payment with the invoice it changed.
type Payment struct {
	ID          string     `json:"id" example:"py_0a1b2c3d4e5f6g7h8j9k"`
	Amount      int64      `json:"amount"`
	Method      string     `json:"method"`
	Reference   string     `json:"reference"`
	Provenance  string     `json:"provenance" enum:"issuer_recorded,customer_confirmed,provider_reported" doc:"Who vouches for the payment: recorded by the issuer; recorded by the issuer and confirmed by the customer; or reported by a payment provider."`
	ConfirmedAt *time.Time `json:"confirmed_at,omitempty" doc:"When the customer confirmed the payment."`
	CreatedAt   time.Time  `json:"created_at"`
	Invoice     *Invoice   `json:"invoice,omitempty" doc:"The invoice after the payment."`
}

func paymentOut(p *invoicing.Payment) *Payment {
	return &Payment{ID: p.ID, Amount: p.Amount, Method: p.Method, Reference: p.Reference, Provenance: string(p.Provenance),
		ConfirmedAt: p.ConfirmedAt, CreatedAt: p.CreatedAt}
}

// InvoiceList is a page of invoices.
type InvoiceList struct {
	Data    []*Invoice `json:"data"`
	HasMore bool       `json:"has_more"`
}

// PaymentList lists payments.
type PaymentList struct {
	Data    []*Payment `json:"data"`
	HasMore bool       `json:"has_more"`
}

// CurrencyHistory is the history in one currency.
type CurrencyHistory struct {
	Currency          string `json:"currency"`
	IssuedCount       int64  `json:"issued_count"`
	IssuedAmount      int64  `json:"issued_amount"`
	PaidCount         int64  `json:"paid_count"`
	PaidAmount        int64  `json:"paid_amount"`
	PaidOnTimeCount   int64  `json:"paid_on_time_count"`
	PaidOnTimeAmount  int64  `json:"paid_on_time_amount"`
	OverdueCount      int64  `json:"overdue_count"`
	OverdueAmount     int64  `json:"overdue_amount"`
	OutstandingCount  int64  `json:"outstanding_count"`
	OutstandingAmount int64  `json:"outstanding_amount"`
	// PaidByProvenance splits the paid invoices by who vouches for their
	// payments.
	PaidByProvenance []PaidGroup `json:"paid_by_provenance" doc:"The invoices counted in paid_count, grouped by the provenances of their payments: a reader that trusts only some provenances counts the groups whose provenances it all trusts. An invoice of total 0 is paid with no payment; its group has no provenance."`
}

// PaidGroup counts the paid invoices whose payments have these provenances.
type PaidGroup struct {
	Provenances  []string `json:"provenances" doc:"The provenances of the invoices' payments: issuer_recorded, customer_confirmed, provider_reported."`
	Count        int64    `json:"count"`
	Amount       int64    `json:"amount"`
	OnTimeCount  int64    `json:"on_time_count"`
	OnTimeAmount int64    `json:"on_time_amount"`
}

// History is a business's invoicing history.
type History struct {
	Business   string            `json:"business"`
	Days       int               `json:"days"`
	From       time.Time         `json:"from"`
	To         time.Time         `json:"to"`
	Currencies []CurrencyHistory `json:"currencies" doc:"Per currency: invoices issued and paid in the window, paid on or before their due date, and overdue and outstanding now."`
}

func historyOut(h *invoicing.History) *History {
	out := &History{Business: h.BusinessID, Days: h.Days, From: h.From, To: h.To, Currencies: make([]CurrencyHistory, len(h.Currencies))}
	for i, c := range h.Currencies {
		groups := make([]PaidGroup, len(c.Paid))
		for j, g := range c.Paid {
			prs := make([]string, len(g.Provenances))
			for k, pr := range g.Provenances {
				prs[k] = string(pr)
			}
			groups[j] = PaidGroup{Provenances: prs, Count: g.Count, Amount: g.Amount, OnTimeCount: g.OnTimeCount, OnTimeAmount: g.OnTimeAmount}
		}
		out.Currencies[i] = CurrencyHistory{
			Currency: c.Currency, IssuedCount: c.IssuedCount, IssuedAmount: c.IssuedAmount,
			PaidCount: c.PaidCount, PaidAmount: c.PaidAmount, PaidOnTimeCount: c.PaidOnTimeCount, PaidOnTimeAmount: c.PaidOnTimeAmount,
			OverdueCount: c.OverdueCount, OverdueAmount: c.OverdueAmount, OutstandingCount: c.OutstandingCount, OutstandingAmount: c.OutstandingAmount,
			PaidByProvenance: groups,
		}
	}
	return out
}

// etag is the entity tag of an invoice version.
func etag(v int64) string { return `"v` + strconv.FormatInt(v, 10) + `"` }

// ifMatch reads an If-Match header into a precondition (RFC 9110
// §13.1.1): nil for none or "*" (the resource exists, or the request gets
// 404), else the versions of the strong tags listed, any of which lets the
// change go ahead. A weak tag never matches (If-Match compares strongly),
// nor does a tag of no version of ours; reading stops at the first
// malformed entry, so what follows it matches nothing either.
func ifMatch(h string) invoicing.Precondition {
	h = strings.TrimSpace(h)
	if h == "" || h == "*" {
		return nil
	}
	want := invoicing.Precondition{}
	for {
		h = strings.TrimLeft(h, " \t,")
		weak := strings.HasPrefix(h, "W/")
		if weak {
			h = h[2:]
		}
		if !strings.HasPrefix(h, `"`) {
			return want
		}
		end := strings.IndexByte(h[1:], '"')
		if end < 0 {
			return want
		}
		tag := h[1 : 1+end]
		h = h[2+end:]
		if weak || !strings.HasPrefix(tag, "v") {
			continue
		}
		if v, err := strconv.ParseInt(tag[1:], 10, 64); err == nil && v >= 0 {
			want = append(want, v)
		}
	}
}

func location(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// Member is a user who acts for a business, with its role.
type Member struct {
	Business  string    `json:"business" doc:"The business the member acts for."`
	Subject   string    `json:"subject" doc:"The subject (sub claim) of the member's tokens."`
	Role      string    `json:"role" enum:"owner,finance,read_only" doc:"owner: everything, the members included; finance: create, change, send and settle invoices; read_only: read only."`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// MemberCreate invites a member.
type MemberCreate struct {
	Subject string `json:"subject" minLength:"1" maxLength:"255" doc:"The subject (sub claim) of the user's tokens at the issuer."`
	Role    string `json:"role" enum:"owner,finance,read_only"`
}

// MemberPatch changes a member's role.
type MemberPatch struct {
	Role string `json:"role" enum:"owner,finance,read_only"`
}

// MemberList is the members of a business, or the memberships of a
// subject, oldest first.
type MemberList struct {
	Data []*Member `json:"data"`
}

func memberOut(m *invoicing.Member) *Member {
	return &Member{Business: m.BusinessID, Subject: m.Subject, Role: string(m.Role), CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

func memberListOut(ms []*invoicing.Member) *MemberList {
	out := &MemberList{Data: make([]*Member, 0, len(ms))}
	for _, m := range ms {
		out.Data = append(out.Data, memberOut(m))
	}
	return out
}
