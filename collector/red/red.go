// Package red derives RED rollups (rate, errors, duration) from server
// spans: per service, route and status class, per minute. The number of
// series is bounded; spans beyond the bound are counted in one overflow
// series, so a service that puts ids in its routes cannot blow up the
// collector's memory or Prometheus.
package red

import (
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Overflow is the service and route of the overflow series.
const Overflow = "__overflow__"

// Key names one series.
type Key struct {
	Service     string
	Route       string
	StatusClass string
}

// Observation is one server span reduced to what RED needs.
type Observation struct {
	Key      Key
	Minute   time.Time
	Duration time.Duration
	Error    bool
}

// FromSpan reduces a span to an observation; ok is false for spans that are
// not server or consumer spans (they would count requests twice).
func FromSpan(service string, span ptrace.Span) (Observation, bool) {
	if k := span.Kind(); k != ptrace.SpanKindServer && k != ptrace.SpanKindConsumer {
		return Observation{}, false
	}
	attrs := span.Attributes()
	route := span.Name()
	if v, ok := attrs.Get("http.route"); ok && v.Str() != "" {
		route = v.Str()
		if m, ok := attrs.Get("http.request.method"); ok && m.Str() != "" {
			route = m.Str() + " " + route
		}
	} else if v, ok := attrs.Get("rpc.method"); ok && v.Str() != "" {
		route = v.Str()
		if s, ok := attrs.Get("rpc.service"); ok && s.Str() != "" {
			route = s.Str() + "/" + route
		}
	}
	class, isErr := statusClass(span)
	start, end := span.StartTimestamp().AsTime(), span.EndTimestamp().AsTime()
	return Observation{
		Key:      Key{Service: service, Route: route, StatusClass: class},
		Minute:   end.UTC().Truncate(time.Minute),
		Duration: max(0, end.Sub(start)),
		Error:    isErr,
	}, true
}

// statusClass is "2xx".."5xx" from the HTTP status code when there is one,
// else "error" or "ok" from the span status. Errors are 5xx and "error".
func statusClass(span ptrace.Span) (string, bool) {
	attrs := span.Attributes()
	for _, k := range []string{"http.response.status_code", "http.status_code"} {
		if v, ok := attrs.Get(k); ok {
			code := v.Int()
			if code == 0 {
				code, _ = strconv.ParseInt(v.AsString(), 10, 64)
			}
			if code >= 100 && code < 600 {
				c := strconv.FormatInt(code/100, 10) + "xx"
				return c, code >= 500
			}
		}
	}
	if span.Status().Code() == ptrace.StatusCodeError {
		return "error", true
	}
	return "ok", false
}

// Options are what a Rollup is built from.
type Options struct {
	// MaxSeries bounds the series; default 2000.
	MaxSeries  int
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Rollup keeps the RED series and exposes them to Prometheus.
type Rollup struct {
	opts     Options
	mu       sync.Mutex
	known    map[Key]bool
	warned   bool
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	overflow prometheus.Counter
	series   prometheus.GaugeFunc
}

// New returns a rollup registered with opts.Registerer.
func New(opts Options) *Rollup {
	if opts.MaxSeries <= 0 {
		opts.MaxSeries = 2000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	labels := []string{"service", "route", "status_class"}
	r := &Rollup{
		opts:  opts,
		known: map[Key]bool{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "estate_red_requests_total", Help: "Server spans received, by service, route and status class."}, labels),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "estate_red_errors_total", Help: "Server spans that failed (5xx or error status)."}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "estate_red_request_duration_seconds",
			Help:    "Duration of server spans.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, labels),
		overflow: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "estate_red_overflow_spans_total", Help: "Server spans counted in the overflow series because max_series was reached."}),
	}
	r.series = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "estate_red_series", Help: "RED series in use."}, func() float64 {
		r.mu.Lock()
		defer r.mu.Unlock()
		return float64(len(r.known))
	})
	opts.Registerer.MustRegister(r.requests, r.errors, r.duration, r.overflow, r.series)
	return r
}

// Admit maps a key to itself, or to the overflow series once MaxSeries
// other keys are known.
func (r *Rollup) Admit(k Key) Key {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.known[k] {
		return k
	}
	if len(r.known) < r.opts.MaxSeries {
		r.known[k] = true
		return k
	}
	if !r.warned {
		r.warned = true
		r.opts.Logger.Warn("RED series bound reached; further series go to the overflow series",
			"max_series", r.opts.MaxSeries, "first_overflow_service", k.Service, "first_overflow_route", k.Route)
	}
	return Key{Service: Overflow, Route: Overflow, StatusClass: k.StatusClass}
}

// Observe counts one observation whose key went through Admit.
func (r *Rollup) Observe(o Observation) {
	l := prometheus.Labels{"service": o.Key.Service, "route": o.Key.Route, "status_class": o.Key.StatusClass}
	if o.Key.Service == Overflow {
		r.overflow.Inc()
	}
	r.requests.With(l).Inc()
	if o.Error {
		r.errors.With(l).Inc()
	}
	r.duration.With(l).Observe(o.Duration.Seconds())
}
