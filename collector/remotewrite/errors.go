package remotewrite

import (
	"errors"

	"github.com/estatehq/estate/collector"
)

// The export errors are the collector's error classes, so that the queue
// treats every exporter alike. Any other non-nil error is transient: retry
// the same batch later with backoff.
type (
	// PermanentError means retrying the same batch can never succeed.
	PermanentError = collector.PermanentError
	// ThrottleError means the server asked to slow down: retry the same
	// batch after Delay (zero when the server named none).
	ThrottleError = collector.ThrottleError
	// ShutdownError means the export stopped because the exporter is
	// shutting down or the caller's context ended; the batch was not (fully)
	// delivered.
	ShutdownError = collector.ShutdownError
)

// ErrShutdown is wrapped by the ShutdownError of calls made after Shutdown.
var ErrShutdown = errors.New("exporter shut down")
