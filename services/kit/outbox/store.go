// Package outbox delivers the events a service wrote to its transactional
// outbox (in the same transaction as the change they report) to subscribers,
// as CloudEvents in structured JSON mode over HTTP POST. Delivery is at least
// once: an event is retried with exponential backoff and jitter until the
// subscriber answers 2xx, and subscribers deduplicate by event id.
package outbox

import (
	"context"
	"time"
)

// Event is an outbox row.
type Event struct {
	ID      string
	Type    string
	Source  string
	Subject string
	Time    time.Time
	// Data is JSON.
	Data []byte
	// Attempts counts the failed deliveries to the subscriber so far.
	Attempts int
}

// Store is the outbox side of a service's store.
type Store interface {
	// Pending returns up to limit events not yet delivered to subscriber
	// whose next attempt is due at now, oldest first.
	Pending(ctx context.Context, subscriber string, now time.Time, limit int) ([]Event, error)
	// MarkDelivered records the delivery of an event.
	MarkDelivered(ctx context.Context, subscriber, eventID string, at time.Time) error
	// MarkFailed records a failed attempt and when to try again.
	MarkFailed(ctx context.Context, subscriber, eventID string, attempts int, next time.Time, reason string) error
}
