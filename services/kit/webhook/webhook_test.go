package webhook_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/services/kit/webhook"
)

func TestVerify(t *testing.T) {
	const secret = "whsec_0123456789abcdef0123456789abcdef"
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	body := []byte(`{"id":"pp_1","invoice_id":"in_1","amount":100,"method":"card"}`)
	signed := webhook.Sign(secret, now, body)
	tests := []struct {
		name   string
		header string
		body   []byte
		secret string
		at     time.Time
		reason string // "" when accepted
	}{
		{"signed now", signed, body, secret, now, ""},
		{"within the tolerance after", signed, body, secret, now.Add(5 * time.Minute), ""},
		{"within the tolerance before", signed, body, secret, now.Add(-5 * time.Minute), ""},
		{"one of several v1 entries", signed + ",v1=00ff", body, secret, now, ""},
		{"rotated secret", webhook.Sign("old", now, body) + "," + signed[len("t=1772445600,"):], body, secret, now, ""},
		{"stale", signed, body, secret, now.Add(5*time.Minute + time.Second), "outside the tolerance"},
		{"from the future", signed, body, secret, now.Add(-6 * time.Minute), "outside the tolerance"},
		{"body changed", signed, append([]byte(nil), `{"id":"pp_1","invoice_id":"in_1","amount":900,"method":"card"}`...), secret, now, "does not match"},
		{"timestamp changed", "t=1772445601," + signed[len("t=1772445600,"):], body, secret, now, "does not match"},
		{"other secret", webhook.Sign("another secret", now, body), body, secret, now, "does not match"},
		{"missing", "", body, secret, now, "is missing"},
		{"no timestamp", "v1=00", body, secret, now, "no timestamp"},
		{"no v1", "t=1772445600,v0=00", body, secret, now, "no v1 signature"},
		{"not hex", "t=1772445600,v1=zz", body, secret, now, "no v1 signature"},
		{"no secret configured", signed, body, "", now, "no webhook secret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := webhook.Verify(tc.header, tc.body, tc.secret, tc.at, webhook.DefaultTolerance)
			if tc.reason == "" {
				require.NoError(t, err)
				return
			}
			var we *webhook.Error
			require.ErrorAs(t, err, &we)
			require.Contains(t, we.Reason, tc.reason)
		})
	}
}
