package delivery

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"time"
)

// Sleep waits d, or until ctx ends and then returns ctx's error. It is the
// default of every injected sleep; tests inject one that returns at once.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Backoff is an exponential backoff policy.
type Backoff struct {
	// Initial is the wait before the first retry.
	Initial time.Duration
	// Max bounds every wait; zero leaves them unbounded.
	Max time.Duration
	// Multiplier grows the wait from one retry to the next; 2 when zero.
	Multiplier float64
	// Jitter, when set, returns a number in [0, 1): that fraction of half
	// the wait is taken off, so that waits spread over [d/2, d] and clients
	// that failed together do not retry together.
	Jitter func() float64
}

// Delay is the wait before retry n (1 is the retry after the first failed
// attempt).
func (b Backoff) Delay(n int) time.Duration {
	m := b.Multiplier
	if m == 0 {
		m = 2
	}
	d := b.Initial
	for i := 1; i < n && (b.Max <= 0 || d < b.Max); i++ {
		next := float64(d) * m
		if next >= math.MaxInt64 {
			d = math.MaxInt64
			break
		}
		d = time.Duration(next)
	}
	if b.Max > 0 {
		d = min(d, b.Max)
	}
	if b.Jitter != nil {
		d -= time.Duration(b.Jitter() * float64(d) / 2)
	}
	return d
}

// Retry calls an operation again after transient failures: MaxAttempts
// times at most, waiting with Backoff unless the server named its own
// delay (a ThrottleError). Its clock is injected, so tests run without
// waiting.
type Retry struct {
	Backoff Backoff
	// MaxAttempts bounds the calls of one Do; zero leaves them unbounded
	// (until ctx ends).
	MaxAttempts int
	// CapServerDelay waits Backoff.Max when the server asks for longer. By
	// default such a delay is handed back to the caller as the operation's
	// ThrottleError, so that its queue waits instead of the call.
	CapServerDelay bool
	// Sleep waits between attempts and returns early with ctx's error;
	// Sleep when nil.
	Sleep func(ctx context.Context, d time.Duration) error
	// OnRetry, when set, is told of each retry before its wait, for metrics
	// and logs: the attempt that failed, its error, the wait.
	OnRetry func(attempt int, err error, delay time.Duration)
}

// Validate checks a retry as a component's configuration sets it, with its
// attempts bounded, and names the fields at fault under keyPrefix: "jaeger."
// gives jaeger.max_attempts, jaeger.initial_backoff and jaeger.max_backoff.
func (r Retry) Validate(keyPrefix string) error {
	var errs []error
	if r.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("%smax_attempts: must be positive, not %d", keyPrefix, r.MaxAttempts))
	}
	if r.Backoff.Initial <= 0 {
		errs = append(errs, fmt.Errorf("%sinitial_backoff: must be positive", keyPrefix))
	}
	if r.Backoff.Max < r.Backoff.Initial {
		errs = append(errs, fmt.Errorf("%smax_backoff: must be at least initial_backoff", keyPrefix))
	}
	return errors.Join(errs...)
}

// Do calls op until it returns nil, an error not worth retrying, or the
// attempts run out. It returns nil; op's *PermanentError or *ShutdownError
// as they are; a *ShutdownError once ctx has ended; or, when it gives up on
// a retryable error (attempts exhausted, or a server delay longer than
// Backoff.Max), that error wrapped with the count of attempts, a
// *ThrottleError still when it was one.
func (r Retry) Do(ctx context.Context, op func(ctx context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil {
			return nil
		}
		if serr := ContextShutdown(ctx); serr != nil {
			return serr
		}
		if IsPermanent(err) || IsShutdown(err) {
			return err
		}
		delay, named := RetryAfter(err)
		switch {
		case !named || delay <= 0:
			delay = r.Backoff.Delay(attempt)
		case r.Backoff.Max > 0 && delay > r.Backoff.Max:
			if !r.CapServerDelay {
				return fmt.Errorf("after %d attempts: %w", attempt, err)
			}
			delay = r.Backoff.Max
		}
		if r.MaxAttempts > 0 && attempt >= r.MaxAttempts {
			return fmt.Errorf("after %d attempts: %w", attempt, err)
		}
		if r.OnRetry != nil {
			r.OnRetry(attempt, err, delay)
		}
		if err := r.Wait(ctx, delay); err != nil {
			return err
		}
	}
}

// Wait sleeps d with the injected Sleep. A wait that ctx cuts short, or
// that ends after ctx did, is a *ShutdownError carrying ctx's cause.
func (r Retry) Wait(ctx context.Context, d time.Duration) error {
	sleep := r.Sleep
	if sleep == nil {
		sleep = Sleep
	}
	if err := sleep(ctx, d); err != nil {
		if serr := ContextShutdown(ctx); serr != nil {
			return serr
		}
		return &ShutdownError{Err: err}
	}
	return ContextShutdown(ctx)
}

// RetryConfig is the request and retry part of an exporter's
// configuration, as YAML keys (timeout, max_attempts, initial_backoff,
// max_backoff) beside the exporter's own: embed it with `yaml:",inline"`.
type RetryConfig struct {
	// Timeout bounds one request.
	Timeout time.Duration `yaml:"timeout"`
	// MaxAttempts bounds the tries of one batch within one export call.
	MaxAttempts int `yaml:"max_attempts"`
	// InitialBackoff is the first wait when the server names none; it
	// doubles up to MaxBackoff. A server delay (RetryInfo, Retry-After)
	// longer than MaxBackoff is handed to the caller as a ThrottleError
	// instead of waited for.
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	MaxBackoff     time.Duration `yaml:"max_backoff"`
}

// RegisterFlags sets the defaults and binds the flags prefix+"timeout",
// prefix+"max-attempts", prefix+"initial-backoff" and prefix+"max-backoff".
func (c *RetryConfig) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.DurationVar(&c.Timeout, prefix+"timeout", 10*time.Second, "timeout of one export request")
	fs.IntVar(&c.MaxAttempts, prefix+"max-attempts", 5, "tries of one batch within one export before it is handed back")
	fs.DurationVar(&c.InitialBackoff, prefix+"initial-backoff", 100*time.Millisecond, "first wait before a retry when the server names none; doubles each time")
	fs.DurationVar(&c.MaxBackoff, prefix+"max-backoff", 5*time.Second, "longest wait within one export; longer server delays are handed back to the queue")
}

// Validate names the fields at fault under keyPrefix ("otlp." gives
// otlp.timeout...).
func (c *RetryConfig) Validate(keyPrefix string) error {
	var errs []error
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("%stimeout: must be positive", keyPrefix))
	}
	r := c.Retry()
	return errors.Join(append(errs, r.Validate(keyPrefix))...)
}

// Retry is the retry policy the configuration sets; the caller adds its
// Sleep and OnRetry.
func (c *RetryConfig) Retry() Retry {
	return Retry{Backoff: Backoff{Initial: c.InitialBackoff, Max: c.MaxBackoff}, MaxAttempts: c.MaxAttempts}
}
