package invoicing

import (
	"context"
	"time"
)

// An invoice is financed when the credit service advances money against it
// (a drawdown): from then until the drawdown is repaid, voiding the invoice
// or marking it uncollectible would take away what repays the advance, so
// both are refused. The credit service tells the invoicing service, with a
// machine token of the issuer that carries contracts.FinancingScope (the
// edge checks it), before it writes the drawdown, and again once the
// drawdown is repaid. The invoice's row lock orders the hold against a void
// racing it: whichever commits first wins, and the other is refused.

// Finance marks an open invoice the caller issued as financed by the
// drawdown. Marking it again for the same drawdown changes nothing;
// ECONFLICT when another drawdown finances it or it is not open.
func (s *Service) Finance(ctx context.Context, c Caller, invoiceID, drawdownID string) (*Invoice, error) {
	if err := checkDrawdownID(drawdownID); err != nil {
		return nil, err
	}
	return s.update(ctx, c, invoiceID, nil, func(_ InvoiceTx, inv *Invoice, _ time.Time) (Change, error) {
		switch {
		case inv.FinancedBy == drawdownID:
			return Change{Keep: true}, nil
		case inv.FinancedBy != "":
			return Change{}, Errorf(ECONFLICT, "the invoice is already financed by another drawdown")
		case inv.Status != StatusOpen:
			return Change{}, conflictf(inv, "finance")
		}
		inv.FinancedBy = drawdownID
		return Change{}, nil
	})
}

// ReleaseFinancing ends the financing of an invoice the caller issued by
// the drawdown, once the drawdown is repaid (or was never written). It
// changes nothing when that drawdown does not finance the invoice, so a
// repeated release is harmless and never ends another drawdown's.
func (s *Service) ReleaseFinancing(ctx context.Context, c Caller, invoiceID, drawdownID string) (*Invoice, error) {
	if err := checkDrawdownID(drawdownID); err != nil {
		return nil, err
	}
	return s.update(ctx, c, invoiceID, nil, func(_ InvoiceTx, inv *Invoice, _ time.Time) (Change, error) {
		if inv.FinancedBy != drawdownID {
			return Change{Keep: true}, nil
		}
		inv.FinancedBy = ""
		return Change{}, nil
	})
}

func checkDrawdownID(id string) error {
	var fe fieldErrors
	checkText(&fe, "drawdown_id", id, 1, 64)
	return fe.err()
}

// refuseIfFinanced is the rule of the transitions that would take away what
// repays a drawdown.
func refuseIfFinanced(inv *Invoice, action string) error {
	if inv.FinancedBy == "" {
		return nil
	}
	return Errorf(ECONFLICT, "cannot %s a financed invoice: a credit drawdown against it is outstanding until it is paid", action)
}
