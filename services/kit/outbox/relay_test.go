package outbox_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/services/kit/outbox"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memStore is an outbox.Store in memory with the semantics of the SQL one
// (which the invoicing store suite checks on both backends).
type memStore struct {
	mu         sync.Mutex
	events     []outbox.Event
	delivered  map[string]bool
	attempts   map[string]int
	next       map[string]time.Time
	failMarkOK atomic.Int64 // MarkDelivered fails this many times
}

func newMemStore(events ...outbox.Event) *memStore {
	return &memStore{events: events, delivered: map[string]bool{}, attempts: map[string]int{}, next: map[string]time.Time{}}
}

func (s *memStore) Pending(_ context.Context, sub string, now time.Time, limit int) ([]outbox.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []outbox.Event
	for _, e := range s.events {
		k := sub + "/" + e.ID
		if s.delivered[k] || s.next[k].After(now) {
			continue
		}
		e.Attempts = s.attempts[k]
		out = append(out, e)
		if len(out) == limit {
			break
		}
	}
	return out, nil
}

func (s *memStore) MarkDelivered(_ context.Context, sub, id string, _ time.Time) error {
	if s.failMarkOK.Add(-1) >= 0 {
		return io.ErrUnexpectedEOF
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delivered[sub+"/"+id] = true
	return nil
}

func (s *memStore) MarkFailed(_ context.Context, sub, id string, attempts int, next time.Time, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts[sub+"/"+id], s.next[sub+"/"+id] = attempts, next
	return nil
}

// subscriber dedups by event id, as subscribers must.
type subscriber struct {
	down       atomic.Bool
	deliveries atomic.Int64
	mu         sync.Mutex
	seen       map[string]int
}

func (s *subscriber) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.down.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if r.Header.Get("Content-Type") != outbox.ContentType {
		w.WriteHeader(http.StatusUnsupportedMediaType)
		return
	}
	var ev struct {
		ID          string `json:"id"`
		SpecVersion string `json:"specversion"`
		Type        string `json:"type"`
	}
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || ev.SpecVersion != "1.0" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	s.deliveries.Add(1)
	s.mu.Lock()
	s.seen[ev.ID]++
	s.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func TestDeliveryAfterSubscriberWasDown(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	store := newMemStore(
		outbox.Event{ID: "evt_1", Type: "dev.estate.invoice.sent", Source: "/estate/invoicing", Subject: "in_1", Time: t0, Data: []byte(`{"invoice_id":"in_1"}`)},
		outbox.Event{ID: "evt_2", Type: "dev.estate.invoice.paid", Source: "/estate/invoicing", Subject: "in_1", Time: t0, Data: []byte(`{"invoice_id":"in_1"}`)},
	)
	sub := &subscriber{seen: map[string]int{}}
	sub.down.Store(true)
	srv := httptest.NewServer(sub)
	defer srv.Close()
	relay := outbox.NewRelay(outbox.Options{
		Store: store, Subscribers: []outbox.Subscriber{{Name: "credit", URL: srv.URL}},
		Now: func() time.Time { return now }, Jitter: func() float64 { return 0 },
		MinBackoff: time.Second, MaxBackoff: time.Minute,
	})
	ctx := context.Background()

	n, err := relay.DeliverOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 0, n)
	n, err = relay.DeliverOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 0, n, "not retried before the backoff")

	now = now.Add(time.Second)
	_, err = relay.DeliverOnce(ctx) // second failure: backoff doubles
	require.NoError(t, err)
	now = now.Add(time.Second)
	n, _ = relay.DeliverOnce(ctx)
	require.Equal(t, 0, n, "backoff doubled to 2 s")

	sub.down.Store(false)
	store.failMarkOK.Store(1) // the first delivery is not recorded: it is sent again
	now = now.Add(time.Second)
	n, err = relay.DeliverOnce(ctx)
	require.Error(t, err)
	require.Equal(t, 1, n)
	n, err = relay.DeliverOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, err = relay.DeliverOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 0, n)

	require.Equal(t, int64(3), sub.deliveries.Load(), "at least once: one event arrived twice")
	require.Equal(t, map[string]int{"evt_1": 2, "evt_2": 1}, sub.seen)
	require.Len(t, sub.seen, 2, "exactly once per event id after the subscriber's dedup")
}

func TestBackoffIsCapped(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	store := newMemStore(outbox.Event{ID: "e", Type: "t", Source: "/s", Time: t0, Data: []byte(`{}`), Attempts: 0})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) }))
	defer srv.Close()
	now := t0
	relay := outbox.NewRelay(outbox.Options{Store: store, Subscribers: []outbox.Subscriber{{Name: "s", URL: srv.URL}},
		Now: func() time.Time { return now }, Jitter: func() float64 { return 0 }, MinBackoff: time.Second, MaxBackoff: 8 * time.Second})
	var waits []time.Duration
	for range 6 {
		_, _ = relay.DeliverOnce(context.Background())
		store.mu.Lock()
		w := store.next["s/e"].Sub(now)
		store.mu.Unlock()
		waits = append(waits, w)
		now = store.next["s/e"]
	}
	require.Equal(t, []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second}, waits)
}

func TestStartShutdown(t *testing.T) {
	store := newMemStore(outbox.Event{ID: "e", Type: "t", Source: "/s", Time: time.Now(), Data: []byte(`{}`)})
	sub := &subscriber{seen: map[string]int{}}
	srv := httptest.NewServer(sub)
	defer srv.Close()
	relay := outbox.NewRelay(outbox.Options{Store: store, Subscribers: []outbox.Subscriber{{Name: "s", URL: srv.URL}}, PollInterval: time.Hour})
	require.NoError(t, relay.Start(context.Background()))
	relay.Notify()
	deadline := time.Now().Add(10 * time.Second)
	for sub.deliveries.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // waits for the goroutine; no timing is asserted
	}
	require.NoError(t, relay.Shutdown(context.Background()))
	require.Equal(t, int64(1), sub.deliveries.Load())
	srv.CloseClientConnections()
}
