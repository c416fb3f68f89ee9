package credit

import "fmt"

// Rules are the credit decision rules, over the invoice history in the
// currency applied for, where an invoice counts as paid only when the
// policy's Trust counts it (Trust.History):
//
//   - declined when fewer than MinPaidInvoices invoices were paid in the
//     window (the history is too short to judge);
//   - declined when more than MaxLatePercent percent of the invoices paid in
//     the window were paid after their due date;
//   - declined when more than MaxOverduePercent percent of the paid volume
//     is overdue now;
//   - otherwise approved with limit = min(requested, LimitPercent percent of
//     the paid volume of the window), declined if that is zero.
//
// Every rule checked adds a reason, so a decision says why it was made.
type Rules struct {
	HistoryDays       int
	MinPaidInvoices   int64
	MaxLatePercent    int64
	MaxOverduePercent int64
	LimitPercent      int64
}

// DefaultRules are the rules of the service.
func DefaultRules() Rules {
	return Rules{HistoryDays: 90, MinPaidInvoices: 3, MaxLatePercent: 20, MaxOverduePercent: 50, LimitPercent: 50}
}

// Reasons, stable strings a client may match on.
const (
	ReasonHistoryTooShort = "history_too_short"
	ReasonTooManyLate     = "too_many_late_payments"
	ReasonTooMuchOverdue  = "too_much_overdue"
	ReasonNoPaidVolume    = "no_paid_volume"
	ReasonLimitCapped     = "limit_capped_by_paid_volume"
	ReasonRequestedGiven  = "requested_limit_within_paid_volume"
)

// Decide applies the rules to a request; it is pure.
func (r Rules) Decide(requested int64, h CurrencyHistory) (Decision, int64, []string) {
	var reasons []string
	decline := func(code, format string, args ...any) {
		reasons = append(reasons, code+": "+fmt.Sprintf(format, args...))
	}
	if h.PaidCount < r.MinPaidInvoices {
		decline(ReasonHistoryTooShort, "%d invoices paid with trusted payments in the last %d days, at least %d needed", h.PaidCount, r.HistoryDays, r.MinPaidInvoices)
	}
	if late := h.PaidCount - h.PaidOnTimeCount; h.PaidCount > 0 && late*100 > r.MaxLatePercent*h.PaidCount {
		decline(ReasonTooManyLate, "%d of %d paid invoices were paid late, more than %d%%", late, h.PaidCount, r.MaxLatePercent)
	}
	if h.OverdueAmount > 0 && h.OverdueAmount*100 > r.MaxOverduePercent*h.PaidAmount {
		decline(ReasonTooMuchOverdue, "%d overdue against %d paid, more than %d%%", h.OverdueAmount, h.PaidAmount, r.MaxOverduePercent)
	}
	if len(reasons) > 0 {
		return Declined, 0, reasons
	}
	capped := h.PaidAmount * r.LimitPercent / 100
	if capped <= 0 {
		decline(ReasonNoPaidVolume, "no volume paid with trusted payments in the last %d days", r.HistoryDays)
		return Declined, 0, reasons
	}
	if requested <= capped {
		reasons = append(reasons, fmt.Sprintf("%s: %d requested, up to %d%% of %d paid allowed", ReasonRequestedGiven, requested, r.LimitPercent, h.PaidAmount))
		return Approved, requested, reasons
	}
	reasons = append(reasons, fmt.Sprintf("%s: %d requested, capped at %d%% of %d paid", ReasonLimitCapped, requested, r.LimitPercent, h.PaidAmount))
	return Approved, capped, reasons
}
