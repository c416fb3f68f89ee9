package invoicing

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
		format  string
	}{
		{in: "", want: 0, format: "0"},
		{in: "0", want: 0, format: "0"},
		{in: "20", want: 200_000, format: "20"},
		{in: "8.25", want: 82_500, format: "8.25"},
		{in: "8.2500", want: 82_500, format: "8.25"},
		{in: "0.0001", want: 1, format: "0.0001"},
		{in: "100", want: 1_000_000, format: "100"},
		{in: "100.0001", wantErr: true},
		{in: "1000", wantErr: true},
		{in: "8.", wantErr: true},
		{in: ".5", wantErr: true},
		{in: "8.12345", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "1e2", wantErr: true},
		{in: "２０", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRate(tc.in)
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.format, FormatRate(got))
		})
	}
}

func TestComputeTotals(t *testing.T) {
	tests := []struct {
		name  string
		items []LineItem
		want  []LineItem
		sub   int64
		tax   int64
		fault string
	}{
		{
			name:  "tax rounds half up per line",
			items: []LineItem{{Quantity: 1, UnitAmount: 999, TaxRate: "8.25"}, {Quantity: 1, UnitAmount: 10, TaxRate: "5"}},
			// 999 × 8.25% = 82.4175 → 82; 10 × 5% = 0.5 → 1
			want: []LineItem{{Quantity: 1, UnitAmount: 999, TaxRate: "8.25", Amount: 999, Tax: 82}, {Quantity: 1, UnitAmount: 10, TaxRate: "5", Amount: 10, Tax: 1}},
			sub:  1009, tax: 83,
		},
		{
			name:  "rate normalised",
			items: []LineItem{{Quantity: 3, UnitAmount: 100, TaxRate: "20.000"}},
			want:  []LineItem{{Quantity: 3, UnitAmount: 100, TaxRate: "20", Amount: 300, Tax: 60}},
			sub:   300, tax: 60,
		},
		{
			name:  "the largest line",
			items: []LineItem{{Quantity: 1, UnitAmount: MaxAmount}},
			want:  []LineItem{{Quantity: 1, UnitAmount: MaxAmount, Amount: MaxAmount}},
			sub:   MaxAmount,
		},
		{
			name:  "a line over the maximum",
			items: []LineItem{{Quantity: MaxQuantity, UnitAmount: MaxAmount}},
			fault: "line_items[0]",
		},
		{
			name:  "a total over the maximum",
			items: []LineItem{{Quantity: 1, UnitAmount: MaxAmount, TaxRate: "1"}},
			fault: "line_items",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := &Invoice{LineItems: tc.items}
			fe := computeTotals(inv)
			if tc.fault != "" {
				require.Len(t, fe, 1)
				require.Equal(t, tc.fault, fe[0].Field)
				return
			}
			require.Empty(t, fe)
			require.Empty(t, cmp.Diff(tc.want, inv.LineItems))
			require.Equal(t, tc.sub, inv.Subtotal)
			require.Equal(t, tc.tax, inv.Tax)
			require.Equal(t, tc.sub+tc.tax, inv.Total)
			require.Equal(t, inv.Total, inv.AmountDue)
		})
	}
}

func TestValidCodes(t *testing.T) {
	for _, c := range []string{"FR", "US", "GB", "DE", "JP"} {
		require.True(t, validCountry(c), c)
	}
	for _, c := range []string{"fr", "XX", "EU", "UN", "UK", "", "FRA", "001", "ZZ"} {
		require.False(t, validCountry(c), c)
	}
}

// TestCurrencyAndDueDate: a currency is taken in either case and kept in
// upper case; codes that are not ISO 4217, or name no currency one can
// invoice in, and absurd due dates are refused with the field named.
func TestCurrencyAndDueDate(t *testing.T) {
	tests := []struct {
		currency, due string
		want          string // the currency kept
		field         string // the field at fault; "" when accepted
	}{
		{"EUR", "2026-04-01", "EUR", ""},
		{"eur", "2026-04-01", "EUR", ""},
		{"gBp", "2026-04-01", "GBP", ""},
		{"jpy", "1900-01-01", "JPY", ""},
		{"chf", "2999-12-31", "CHF", ""},
		{"zzz", "2026-04-01", "", "currency"},
		{"xxx", "2026-04-01", "", "currency"},
		{"XAU", "2026-04-01", "", "currency"},
		{"xts", "2026-04-01", "", "currency"},
		{"XDR", "2026-04-01", "", "currency"},
		{"XBA", "2026-04-01", "", "currency"},
		{"eu", "2026-04-01", "", "currency"},
		{"euro", "2026-04-01", "", "currency"},
		{"", "2026-04-01", "", "currency"},
		{"EUR", "0000-01-01", "", "due_date"},
		{"EUR", "1899-12-31", "", "due_date"},
		{"EUR", "3000-01-01", "", "due_date"},
		{"EUR", "2026-02-30", "", "due_date"},
		{"EUR", "01/04/2026", "", "due_date"},
	}
	for _, tc := range tests {
		t.Run(tc.currency+" "+tc.due, func(t *testing.T) {
			inv := &Invoice{}
			fe := applyInput(inv, "bus_b", tc.currency, tc.due, "", []LineItemInput{{Description: "x", Quantity: 1, UnitAmount: 1}}, true)
			if tc.field == "" {
				require.Empty(t, fe)
				require.Equal(t, tc.want, inv.Currency)
				return
			}
			require.Len(t, fe, 1)
			require.Equal(t, tc.field, fe[0].Field)
		})
	}
}
