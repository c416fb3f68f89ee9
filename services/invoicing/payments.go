package invoicing

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/estatehq/estate/services/contracts"
)

// Provenance says who vouches that a payment was made. The invoicing
// service records every payment whatever its provenance; what it is worth
// is for the reader to judge (the credit service trusts only some, by
// policy).
type Provenance string

// The provenances of a payment, spelt as services/contracts defines them.
const (
	// ProvenanceIssuerRecorded: the issuer says it was paid (POST
	// /v1/invoices/{id}/payments).
	ProvenanceIssuerRecorded Provenance = contracts.ProvenanceIssuerRecorded
	// ProvenanceCustomerConfirmed: the customer confirmed a payment the
	// issuer recorded.
	ProvenanceCustomerConfirmed Provenance = contracts.ProvenanceCustomerConfirmed
	// ProvenanceProviderReported: a payment provider reported it through
	// the signed payment webhook.
	ProvenanceProviderReported Provenance = contracts.ProvenanceProviderReported
)

// PaidByProvenance splits an invoice's amount paid by the provenance of its
// payments; the three always sum to AmountPaid.
type PaidByProvenance struct {
	IssuerRecorded    int64
	CustomerConfirmed int64
	ProviderReported  int64
}

func (p *PaidByProvenance) amount(pr Provenance) *int64 {
	switch pr {
	case ProvenanceCustomerConfirmed:
		return &p.CustomerConfirmed
	case ProvenanceProviderReported:
		return &p.ProviderReported
	}
	return &p.IssuerRecorded
}

// Of returns the amount paid with the provenance.
func (p PaidByProvenance) Of(pr Provenance) int64 { return *p.amount(pr) }

// Provenances returns the provenances the invoice was paid with (those with
// a positive amount), in the order of contracts.Provenances.
func (p PaidByProvenance) Provenances() []Provenance {
	var out []Provenance
	for _, pr := range contracts.Provenances() {
		if p.Of(Provenance(pr)) > 0 {
			out = append(out, Provenance(pr))
		}
	}
	return out
}

// PaymentInput records a payment.
type PaymentInput struct {
	Amount    int64
	Method    string
	Reference string
}

// paymentMethods are the accepted payment methods.
var paymentMethods = []string{"bank_transfer", "card", "cash", "check", "other"}

func (in PaymentInput) check(fe *fieldErrors) {
	if in.Amount < 1 || in.Amount > MaxAmount {
		fe.add("amount", fmt.Sprintf("must be from 1 to %d minor units", MaxAmount), in.Amount)
	}
	if !slices.Contains(paymentMethods, in.Method) {
		fe.add("method", "must be one of "+strings.Join(paymentMethods, ", "), in.Method)
	}
	checkText(fe, "reference", in.Reference, 0, 200)
}

// pay applies a payment of in with the provenance to the locked invoice: it
// must be open or uncollectible and owe at least the amount; the invoice is
// paid when nothing is left due.
func (s *Service) pay(inv *Invoice, in PaymentInput, pr Provenance, now time.Time) (Change, *Payment, error) {
	if inv.Status != StatusOpen && inv.Status != StatusUncollectible {
		return Change{}, nil, conflictf(inv, "pay")
	}
	if in.Amount > inv.AmountDue {
		return Change{}, nil, &Error{Code: ECONFLICT,
			Message: fmt.Sprintf("the payment of %d exceeds the amount due of %d", in.Amount, inv.AmountDue),
			Fields:  []FieldError{{Field: "amount", Message: fmt.Sprintf("must be at most the amount due, %d", inv.AmountDue), Value: in.Amount}}}
	}
	inv.AmountPaid += in.Amount
	inv.AmountDue -= in.Amount
	*inv.PaidBy.amount(pr) += in.Amount
	pay := &Payment{ID: s.newID("py"), InvoiceID: inv.ID, Amount: in.Amount, Method: in.Method, Reference: in.Reference,
		Provenance: pr, CreatedAt: now}
	ch := Change{Payment: pay}
	if inv.AmountDue == 0 {
		inv.Status = StatusPaid
		inv.Transitions.PaidAt = &now
		ch.Events = []Event{s.event(EventInvoicePaid, inv, now)}
	}
	return ch, pay, nil
}

