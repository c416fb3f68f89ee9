package invoicing

import (
	"fmt"
	"strings"
)

// Limits on amounts, in minor units. MaxAmount is Stripe's: twelve digits.
const (
	MaxAmount    int64 = 999_999_999_999
	MaxQuantity  int64 = 1_000_000
	MaxLineItems       = 100
)

// rateScale is the number of rate units in 1%: rates are kept as integers of
// 1/10,000 of a percent, so "8.25" is 82,500 and 100% is 1,000,000.
const (
	rateScale    = 10_000
	rateDecimals = 4
	fullRate     = 100 * rateScale
)

// ParseRate reads a percentage with up to four decimals, from 0 to 100, into
// rate units.
func ParseRate(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || len(whole) > 3 || (hasDot && (frac == "" || len(frac) > rateDecimals)) {
		return 0, fmt.Errorf("must be a percentage like 20 or 8.25, with at most %d decimals", rateDecimals)
	}
	var v int64
	for _, c := range whole {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("must be a percentage like 20 or 8.25")
		}
		v = v*10 + int64(c-'0')
	}
	v *= rateScale
	scale := int64(rateScale / 10)
	for _, c := range frac {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("must be a percentage like 20 or 8.25")
		}
		v += int64(c-'0') * scale
		scale /= 10
	}
	if v > fullRate {
		return 0, fmt.Errorf("must be at most 100")
	}
	return v, nil
}

// FormatRate writes rate units as the shortest percentage string.
func FormatRate(units int64) string {
	whole, frac := units/rateScale, units%rateScale
	if frac == 0 {
		return fmt.Sprint(whole)
	}
	return strings.TrimRight(fmt.Sprintf("%d.%04d", whole, frac), "0")
}

// lineTax is amount × rate, rounded half up to the minor unit. amount ≤
// MaxAmount and rate ≤ fullRate, so the product fits in an int64.
func lineTax(amount, rate int64) int64 {
	return (amount*rate + fullRate/2) / fullRate
}

// computeTotals fills each line's Amount and Tax and the invoice's totals;
// it returns the faults found, by field.
func computeTotals(inv *Invoice) fieldErrors {
	var fe fieldErrors
	var subtotal, tax int64
	for i := range inv.LineItems {
		li := &inv.LineItems[i]
		rate, err := ParseRate(li.TaxRate)
		if err != nil {
			fe.add(fmt.Sprintf("line_items[%d].tax_rate", i), err.Error(), li.TaxRate)
			continue
		}
		if li.TaxRate != "" {
			li.TaxRate = FormatRate(rate)
		}
		// Quantity and unit amount were range-checked, so the product cannot
		// overflow (1e6 × 1e12 < 9.2e18).
		li.Amount = li.Quantity * li.UnitAmount
		if li.Amount > MaxAmount {
			fe.add(fmt.Sprintf("line_items[%d]", i), fmt.Sprintf("quantity × unit_amount must be at most %d", MaxAmount), li.Amount)
			continue
		}
		li.Tax = lineTax(li.Amount, rate)
		subtotal += li.Amount
		tax += li.Tax
		if subtotal+tax > MaxAmount {
			fe.add("line_items", fmt.Sprintf("the invoice total must be at most %d", MaxAmount), nil)
			return fe
		}
	}
	inv.Subtotal, inv.Tax, inv.Total = subtotal, tax, subtotal+tax
	inv.AmountDue = inv.Total - inv.AmountPaid
	return fe
}
