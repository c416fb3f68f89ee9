package credit_test

import (
	"flag"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/services/contracts"
	"github.com/estatehq/estate/services/credit"
)

const (
	issuer   = contracts.ProvenanceIssuerRecorded
	customer = contracts.ProvenanceCustomerConfirmed
	provider = contracts.ProvenanceProviderReported
)

func TestParseTrust(t *testing.T) {
	tests := []struct {
		in   string
		want credit.Trust
		err  string
	}{
		{"customer_confirmed,provider_reported", credit.Trust{customer, provider}, ""},
		{" provider_reported , provider_reported ", credit.Trust{provider}, ""},
		{"issuer_recorded,customer_confirmed,provider_reported", credit.Trust{issuer, customer, provider}, ""},
		{"", nil, "at least one"},
		{",", nil, "at least one"},
		{"customer_confirmed,cash", nil, `"cash" is not a payment provenance`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := credit.ParseTrust(tc.in)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	require.Equal(t, credit.Trust{customer, provider}, credit.DefaultTrust())
}

func TestConfigTrust(t *testing.T) {
	var c credit.Config
	c.RegisterFlags(flag.NewFlagSet("test", flag.ContinueOnError))
	require.NoError(t, c.Validate())
	got, err := c.Trust()
	require.NoError(t, err)
	require.Equal(t, credit.DefaultTrust(), got, "the flag's default is the policy's")
	c.TrustedPayments = "issuer_recorded,bitcoin"
	require.ErrorContains(t, c.Validate(), "credit.trusted_payments: ")
}

// TestTrustHistory: a decision counts an invoice as paid only when every
// payment of it is trusted.
func TestTrustHistory(t *testing.T) {
	h := credit.CurrencyHistory{Currency: "EUR", PaidCount: 7, PaidAmount: 7000, PaidOnTimeCount: 6, OverdueAmount: 10, Paid: []credit.PaidGroup{
		{Provenances: nil, Count: 1, Amount: 0, OnTimeCount: 1},
		{Provenances: []string{issuer}, Count: 3, Amount: 3000, OnTimeCount: 3},
		{Provenances: []string{customer}, Count: 1, Amount: 1000, OnTimeCount: 1},
		{Provenances: []string{provider}, Count: 1, Amount: 2000, OnTimeCount: 0},
		{Provenances: []string{issuer, provider}, Count: 1, Amount: 1000, OnTimeCount: 1},
	}}
	tests := []struct {
		name                  string
		trust                 credit.Trust
		count, amount, onTime int64
	}{
		{"default", credit.DefaultTrust(), 2, 3000, 1},
		{"providers only", credit.Trust{provider}, 1, 2000, 0},
		{"everything", credit.Trust{issuer, customer, provider}, 6, 7000, 5},
		{"issuer-recorded only", credit.Trust{issuer}, 3, 3000, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.trust.History(h)
			require.Equal(t, []int64{tc.count, tc.amount, tc.onTime}, []int64{got.PaidCount, got.PaidAmount, got.PaidOnTimeCount})
			require.Equal(t, h.OverdueAmount, got.OverdueAmount, "what is owed is not a matter of trust")
		})
	}
	require.Equal(t, int64(0), credit.DefaultTrust().History(credit.CurrencyHistory{PaidCount: 3, PaidAmount: 3000}).PaidCount,
		"a history without provenances counts nothing")
}

// TestTrustRepaid: a drawdown is repaid only by an invoice paid, all of it,
// with trusted payments.
func TestTrustRepaid(t *testing.T) {
	tests := []struct {
		name   string
		status string
		paidBy map[string]int64
		want   bool
	}{
		{"paid by a provider", "paid", map[string]int64{provider: 1000}, true},
		{"paid and confirmed", "paid", map[string]int64{customer: 400, provider: 600}, true},
		{"paid in cash the issuer recorded", "paid", map[string]int64{issuer: 1000}, false},
		{"paid partly in unconfirmed cash", "paid", map[string]int64{issuer: 1, provider: 999}, false},
		{"open, the rest trusted", "open", map[string]int64{provider: 500}, false},
		{"no provenance told", "paid", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := &credit.Invoice{Status: tc.status, Total: 1000, PaidBy: tc.paidBy}
			require.Equal(t, tc.want, credit.DefaultTrust().Repaid(inv))
		})
	}
	require.True(t, credit.Trust{issuer}.Repaid(&credit.Invoice{Status: "paid", Total: 1000, PaidBy: map[string]int64{issuer: 1000}}),
		"a policy that trusts the issuer's word repays on it")
}
