package idempotency

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/estatehq/estate/services/kit/periodic"
)

// DefaultTTL is how long the middleware honours a key: a retry within it
// replays the first response.
const DefaultTTL = 24 * time.Hour

// DefaultRetention is how long a Purger keeps a key: its TTL and as long
// again. A key past its TTL is already forgotten by Begin; keeping it a while
// longer leaves a disputed retry to be looked into, and instances whose
// clocks disagree never purge a key that another still honours.
const DefaultRetention = 2 * DefaultTTL

// DefaultPurgeInterval is how often a Purger deletes the keys past their
// retention.
const DefaultPurgeInterval = time.Hour

// PurgerOptions are what a Purger is built from.
type PurgerOptions struct {
	// Purge deletes the keys created before a time and returns how many it
	// deleted; sqlkeys.Store.PurgeIdempotencyKeys is one. Required.
	Purge func(ctx context.Context, before time.Time) (int64, error)
	// Retention is how long a key is kept; DefaultRetention by default. It
	// must not be shorter than the middleware's TTL.
	Retention time.Duration
	// Interval is how often keys are purged; DefaultPurgeInterval by
	// default.
	Interval time.Duration
	Now      func() time.Time
	Logger   *slog.Logger
}

// Purger deletes the keys past their retention: at Start, then every
// Interval until Shutdown. A failed purge is logged and tried again at the
// next interval.
type Purger struct {
	opts PurgerOptions
	job  *periodic.Job
}

// NewPurger returns a purger; it runs between Start and Shutdown.
func NewPurger(opts PurgerOptions) *Purger {
	if opts.Retention == 0 {
		opts.Retention = DefaultRetention
	}
	if opts.Interval == 0 {
		opts.Interval = DefaultPurgeInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Purger{opts: opts}
	p.job = periodic.New(periodic.Options{Name: "idempotency purger", Interval: opts.Interval, Immediately: true, Run: p.purge})
	return p
}

// Start purges at once and then every Interval, in a goroutine that
// Shutdown stops.
func (p *Purger) Start(ctx context.Context) error {
	if p.opts.Purge == nil {
		return errors.New("idempotency purger: no Purge function")
	}
	if p.opts.Retention < 0 {
		return fmt.Errorf("idempotency purger: the retention must be positive, not %v", p.opts.Retention)
	}
	return p.job.Start(ctx)
}

// Shutdown stops the purger, waiting for the purge in flight until ctx ends.
func (p *Purger) Shutdown(ctx context.Context) error { return p.job.Shutdown(ctx) }

func (p *Purger) purge(ctx context.Context) {
	n, err := p.opts.Purge(ctx, p.opts.Now().Add(-p.opts.Retention))
	switch {
	case err != nil && ctx.Err() == nil:
		p.opts.Logger.WarnContext(ctx, "purging idempotency keys", "err", err)
	case err == nil && n > 0:
		p.opts.Logger.DebugContext(ctx, "purged idempotency keys", "keys", n)
	}
}
