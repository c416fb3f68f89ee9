package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ContentType is the media type of a structured-mode CloudEvent.
const ContentType = "application/cloudevents+json"

// Subscriber receives events.
type Subscriber struct {
	// Name identifies the subscriber in the delivery records; keep it stable.
	Name string
	// URL receives each event as an HTTP POST.
	URL string
}

// Options are what a Relay is built from.
type Options struct {
	Store       Store
	Subscribers []Subscriber
	Client      *http.Client
	Now         func() time.Time
	Logger      *slog.Logger
	// PollInterval is how often the outbox is read when not notified; 1 s
	// by default.
	PollInterval time.Duration
	// BatchSize is how many events one pass sends per subscriber; 100 by
	// default.
	BatchSize int
	// MinBackoff and MaxBackoff bound the wait before a retry, doubled with
	// each failure and jittered; 1 s and 5 min by default.
	MinBackoff, MaxBackoff time.Duration
	// Jitter returns a number in [0, 1); math/rand/v2 by default.
	Jitter func() float64
	// TracerProvider traces deliveries; W3C trace context goes out with
	// each.
	TracerProvider trace.TracerProvider
	// Registerer gets the delivery metrics; optional.
	Registerer prometheus.Registerer
}

// Relay delivers outbox events to subscribers, at least once, in outbox
// order per subscriber. A failed event is retried after its backoff without
// holding back the others.
type Relay struct {
	opts     Options
	tracer   trace.Tracer
	notify   chan struct{}
	cancel   context.CancelFunc
	done     chan struct{}
	stopOnce sync.Once

	delivered *prometheus.CounterVec
	failed    *prometheus.CounterVec
}

// NewRelay returns a relay; it runs between Start and Shutdown, and
// DeliverOnce runs one pass by hand.
func NewRelay(opts Options) *Relay {
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = time.Second
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = 100
	}
	if opts.MinBackoff == 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 5 * time.Minute
	}
	if opts.Jitter == nil {
		opts.Jitter = rand.Float64
	}
	if opts.TracerProvider == nil {
		opts.TracerProvider = noop.NewTracerProvider()
	}
	r := &Relay{
		opts:   opts,
		tracer: opts.TracerProvider.Tracer("github.com/estatehq/estate/services/kit/outbox"),
		notify: make(chan struct{}, 1),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outbox_events_delivered_total", Help: "Outbox events delivered, by subscriber.",
		}, []string{"subscriber"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outbox_delivery_failures_total", Help: "Failed outbox delivery attempts, by subscriber.",
		}, []string{"subscriber"}),
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(r.delivered, r.failed)
	}
	return r
}

// Notify asks for a pass soon, after a change wrote events.
func (r *Relay) Notify() {
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// Start runs the relay in a goroutine that Shutdown stops.
func (r *Relay) Start(context.Context) error {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.done = make(chan struct{})
	go r.loop(ctx)
	return nil
}

func (r *Relay) loop(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(r.opts.PollInterval)
	defer t.Stop()
	for {
		if _, err := r.DeliverOnce(ctx); err != nil && ctx.Err() == nil {
			r.opts.Logger.Warn("delivering outbox events", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.notify:
		}
	}
}

// Shutdown stops the relay, waiting for the pass in flight until ctx ends.
func (r *Relay) Shutdown(ctx context.Context) error {
	if r.cancel == nil {
		return nil
	}
	r.stopOnce.Do(r.cancel)
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stopping outbox relay: %w", ctx.Err())
	}
}

// DeliverOnce sends every due event to every subscriber once and returns how
// many were delivered.
func (r *Relay) DeliverOnce(ctx context.Context) (int, error) {
	n := 0
	var errs []error
	for _, sub := range r.opts.Subscribers {
		events, err := r.opts.Store.Pending(ctx, sub.Name, r.opts.Now(), r.opts.BatchSize)
		if err != nil {
			errs = append(errs, fmt.Errorf("reading outbox for %s: %w", sub.Name, err))
			continue
		}
		for _, e := range events {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			if err := r.send(ctx, sub, e); err != nil {
				r.failed.WithLabelValues(sub.Name).Inc()
				attempts := e.Attempts + 1
				next := r.opts.Now().Add(r.backoff(attempts))
				r.opts.Logger.Info("outbox delivery failed", "subscriber", sub.Name, "event_id", e.ID, "attempt", attempts, "retry_at", next, "err", err)
				if err := r.opts.Store.MarkFailed(ctx, sub.Name, e.ID, attempts, next, err.Error()); err != nil {
					errs = append(errs, err)
				}
				continue
			}
			r.delivered.WithLabelValues(sub.Name).Inc()
			if err := r.opts.Store.MarkDelivered(ctx, sub.Name, e.ID, r.opts.Now()); err != nil {
				// Delivered but not recorded: it will be sent again, which
				// at-least-once allows and the subscriber's dedup absorbs.
				errs = append(errs, err)
				continue
			}
			n++
		}
	}
	return n, errors.Join(errs...)
}

// backoff is the wait after the n-th failure: MinBackoff doubled n-1 times,
// capped, with up to 50% jitter taken off so retries spread out.
func (r *Relay) backoff(n int) time.Duration {
	d := r.opts.MinBackoff
	for i := 1; i < n && d < r.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.opts.MaxBackoff)
	return d - time.Duration(r.opts.Jitter()*float64(d)/2)
}

// Encode returns e as a structured-mode CloudEvent.
func Encode(e Event) ([]byte, error) {
	ce := cloudevents.New()
	ce.SetID(e.ID)
	ce.SetType(e.Type)
	ce.SetSource(e.Source)
	ce.SetSubject(e.Subject)
	ce.SetTime(e.Time)
	if err := ce.SetData("application/json", json.RawMessage(e.Data)); err != nil {
		return nil, fmt.Errorf("setting event data: %w", err)
	}
	if err := ce.Validate(); err != nil {
		return nil, fmt.Errorf("invalid event %s: %w", e.ID, err)
	}
	return json.Marshal(ce)
}

func (r *Relay) send(ctx context.Context, sub Subscriber, e Event) error {
	ctx, span := r.tracer.Start(ctx, "outbox.deliver "+e.Type, trace.WithSpanKind(trace.SpanKindProducer))
	defer span.End()
	body, err := Encode(e)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Content-Type", ContentType)
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := r.opts.Client.Do(req)
	if err != nil {
		return fmt.Errorf("posting event: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("subscriber answered %d", resp.StatusCode)
	}
	return nil
}
