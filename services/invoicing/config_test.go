package invoicing

import (
	"flag"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestConfigPaymentWebhook(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		err    string // "" when valid
	}{
		{"defaults: no webhook", func(*Config) {}, ""},
		{"a long secret", func(c *Config) { c.PaymentWebhookSecret = strings.Repeat("s", MinWebhookSecret) }, ""},
		{"a short secret", func(c *Config) { c.PaymentWebhookSecret = "secret" }, "invoicing.payment_webhook_secret: must be at least 32 characters, not 6"},
		{"no tolerance", func(c *Config) { c.PaymentWebhookTolerance = 0 }, "invoicing.payment_webhook_tolerance: must be positive"},
		{"machine clients", func(c *Config) { c.MachineClients = "estate-credit, 5u1b2c3d4e" }, ""},
		{"a machine client with a space", func(c *Config) { c.MachineClients = "estate credit" }, `invoicing.machine_clients: "estate credit" must not hold spaces`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			c.RegisterFlags(flag.NewFlagSet("test", flag.ContinueOnError))
			tc.change(&c)
			err := c.Validate()
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
		})
	}
}

func TestConfigMachineClients(t *testing.T) {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("test", flag.ContinueOnError))
	require.Equal(t, []string{DefaultMachineClient}, c.MachineClientIDs())
	c.MachineClients = " a, ,b "
	require.Equal(t, []string{"a", "b"}, c.MachineClientIDs())
	c.MachineClients = ""
	require.Empty(t, c.MachineClientIDs())
}
