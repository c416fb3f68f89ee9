package hooks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/estatehq/estate/internal/delivery"
	"github.com/estatehq/estate/rollout"
	"github.com/estatehq/estate/services/kit/webhook"
)

// Webhook POSTs the recommendation as JSON, signed as the estate's other
// webhooks are (webhook.Sign, the Estate-Signature header), with the
// deployment's id as Idempotency-Key, so a receiver drops a call repeated
// after a restart. Any 2xx is success.
type Webhook struct {
	url    string
	secret secret
	s      sender
}

// NewWebhook returns the webhook of cfg.Webhook.
func NewWebhook(cfg Config, client *http.Client, opts Options) (*Webhook, error) {
	w := cfg.Webhook
	if err := ready(w.enabled(), "webhook.url", w.validate(), w.secret()); err != nil {
		return nil, err
	}
	return &Webhook{url: w.URL, secret: w.secret(), s: newSender(client, cfg.Timeout, opts)}, nil
}

// Name is "webhook".
func (*Webhook) Name() string { return NameWebhook }

// Call POSTs r once. Errors are classified as rollout.Hook says.
func (w *Webhook) Call(ctx context.Context, r rollout.Recommendation) (rollout.Answer, error) {
	if err := check(r); err != nil {
		return rollout.Answer{}, err
	}
	body, err := json.Marshal(r)
	if err != nil {
		return rollout.Answer{}, delivery.Permanent(fmt.Errorf("encoding the recommendation: %w", err))
	}
	key, err := w.secret.get()
	if err != nil {
		return rollout.Answer{}, err
	}
	h := jsonHeader()
	h.Set("Idempotency-Key", r.DeploymentID)
	h.Set(webhook.Header, webhook.Sign(key, w.s.now(), body))
	return w.s.post(ctx, w.url, h, body, w.s.read)
}
