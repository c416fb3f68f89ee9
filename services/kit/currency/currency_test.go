package currency_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/services/kit/currency"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{"EUR", "EUR", nil},
		{"eur", "EUR", nil},
		{"gBp", "GBP", nil},
		{"jpy", "JPY", nil},
		{"XOF", "XOF", nil}, // X-codes of real currencies stay
		{"xaf", "XAF", nil},
		{"XCD", "XCD", nil},
		{"VES", "VES", nil},
		{"CLF", "CLF", nil},
		{"XAU", "", currency.ErrNotInvoiceable},
		{"xag", "", currency.ErrNotInvoiceable},
		{"XPT", "", currency.ErrNotInvoiceable},
		{"XPD", "", currency.ErrNotInvoiceable},
		{"XTS", "", currency.ErrNotInvoiceable},
		{"XXX", "", currency.ErrNotInvoiceable},
		{"XDR", "", currency.ErrNotInvoiceable},
		{"XSU", "", currency.ErrNotInvoiceable},
		{"XUA", "", currency.ErrNotInvoiceable},
		{"XBA", "", currency.ErrNotInvoiceable},
		{"XBB", "", currency.ErrNotInvoiceable},
		{"XBC", "", currency.ErrNotInvoiceable},
		{"xbd", "", currency.ErrNotInvoiceable},
		{"ZZZ", "", currency.ErrUnknown},
		{"DEM", "", currency.ErrUnknown}, // withdrawn
		{"HRK", "", currency.ErrUnknown},
		{"EU", "", currency.ErrUnknown},
		{"EURO", "", currency.ErrUnknown},
		{"", "", currency.ErrUnknown},
		{" EU", "", currency.ErrUnknown},
		{"E R", "", currency.ErrUnknown},
		{"ÉUR", "", currency.ErrUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := currency.Parse(tc.in)
			require.ErrorIs(t, err, tc.err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestNotInvoiceableNamesTheCode(t *testing.T) {
	_, err := currency.Parse("xau")
	require.EqualError(t, err, "XAU "+currency.ErrNotInvoiceable.Error())
}
