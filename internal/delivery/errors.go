// Package delivery holds what every component that delivers data to another
// party needs, written once: error classes that tell the caller what to do
// with a batch (drop it, wait for the server's delay, stop), a lifecycle that
// refuses calls after shutdown and cancels those in flight, retry with
// exponential backoff on an injected clock, the reading of a server's
// Retry-After and of gRPC and HTTP answers into those classes, the TLS
// configuration of a client, and the Prometheus series an exporter keeps of
// its requests.
//
// It plays the part of the OpenTelemetry Collector's exporterhelper and
// consumererror: each exporter is only what is particular to its backend.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The error classes say what the caller should do, by method set, so that
// errors of other packages can classify alike without importing this one:
// interface{ Permanent() bool }, interface{ RetryAfter() time.Duration } and
// interface{ Shutdown() bool }. Any other non-nil error is transient: send
// the same data again later, with backoff.

// PermanentError means retrying can never succeed.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string   { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error   { return e.Err }
func (e *PermanentError) Permanent() bool { return true }

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return &PermanentError{Err: err} }

// ThrottleError means the other side asked to slow down: retry after Delay,
// which is zero when the other side named none (the caller's own backoff
// then applies).
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

// ShutdownError means the work stopped because its owner is shutting down or
// its caller's context ended; the data was not (fully) delivered.
type ShutdownError struct{ Err error }

func (e *ShutdownError) Error() string  { return "shutting down: " + e.Err.Error() }
func (e *ShutdownError) Unwrap() error  { return e.Err }
func (e *ShutdownError) Shutdown() bool { return true }

// ErrShutdown is the cause of the ShutdownError of a call refused or
// cancelled because its component is shutting down (see Lifecycle).
var ErrShutdown = errors.New("component shut down")

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
