package http

import (
	"time"

	"github.com/estatehq/estate/services/credit"
)

// The wire format: snake_case JSON as in the invoicing API. Money is integer
// minor units.

// ApplicationCreate applies for a credit line.
type ApplicationCreate struct {
	RequestedLimit int64  `json:"requested_limit" minimum:"1" maximum:"999999999999" doc:"Limit asked for, minor units."`
	Currency       string `json:"currency" pattern:"^[A-Za-z]{3}$" doc:"ISO 4217 currency code, in either case (EUR or eur); kept and answered in upper case. Codes of precious metals, units of account and testing (XAU, XDR, XTS...) are refused." example:"EUR"`
}

// Application is an application and its decision.
type Application struct {
	ID             string    `json:"id" example:"capp_0a1b2c3d4e5f6g7h8j9k"`
	RequestedLimit int64     `json:"requested_limit"`
	Currency       string    `json:"currency" doc:"ISO 4217 currency code, upper case." example:"EUR"`
	Status         string    `json:"status" enum:"approved,declined"`
	ApprovedLimit  int64     `json:"approved_limit" doc:"0 when declined."`
	Reasons        []string  `json:"reasons" doc:"Why: one entry per rule, a stable code then a colon and an explanation."`
	DecidedAt      time.Time `json:"decided_at"`
}

func applicationOut(a *credit.Application) *Application {
	reasons := a.Reasons
	if reasons == nil {
		reasons = []string{}
	}
	return &Application{ID: a.ID, RequestedLimit: a.RequestedLimit, Currency: a.Currency, Status: string(a.Status),
		ApprovedLimit: a.ApprovedLimit, Reasons: reasons, DecidedAt: a.DecidedAt}
}

// Line is a credit line.
type Line struct {
	Limit     int64  `json:"limit"`
	Drawn     int64  `json:"drawn"`
	Available int64  `json:"available"`
	Currency  string `json:"currency" doc:"ISO 4217 currency code, upper case." example:"EUR"`
}

func lineOut(l *credit.Line) *Line {
	return &Line{Limit: l.Limit, Drawn: l.Drawn, Available: l.Available(), Currency: l.Currency}
}

// DrawdownCreate draws against an invoice.
type DrawdownCreate struct {
	InvoiceID string `json:"invoice_id" minLength:"1" maxLength:"64" doc:"An open invoice the caller issued."`
	Amount    int64  `json:"amount" minimum:"1" maximum:"999999999999" doc:"Minor units; at most 80% of the invoice's amount due and the available credit."`
}

// Drawdown is an advance against an invoice.
type Drawdown struct {
	ID        string     `json:"id" example:"dd_0a1b2c3d4e5f6g7h8j9k"`
	InvoiceID string     `json:"invoice_id"`
	Amount    int64      `json:"amount"`
	Currency  string     `json:"currency" doc:"ISO 4217 currency code, upper case." example:"EUR"`
	Status    string     `json:"status" enum:"active,settled"`
	CreatedAt time.Time  `json:"created_at"`
	SettledAt *time.Time `json:"settled_at,omitempty" doc:"When the invoice was paid, all of it with payments the credit policy trusts, and the drawdown repaid."`
}

func drawdownOut(d *credit.Drawdown) *Drawdown {
	return &Drawdown{ID: d.ID, InvoiceID: d.InvoiceID, Amount: d.Amount, Currency: d.Currency, Status: string(d.Status),
		CreatedAt: d.CreatedAt, SettledAt: d.SettledAt}
}

// DrawdownList is a page of drawdowns.
type DrawdownList struct {
	Data    []*Drawdown `json:"data"`
	HasMore bool        `json:"has_more"`
}
