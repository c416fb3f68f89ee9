package reportserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/estatehq/estate/internal/delivery"
	"github.com/estatehq/estate/sloreport"
)

// post sends a week's summary to the webhook as Slack's incoming webhooks
// read it, {"text": ...}, retried as the webhook's Retry says: 429 and 5xx
// answers and failed connections again, other answers never.
func (s *Server) post(ctx context.Context, w sloreport.ISOWeek, text string) {
	body, err := json.Marshal(map[string]string{"text": text})
	if err == nil {
		err = s.o.Webhook.Retry.Do(ctx, func(ctx context.Context) error { return s.postOnce(ctx, body) })
	}
	s.metrics.posted(err)
	if err != nil {
		s.o.Logger.Warn("posting the weekly report's summary", "week", w.String(), "err", err)
		return
	}
	s.o.Logger.Info("weekly report's summary posted", "week", w.String())
}

func (s *Server) postOnce(ctx context.Context, body []byte) error {
	if t := s.o.Webhook.Timeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.o.Webhook.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.o.Webhook.Client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	detail, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return delivery.HTTPError(resp, detail, retryable, s.o.Now())
}

// retryable are the answers worth posting again: too many requests, and
// the server's errors.
func retryable(status int) bool { return status == http.StatusTooManyRequests || status >= 500 }
