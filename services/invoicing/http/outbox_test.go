package http_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/estatehq/estate/services/invoicing"
	"github.com/estatehq/estate/services/kit/outbox"
)

// creditStub stands for the credit service: it dedups events by id and can
// be down.
type creditStub struct {
	down       atomic.Bool
	deliveries atomic.Int64
	mu         sync.Mutex
	byID       map[string]map[string]any
	traced     atomic.Int64
}

func (c *creditStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if c.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	var ev map[string]any
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.Header.Get("traceparent") != "" {
		c.traced.Add(1)
	}
	c.deliveries.Add(1)
	id, _ := ev["id"].(string)
	c.mu.Lock()
	c.byID[id] = ev
	c.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// TestOutboxEndToEnd: invoice events written by the API in the transaction
// of their change reach a subscriber that was down when they were written,
// once per event id at the subscriber.
func TestOutboxEndToEnd(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b.open(t))
			alice := e.register(t, "alice", "Alice")
			bob := e.register(t, "bob", "Bob")
			credit := &creditStub{byID: map[string]map[string]any{}}
			credit.down.Store(true)
			sub := httptest.NewServer(credit)
			defer sub.Close()
			now := time.Now()
			relay := outbox.NewRelay(outbox.Options{Store: e.store, Subscribers: []outbox.Subscriber{{Name: "credit", URL: sub.URL}},
				Now: func() time.Time { return now }, Jitter: func() float64 { return 0 }, Client: sub.Client(),
				TracerProvider: sdktrace.NewTracerProvider()})

			id := newOpen(t, e, alice, bob, 500)
			expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + id + "/payments", token: alice.token, body: map[string]any{"amount": 500, "method": "card"}}), 201)
			v := newOpen(t, e, alice, bob, 100)
			expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + v + "/void", token: alice.token}), 200)

			ctx := context.Background()
			n, err := relay.DeliverOnce(ctx)
			require.NoError(t, err)
			require.Zero(t, n, "the subscriber is down")

			credit.down.Store(false)
			now = now.Add(time.Minute)
			n, err = relay.DeliverOnce(ctx)
			require.NoError(t, err)
			require.Equal(t, 4, n)
			now = now.Add(time.Hour)
			n, err = relay.DeliverOnce(ctx)
			require.NoError(t, err)
			require.Zero(t, n, "delivered events are not sent again")

			require.Equal(t, int64(4), credit.deliveries.Load())
			require.Equal(t, int64(4), credit.traced.Load(), "W3C trace context goes out with each event")
			types := map[string]int{}
			for _, ev := range credit.byID {
				types[must[string](t, ev["type"])]++
				require.Equal(t, "1.0", ev["specversion"])
				require.Equal(t, "/estate/invoicing", ev["source"])
			}
			require.Equal(t, map[string]int{invoicing.EventInvoiceSent: 2, invoicing.EventInvoicePaid: 1, invoicing.EventInvoiceVoided: 1}, types)
			for _, ev := range credit.byID {
				if ev["type"] == invoicing.EventInvoicePaid {
					data := must[map[string]any](t, ev["data"])
					require.Equal(t, id, data["invoice_id"])
					require.Equal(t, "paid", data["status"])
					require.EqualValues(t, 500, data["amount_paid"])
				}
			}
		})
	}
}
