package remotewrite

import (
	"errors"
	"fmt"
	"time"
)

// The export errors tell the caller what to do with the batch. Any other
// non-nil error is transient: retry the same batch later with backoff.
// The elasticsearch and jaeger exporters return errors with the same method
// set, so a caller can classify all three through the interfaces
// interface{ Permanent() bool }, interface{ RetryAfter() time.Duration } and
// interface{ Shutdown() bool }.

// PermanentError means retrying the same batch can never succeed.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string   { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error   { return e.Err }
func (e *PermanentError) Permanent() bool { return true }

// ThrottleError means the server asked to slow down: retry the same batch
// after RetryAfter (zero when the server named no delay).
type ThrottleError struct {
	Err   error
	Delay time.Duration
}

func (e *ThrottleError) Error() string {
	return fmt.Sprintf("throttled (retry after %s): %v", e.Delay, e.Err)
}
func (e *ThrottleError) Unwrap() error { return e.Err }

// RetryAfter is the delay the server asked for.
func (e *ThrottleError) RetryAfter() time.Duration { return e.Delay }

// ShutdownError means the export stopped because the exporter is shutting
// down or the caller's context ended; the batch was not (fully) delivered.
type ShutdownError struct{ Err error }

func (e *ShutdownError) Error() string  { return "shutting down: " + e.Err.Error() }
func (e *ShutdownError) Unwrap() error  { return e.Err }
func (e *ShutdownError) Shutdown() bool { return true }

// ErrShutdown is wrapped by the ShutdownError of calls made after Shutdown.
var ErrShutdown = errors.New("exporter shut down")
