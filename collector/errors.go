package collector

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The error classes say what the caller should do, by method set, so that
// exporters in other packages classify alike without importing this one:
// interface{ Permanent() bool }, interface{ RetryAfter() time.Duration } and
// interface{ Shutdown() bool }.

// PermanentError means retrying can never succeed.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string   { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error   { return e.Err }
func (e *PermanentError) Permanent() bool { return true }

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return &PermanentError{Err: err} }

// ThrottleError means the other side asked to slow down: retry after Delay.
type ThrottleError struct {
	Err   error
	Delay time.Duration
}

func (e *ThrottleError) Error() string {
	return fmt.Sprintf("throttled (retry after %s): %v", e.Delay, e.Err)
}
func (e *ThrottleError) Unwrap() error             { return e.Err }
func (e *ThrottleError) RetryAfter() time.Duration { return e.Delay }

// Throttle marks err as retryable after d.
func Throttle(err error, d time.Duration) error { return &ThrottleError{Err: err, Delay: d} }

// ShutdownError means the work stopped because its owner is shutting down.
type ShutdownError struct{ Err error }

func (e *ShutdownError) Error() string  { return "shutting down: " + e.Err.Error() }
func (e *ShutdownError) Unwrap() error  { return e.Err }
func (e *ShutdownError) Shutdown() bool { return true }

// ErrShutdown is the cause of a ShutdownError raised by the collector itself.
var ErrShutdown = errors.New("collector shutting down")

// IsPermanent reports whether err, or one it wraps, is permanent.
func IsPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// IsShutdown reports whether err, or one it wraps, is a shutdown.
func IsShutdown(err error) bool {
	var s interface{ Shutdown() bool }
	return errors.As(err, &s) && s.Shutdown()
}

// RetryAfter returns the delay a throttle error asks for, and whether err is
// one.
func RetryAfter(err error) (time.Duration, bool) {
	var t interface{ RetryAfter() time.Duration }
	if errors.As(err, &t) {
		return t.RetryAfter(), true
	}
	return 0, false
}

// ContextShutdown returns a ShutdownError carrying ctx's cause once ctx has
// ended, and nil before.
func ContextShutdown(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		if cause := context.Cause(ctx); cause != nil {
			err = cause
		}
		return &ShutdownError{Err: err}
	}
	return nil
}
