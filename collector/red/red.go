// Package red derives RED rollups (rate, errors, duration) from server
// spans: per service, route, status class and version, per minute. It is a consumer
// of the collector's queue with its own cursor: it reads traces, whoever
// else stores them (the embedded store, Jaeger, an OTLP backend), writes the
// rollups to a collector.REDStore and counts them for Prometheus.
//
// The number of series is bounded; spans beyond the bound are counted in
// one overflow series, so a service that puts ids in its routes cannot blow
// up the collector's memory or Prometheus.
package red

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/estatehq/estate/collector"
	"github.com/estatehq/estate/internal/config"
)

// DefaultMaxSeries is the default bound on series, written once.
const DefaultMaxSeries = 2000

// DefaultSinkName is the consumer's cursor name in the queue.
const DefaultSinkName = "red"

// Config is what an operator sets of the rollups (the `collector.red`
// group of the collector's configuration).
type Config struct {
	// MaxSeries bounds the (service, route, status class, version)
	// series; spans beyond it go to the overflow series. Each version of a
	// service counts apart, so a deployment's new version brings its own.
	MaxSeries int `yaml:"max_series"`
}

// RegisterFlags sets the defaults and binds the flags, named prefix +
// "max-series".
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.IntVar(&c.MaxSeries, prefix+"max-series", DefaultMaxSeries, "span-derived RED rollups: most (service, route, status class, version) series, each version of a service counting apart; spans beyond go to the "+collector.REDOverflow+" series")
}

// Validate names every field at fault, by its key in this group.
func (c *Config) Validate() error {
	return config.Positive("max_series", c.MaxSeries)
}

// FromSpan reduces a span of the resource res to an observation, of the
// resource's service.name and service.version ("" when it has none); ok
// is false for spans that are not server or consumer spans (they would
// count requests twice).
func FromSpan(res pcommon.Resource, span ptrace.Span) (collector.REDObservation, bool) {
	if k := span.Kind(); k != ptrace.SpanKindServer && k != ptrace.SpanKindConsumer {
		return collector.REDObservation{}, false
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
	return collector.REDObservation{
		TraceID:  collector.TraceIDString(span.TraceID()),
		SpanID:   collector.SpanIDString(span.SpanID()),
		Key:      collector.REDKey{Service: collector.ServiceName(res), Route: route, StatusClass: class, Version: serviceVersion(res)},
		Minute:   end.UTC().Truncate(time.Minute),
		End:      end.UTC(),
		Duration: max(0, end.Sub(start)),
		Error:    isErr,
	}, true
}

// serviceVersion is the service.version of a resource, or "".
func serviceVersion(res pcommon.Resource) string {
	if v, ok := res.Attributes().Get("service.version"); ok {
		return v.AsString()
	}
	return ""
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

// Options are what a Consumer is built from.
type Options struct {
	Config
	// Store keeps the rollups; required.
	Store collector.REDStore
	// SinkName is the consumer's cursor name; DefaultSinkName when empty.
	SinkName   string
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Consumer reads traces from the queue into RED rollups. It implements
// collector.Sink.
type Consumer struct {
	opts        Options
	mu          sync.Mutex
	known       map[collector.REDKey]bool
	warned      bool
	requests    *prometheus.CounterVec
	errors      *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	overflow    prometheus.Counter
	undecodable prometheus.Counter
}

var _ collector.Sink = (*Consumer)(nil)

// New returns a consumer whose series are registered with opts.Registerer.
func New(opts Options) (*Consumer, error) {
	if opts.Store == nil {
		return nil, errors.New("red: Options.Store is required")
	}
	if opts.MaxSeries <= 0 {
		opts.MaxSeries = DefaultMaxSeries
	}
	if opts.SinkName == "" {
		opts.SinkName = DefaultSinkName
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	labels := []string{"service", "route", "status_class", "version"}
	c := &Consumer{
		opts:  opts,
		known: map[collector.REDKey]bool{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "estate_red_requests_total", Help: "Server spans received, by service, route, status class and version."}, labels),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "estate_red_errors_total", Help: "Server spans that failed (5xx or error status); present from a series' first request, so error ratios read 0, not no data."}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "estate_red_request_duration_seconds",
			Help:    "Duration of server spans.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, labels),
		overflow: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "estate_red_overflow_spans_total", Help: "Server spans counted in the overflow series because max_series was reached."}),
		undecodable: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "estate_red_undecodable_records_total", Help: "Queue records the RED consumer could not decode and skipped."}),
	}
	series := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "estate_red_series", Help: "RED series in use."}, func() float64 {
		c.mu.Lock()
		defer c.mu.Unlock()
		return float64(len(c.known))
	})
	for _, m := range []prometheus.Collector{c.requests, c.errors, c.duration, c.overflow, c.undecodable, series} {
		if err := opts.Registerer.Register(m); err != nil {
			return nil, fmt.Errorf("registering RED series: %w", err)
		}
	}
	return c, nil
}

// Name implements collector.Sink.
func (c *Consumer) Name() string { return c.opts.SinkName }

// Deliver implements collector.Sink: it reduces the server spans of the
// batch's traces to observations and adds them to the store, then counts
// for Prometheus those the store had not seen. Other signals are skipped;
// an undecodable record is logged, counted and skipped.
func (c *Consumer) Deliver(ctx context.Context, items []collector.Item) error {
	var obs []collector.REDObservation
	for _, it := range items {
		if it.Signal != collector.SignalTraces {
			continue
		}
		td, err := it.Traces()
		if err != nil {
			c.undecodable.Inc()
			c.opts.Logger.Error("skipping undecodable queue record", "seq", it.Seq, "err", err)
			continue
		}
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					if o, ok := FromSpan(rs.Resource(), sp); ok {
						o.Key = c.Admit(o.Key)
						obs = append(obs, o)
					}
				}
			}
		}
	}
	if len(obs) == 0 {
		return nil
	}
	added, err := c.opts.Store.AddRED(ctx, obs)
	if err != nil {
		return fmt.Errorf("storing RED rollups: %w", err)
	}
	for i, o := range obs {
		if added[i] {
			c.observe(o)
		}
	}
	return nil
}

// Admit maps a key to itself, or to the overflow series once MaxSeries
// other keys are known.
func (c *Consumer) Admit(k collector.REDKey) collector.REDKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.known[k] {
		return k
	}
	if len(c.known) < c.opts.MaxSeries {
		c.known[k] = true
		return k
	}
	if !c.warned {
		c.warned = true
		c.opts.Logger.Warn("RED series bound reached; further series go to the overflow series",
			"max_series", c.opts.MaxSeries, "first_overflow_service", k.Service, "first_overflow_route", k.Route, "first_overflow_version", k.Version)
	}
	return collector.REDKey{Service: collector.REDOverflow, Route: collector.REDOverflow, StatusClass: k.StatusClass, Version: collector.REDOverflow}
}

// observe counts one observation whose key went through Admit. The error
// counter of a series is touched on every request, so it exists at 0.
func (c *Consumer) observe(o collector.REDObservation) {
	l := prometheus.Labels{"service": o.Key.Service, "route": o.Key.Route, "status_class": o.Key.StatusClass, "version": o.Key.Version}
	if o.Key.Service == collector.REDOverflow {
		c.overflow.Inc()
	}
	c.requests.With(l).Inc()
	errs := c.errors.With(l)
	if o.Error {
		errs.Inc()
	}
	c.duration.With(l).Observe(o.Duration.Seconds())
}
