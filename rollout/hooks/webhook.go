package hooks

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"

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
	body, err := json.Marshal(wire(r))
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

// wire is r as JSON can carry it. encoding/json refuses infinities, and a
// result holds some: the +Inf bound of a histogram's last bucket, the
// error ratio of a test with no errors before. They are sent as
// ±math.MaxFloat64, which decodes into a float64 as any number does. r is
// not changed.
func wire(r rollout.Recommendation) rollout.Recommendation {
	res := &r.Result
	for _, p := range []*rollout.Period{&res.Before, &res.After} {
		p.Buckets = slices.Clone(p.Buckets)
		for i := range p.Buckets {
			p.Buckets[i].Le = finite(p.Buckets[i].Le)
			p.Buckets[i].Count = finite(p.Buckets[i].Count)
		}
		p.Requests, p.Errors, p.ErrorRatio = finite(p.Requests), finite(p.Errors), finite(p.ErrorRatio)
	}
	if res.ErrorTest != nil {
		t := *res.ErrorTest
		t.P, t.Ratio = finite(t.P), finite(t.Ratio)
		res.ErrorTest = &t
	}
	if res.LatencyTest != nil {
		t := *res.LatencyTest
		t.P, t.Effect, t.Before, t.After = finite(t.P), finite(t.Effect), finite(t.Before), finite(t.After)
		res.LatencyTest = &t
	}
	res.BurnRate = finite(res.BurnRate)
	return r
}

func finite(v float64) float64 {
	switch {
	case math.IsInf(v, 1):
		return math.MaxFloat64
	case math.IsInf(v, -1):
		return -math.MaxFloat64
	}
	return v
}
