package credit

import (
	"fmt"
	"slices"
	"strings"

	"github.com/estatehq/estate/services/contracts"
)

// Trust is the part of the credit policy that says which payments are
// money: the provenances (contracts.Provenance*) of the payments the credit
// service counts. A payment its issuer merely records is a claim anybody
// can make about any customer; by default only a payment its customer
// confirmed, or one a payment provider reported, is trusted.
//
// Trust applies twice:
//
//   - a decision reads the invoice history counting as paid only the
//     invoices all of whose payments are trusted (an invoice paid with no
//     payment, its total being zero, counts for nothing);
//   - a drawdown is repaid only when its invoice is paid, all of it with
//     trusted payments.
type Trust []string

// DefaultTrust is the trust of the credit policy unless configured
// otherwise (credit.trusted_payments); it is the one place the default is
// written.
func DefaultTrust() Trust {
	return Trust{contracts.ProvenanceCustomerConfirmed, contracts.ProvenanceProviderReported}
}

// ParseTrust reads a comma-separated list of provenances; it names the
// first it does not know, and refuses an empty list (a policy that trusts
// nothing can only decline).
func ParseTrust(s string) (Trust, error) {
	var t Trust
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if !slices.Contains(contracts.Provenances(), p) {
			return nil, fmt.Errorf("%q is not a payment provenance (%s)", p, strings.Join(contracts.Provenances(), ", "))
		}
		if !slices.Contains(t, p) {
			t = append(t, p)
		}
	}
	if len(t) == 0 {
		return nil, fmt.Errorf("must name at least one payment provenance (%s)", strings.Join(contracts.Provenances(), ", "))
	}
	return t, nil
}

func (t Trust) String() string { return strings.Join(t, ",") }

// trusts reports whether every provenance is trusted, and there is one.
func (t Trust) trusts(provenances []string) bool {
	if len(provenances) == 0 {
		return false
	}
	for _, p := range provenances {
		if !slices.Contains(t, p) {
			return false
		}
	}
	return true
}

// History returns h with its paid figures counting only the invoices all of
// whose payments are trusted.
func (t Trust) History(h CurrencyHistory) CurrencyHistory {
	h.PaidCount, h.PaidAmount, h.PaidOnTimeCount = 0, 0, 0
	for _, g := range h.Paid {
		if t.trusts(g.Provenances) {
			h.PaidCount += g.Count
			h.PaidAmount += g.Amount
			h.PaidOnTimeCount += g.OnTimeCount
		}
	}
	return h
}

// Repaid reports whether a financed invoice repays its drawdown: it is
// paid, and every payment of it is trusted.
func (t Trust) Repaid(inv *Invoice) bool {
	if inv.Status != "paid" {
		return false
	}
	var trusted int64
	for p, amount := range inv.PaidBy {
		if slices.Contains(t, p) {
			trusted += amount
		}
	}
	return trusted == inv.Total
}
