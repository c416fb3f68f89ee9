package collector

import (
	"context"
	"time"
)

// REDOverflow is the service, route and version of the series that takes
// the spans beyond the bound on RED series.
const REDOverflow = "__overflow__"

// REDKey names one RED series: a route of a version of a service, by
// status class.
type REDKey struct {
	Service     string
	Route       string
	StatusClass string
	// Version is the resource's service.version, "" when it has none: a
	// canary's requests apart from the stable version's in one window.
	Version string
}

// REDObservation is one server span reduced to what RED needs, with the
// span's identity so that a span delivered twice counts once.
type REDObservation struct {
	TraceID  string
	SpanID   string
	Key      REDKey
	Minute   time.Time
	End      time.Time
	Duration time.Duration
	Error    bool
}

// REDMinute is one minute of one RED series.
type REDMinute struct {
	Minute      time.Time
	Key         REDKey
	Requests    int64
	Errors      int64
	DurationSum time.Duration
	DurationMax time.Duration
}

// REDStore keeps the span-derived RED rollups, per minute and series. The
// RED consumer of the queue writes to it; SLO reports read it.
type REDStore interface {
	// AddRED adds the observations whose span (trace id, span id) it has
	// not added before to the per-minute rollups, all in one transaction,
	// and reports for each observation whether it was new. A batch replayed
	// after a crash therefore changes nothing. It returns an error, and
	// adds nothing, when the store cannot be written.
	AddRED(ctx context.Context, obs []REDObservation) (added []bool, err error)
	// REDMinutes returns the rollups with minute in [from, to), ordered by
	// minute, service, route, status class and version.
	REDMinutes(ctx context.Context, from, to time.Time) ([]REDMinute, error)
}
