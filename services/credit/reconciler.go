package credit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/estatehq/estate/services/kit/periodic"
)

// ReconcilerOptions are what a Reconciler is built from.
type ReconcilerOptions struct {
	// Reconcile runs one pass; Service.Reconcile. Required.
	Reconcile func(ctx context.Context, staleBefore time.Time, batch int) (int, error)
	// Interval is the time between two passes (Config.ReconcileInterval).
	// Required.
	Interval time.Duration
	// StaleAfter: a pass checks the active drawdowns not checked for this
	// long (Config.ReconcileAfter). Required.
	StaleAfter time.Duration
	// BatchSize bounds the drawdowns one pass checks; 100 by default.
	BatchSize int
	Now       func() time.Time
	Logger    *slog.Logger
}

// Reconciler reconciles every Interval between Start and Shutdown: it
// catches the invoice.paid deliveries that were lost. The first pass comes
// one Interval after Start, not at once: a drawdown is only stale after
// StaleAfter anyway, and the invoicing service may be starting alongside. A
// failed pass is logged and the next one comes at the next interval.
type Reconciler struct {
	opts ReconcilerOptions
	job  *periodic.Job
}

// NewReconciler returns a reconciler; it runs between Start and Shutdown.
func NewReconciler(opts ReconcilerOptions) *Reconciler {
	if opts.BatchSize == 0 {
		opts.BatchSize = 100
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Reconciler{opts: opts}
	r.job = periodic.New(periodic.Options{Name: "credit reconciler", Interval: opts.Interval, Run: r.reconcile})
	return r
}

// Start runs the passes in a goroutine that Shutdown stops.
func (r *Reconciler) Start(ctx context.Context) error {
	var errs []error
	if r.opts.Reconcile == nil {
		errs = append(errs, errors.New("credit reconciler: no Reconcile function"))
	}
	if r.opts.StaleAfter <= 0 {
		errs = append(errs, fmt.Errorf("credit reconciler: StaleAfter must be positive, not %v", r.opts.StaleAfter))
	}
	if r.opts.BatchSize < 0 {
		errs = append(errs, fmt.Errorf("credit reconciler: BatchSize must be positive, not %d", r.opts.BatchSize))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return r.job.Start(ctx)
}

// Shutdown stops the reconciler, waiting for the pass in flight until ctx
// ends.
func (r *Reconciler) Shutdown(ctx context.Context) error { return r.job.Shutdown(ctx) }

func (r *Reconciler) reconcile(ctx context.Context) {
	n, err := r.opts.Reconcile(ctx, r.opts.Now().Add(-r.opts.StaleAfter), r.opts.BatchSize)
	if n > 0 {
		r.opts.Logger.InfoContext(ctx, "reconcile settled drawdowns", "settled", n)
	}
	if err != nil && ctx.Err() == nil {
		r.opts.Logger.WarnContext(ctx, "reconciling drawdowns", "err", err)
	}
}
