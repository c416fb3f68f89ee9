// Package metricshttp serves the events and query API of the metrics area:
// ingest of CloudEvents (structured, binary and batch mode) and of the
// CDEvents, Alertmanager, GitHub and CircleCI payloads that the adapters
// map onto events, and the DORA report query. The collector target mounts
// it on its events port (8088).
//
// The intakes never refuse good data for the bad data beside it: every
// item of a request (an event of a CloudEvents batch, an alert of an
// Alertmanager notification, a webhook delivery) is judged on its own.
// The items that map are stored; each one that cannot be is counted
// (estate_intake_rejected_total{intake,reason}), logged and written with
// its reason to the dead-letter file, and named in the answer. A request
// is answered 200 when anything in it could be taken (or it held
// nothing), with the rejected items listed; it is refused, with RFC 9457
// problem+json naming every field at fault, only when nothing in it can be
// taken: every item is invalid, the body is too large, or its signature
// does not verify. Event ids make every ingest idempotent, so senders may
// retry freely.
package metricshttp

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/estatehq/estate/internal/problem"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/intake/alertmanager"
)

// DefaultMaxBodyBytes bounds request bodies unless Options say otherwise:
// room for a batch of several thousand events.
const DefaultMaxBodyBytes = 4 << 20

// Options are the handler's dependencies and settings.
type Options struct {
	// Store keeps the events. Required.
	Store metrics.Store
	// Logger logs failures; nil discards.
	Logger *slog.Logger
	// Now is the clock of the default query window; nil is time.Now.
	Now func() time.Time
	// GitHubSecret verifies X-Hub-Signature-256; empty turns
	// /v1/events/github off (404).
	GitHubSecret string
	// CircleCISecret verifies circleci-signature; empty turns
	// /v1/events/circleci off (404).
	CircleCISecret string
	// CircleCIDeployPattern selects deploy workflows by name; nil is
	// `(?i)deploy`. A named group "environment" names the environment.
	CircleCIDeployPattern *regexp.Regexp
	// CircleCIEnvironment is the environment of deploy workflows whose
	// pattern names none; default "production".
	CircleCIEnvironment string
	// Alertmanager names the labels read from alerts, and the environment
	// of alerts that have none.
	Alertmanager alertmanager.Options
	// MaxBodyBytes bounds request bodies (413 beyond); 0 means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// DeadLetterDir is the folder of the dead-letter files that keep every
	// rejected item with its reason (intake-<day>.jsonl); empty keeps none,
	// and rejected items are only counted and logged.
	DeadLetterDir string
	// Registerer receives estate_intake_rejected_total; nil registers it
	// nowhere that is served.
	Registerer prometheus.Registerer
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	var errs []error
	if o.Store == nil {
		errs = append(errs, errors.New("store is required"))
	}
	if o.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("max_body_bytes must not be negative, not %d", o.MaxBodyBytes))
	}
	return errors.Join(errs...)
}

// withDefaults validates o and fills its defaults.
func (o Options) withDefaults() (Options, error) {
	if err := o.Validate(); err != nil {
		return o, fmt.Errorf("metrics http options: %w", err)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	return o, nil
}

// NewHandler returns the API on a router of its own, which answers unknown
// paths and methods with problem details.
func NewHandler(o Options) (http.Handler, error) {
	r := chi.NewRouter()
	if err := Routes(r, o); err != nil {
		return nil, err
	}
	problem.Route(r)
	return r, nil
}