// ConfirmPayment records that the invoice's customer confirms a payment its
// issuer recorded: the payment becomes customer-confirmed. Only the
// customer may (EFORBIDDEN for the issuer); confirming again changes
// nothing; a payment reported by a provider needs no confirmation
// (ECONFLICT).
func (s *Service) ConfirmPayment(ctx context.Context, c Caller, invoiceID, paymentID string) (*Invoice, *Payment, error) {
	me, err := s.acting(ctx, c, PermInvoices)
	if err != nil {
		return nil, nil, err
	}
	var pay *Payment
	inv, err := s.store.UpdateInvoice(ctx, invoiceID, func(tx InvoiceTx, inv *Invoice) (Change, error) {
		if !visible(inv, me.ID) {
			return Change{}, Errorf(ENOTFOUND, "no such invoice")
		}
		if inv.CustomerID != me.ID {
			return Change{}, Errorf(EFORBIDDEN, "only the invoice's customer can confirm its payments")
		}
		p, err := tx.Payment(ctx, paymentID)
		if err != nil {
			return Change{}, err
		}
		pay = p
		switch p.Provenance {
		case ProvenanceCustomerConfirmed:
			return Change{Keep: true}, nil
		case ProvenanceProviderReported:
			return Change{}, Errorf(ECONFLICT, "the payment was reported by a payment provider; it needs no confirmation")
		}
		now := s.now().UTC().Truncate(time.Microsecond)
		inv.PaidBy.IssuerRecorded -= p.Amount
		inv.PaidBy.CustomerConfirmed += p.Amount
		p.Provenance, p.ConfirmedAt = ProvenanceCustomerConfirmed, &now
		inv.UpdatedAt = now
		return Change{Confirmed: p, Events: []Event{s.event(EventPaymentConfirmed, inv, now)}}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return inv, pay, nil
}

// ProviderPaymentInput is a payment a provider reports.
type ProviderPaymentInput struct {
	// ID is the provider's id of the payment; a report repeated under the
	// same id records nothing new.
	ID        string
	InvoiceID string
	PaymentInput
}

// ReportPayment records a payment a payment provider reports (the edge has
// checked the provider's signature): it is provider-reported. It returns
// whether the payment is new; a repeated report answers the payment first
// recorded, and ECONFLICT when it differs (another invoice or amount).
func (s *Service) ReportPayment(ctx context.Context, in ProviderPaymentInput) (*Invoice, *Payment, bool, error) {
	var fe fieldErrors
	checkText(&fe, "id", in.ID, 1, 255)
	checkText(&fe, "invoice_id", in.InvoiceID, 1, 64)
	in.check(&fe)
	if err := fe.err(); err != nil {
		return nil, nil, false, err
	}
	var pay *Payment
	created := false
	inv, err := s.store.UpdateInvoice(ctx, in.InvoiceID, func(tx InvoiceTx, inv *Invoice) (Change, error) {
		prev, err := tx.ProviderPayment(ctx, in.ID)
		switch ErrorCode(err) {
		case "":
			if prev.InvoiceID != inv.ID || prev.Amount != in.Amount {
				return Change{}, &Error{Code: ECONFLICT, Message: "the provider reported this payment id before, for another invoice or amount",
					Fields: []FieldError{{Field: "id", Message: "was reported before with other details", Value: in.ID}}}
			}
			pay = prev
			return Change{Keep: true}, nil
		case ENOTFOUND:
		default:
			return Change{}, err
		}
		now := s.now().UTC().Truncate(time.Microsecond)
		ch, p, err := s.pay(inv, in.PaymentInput, ProvenanceProviderReported, now)
		if err != nil {
			return Change{}, err
		}
		p.ProviderPaymentID = in.ID
		inv.UpdatedAt = now
		pay, created = p, true
		return ch, nil
	})
	if err != nil {
		return nil, nil, false, err
	}
	return inv, pay, created, nil
}
