// Package reviewhttp serves incident reviews over HTTP: the collector
// target mounts it on its API port, and the report server may mount it at
// a route of its own.
package reviewhttp

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/sloreport"
)

// DefaultPattern is the route of a review on the collector's API.
const DefaultPattern = "/v1/incidents/{id}/timeline"

// Options are what the API is built from.
type Options struct {
	// Events is the event store. Required.
	Events metrics.Store
	// Querier reads the metrics store; nil leaves the alerts' series, the
	// SLO burn and the error rate out of every review.
	Querier promquery.Querier
	// SLOs are every SLO known; a review reads those of its service.
	SLOs []sloreport.SLO
	// Lookback and Around are review.Inputs'; zero takes their defaults.
	Lookback, Around time.Duration
	// Pattern is the route, with the incident id as {id}; default
	// DefaultPattern. The report server mounts it at "/incidents/{id}".
	Pattern string
	// Logger logs the failures the client is not shown; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Routes mounts the API on r:
//
//	GET /v1/incidents/{id}/timeline   the review of an incident: JSON, or
//	                                  with ?format=markdown (or Accept:
//	                                  text/markdown) the postmortem draft,
//	                                  ?format=text (text/plain) for a
//	                                  terminal; 404 for an unknown id
//
// It fails only for options that cannot work.
func Routes(r chi.Router, o Options) error {
	var errs []error
	if o.Events == nil {
		errs = append(errs, errors.New("events: the event store is required"))
	}
	if o.Lookback < 0 || o.Around < 0 {
		errs = append(errs, fmt.Errorf("lookback (%s) and around (%s): must not be negative", o.Lookback, o.Around))
	}
	if o.Pattern == "" {
		o.Pattern = DefaultPattern
	}
	if !strings.HasPrefix(o.Pattern, "/") || !strings.Contains(o.Pattern, "{id}") {
		errs = append(errs, fmt.Errorf("pattern: must start with / and hold {id}, not %q", o.Pattern))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("incident review API: %w", err)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r.Get(o.Pattern, handleTimeline(o))
	return nil
}
