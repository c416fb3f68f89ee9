// Package periodic runs a task every interval in a goroutine that Shutdown
// stops: the lifecycle the services' background jobs share (the purge of
// idempotency keys, credit's reconciliation), written once.
package periodic

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Options are what a Job is built from.
type Options struct {
	// Name names the job in its errors.
	Name string
	// Interval is the time between two runs; it must be positive.
	Interval time.Duration
	// Immediately runs the task at Start as well, not only one Interval
	// later.
	Immediately bool
	// Run is the task. Its context ends at Shutdown. Runs never overlap: a
	// run longer than Interval delays the next.
	Run func(ctx context.Context)
}

// Job runs a task between Start and Shutdown.
type Job struct {
	opts     Options
	cancel   context.CancelFunc
	done     chan struct{}
	stopOnce sync.Once
}

// New returns a job; it runs between Start and Shutdown.
func New(opts Options) *Job { return &Job{opts: opts} }

// Start runs the job in a goroutine that Shutdown stops. The goroutine keeps
// ctx's values but not its cancellation: Start's context only bounds
// starting.
func (j *Job) Start(ctx context.Context) error {
	switch {
	case j.opts.Run == nil:
		return fmt.Errorf("%s: no task to run", j.opts.Name)
	case j.opts.Interval <= 0:
		return fmt.Errorf("%s: the interval must be positive, not %v", j.opts.Name, j.opts.Interval)
	case j.done != nil:
		return fmt.Errorf("%s: already started", j.opts.Name)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	j.cancel = cancel
	j.done = make(chan struct{})
	go j.loop(ctx)
	return nil
}

func (j *Job) loop(ctx context.Context) {
	defer close(j.done)
	t := time.NewTicker(j.opts.Interval)
	defer t.Stop()
	if j.opts.Immediately {
		j.opts.Run(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if ctx.Err() != nil {
			return
		}
		j.opts.Run(ctx)
	}
}

// Shutdown cancels the run in flight, if any, and waits for it to return
// until ctx ends. A job never started stops at once.
func (j *Job) Shutdown(ctx context.Context) error {
	if j.cancel == nil {
		return nil
	}
	j.stopOnce.Do(j.cancel)
	select {
	case <-j.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stopping %s: %w", j.opts.Name, ctx.Err())
	}
}
