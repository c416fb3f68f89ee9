package credit_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/services/credit"
)

func TestDecide(t *testing.T) {
	r := credit.DefaultRules()
	tests := []struct {
		name      string
		requested int64
		h         credit.CurrencyHistory
		status    credit.Decision
		limit     int64
		reasons   []string
	}{
		{"requested within half the paid volume", 1000, credit.CurrencyHistory{PaidCount: 5, PaidOnTimeCount: 5, PaidAmount: 10000},
			credit.Approved, 1000, []string{credit.ReasonRequestedGiven}},
		{"capped at half the paid volume", 9000, credit.CurrencyHistory{PaidCount: 5, PaidOnTimeCount: 5, PaidAmount: 10000},
			credit.Approved, 5000, []string{credit.ReasonLimitCapped}},
		{"exactly the cap", 5000, credit.CurrencyHistory{PaidCount: 3, PaidOnTimeCount: 3, PaidAmount: 10000},
			credit.Approved, 5000, []string{credit.ReasonRequestedGiven}},
		{"history too short", 1000, credit.CurrencyHistory{PaidCount: 2, PaidOnTimeCount: 2, PaidAmount: 10000},
			credit.Declined, 0, []string{credit.ReasonHistoryTooShort}},
		{"no history at all", 1000, credit.CurrencyHistory{},
			credit.Declined, 0, []string{credit.ReasonHistoryTooShort}},
		{"20% late is allowed", 1000, credit.CurrencyHistory{PaidCount: 5, PaidOnTimeCount: 4, PaidAmount: 10000},
			credit.Approved, 1000, []string{credit.ReasonRequestedGiven}},
		{"more than 20% late", 1000, credit.CurrencyHistory{PaidCount: 4, PaidOnTimeCount: 3, PaidAmount: 10000},
			credit.Declined, 0, []string{credit.ReasonTooManyLate}},
		{"too much overdue", 1000, credit.CurrencyHistory{PaidCount: 5, PaidOnTimeCount: 5, PaidAmount: 10000, OverdueCount: 2, OverdueAmount: 5001},
			credit.Declined, 0, []string{credit.ReasonTooMuchOverdue}},
		{"every failing rule is a reason", 1000, credit.CurrencyHistory{PaidCount: 2, PaidOnTimeCount: 0, PaidAmount: 100, OverdueAmount: 1000},
			credit.Declined, 0, []string{credit.ReasonHistoryTooShort, credit.ReasonTooManyLate, credit.ReasonTooMuchOverdue}},
		{"paid volume rounds down to nothing", 1000, credit.CurrencyHistory{PaidCount: 3, PaidOnTimeCount: 3, PaidAmount: 1},
			credit.Declined, 0, []string{credit.ReasonNoPaidVolume}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, limit, reasons := r.Decide(tc.requested, tc.h)
			require.Equal(t, tc.status, status)
			require.Equal(t, tc.limit, limit)
			var codes []string
			for _, reason := range reasons {
				code, _, _ := strings.Cut(reason, ":")
				codes = append(codes, code)
			}
			require.Equal(t, tc.reasons, codes)
		})
	}
}
