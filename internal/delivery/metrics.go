package delivery

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Telemetry is what a component reports through and reads the time from:
// the dependencies every exporter's Options carry.
type Telemetry struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Defaults returns t with what is unset defaulted: a logger that discards,
// a registry of the component's own, time.Now.
func (t Telemetry) Defaults() Telemetry {
	if t.Logger == nil {
		t.Logger = slog.New(slog.DiscardHandler)
	}
	if t.Registerer == nil {
		t.Registerer = prometheus.NewRegistry()
	}
	if t.Now == nil {
		t.Now = time.Now
	}
	return t
}

// Metrics are the series every exporter keeps: what it delivered by
// outcome, its requests by status code, their duration, and its retries.
type Metrics struct {
	Items    *prometheus.CounterVec
	Requests *prometheus.CounterVec
	Duration prometheus.Histogram
	Retries  prometheus.Counter
}

// MetricsOpts name an exporter's series estate_<Subsystem>_<name>. The names
// are published (docs, dashboards and tests read them), so an exporter
// that named a series otherwise keeps its name by setting it here; the
// empty fields take the defaults shown.
type MetricsOpts struct {
	Subsystem string
	// ItemsName counts what is delivered (spans_total...) by ItemLabels;
	// Preset lists label values whose series exist from the start, at zero.
	ItemsName, ItemsHelp string
	ItemLabels           []string
	Preset               [][]string
	// RequestsName counts requests by "code": requests_total.
	RequestsName, RequestsHelp string
	// DurationName is the histogram of request durations:
	// request_duration_seconds, buckets from 1 ms doubling 14 times.
	DurationName, DurationHelp string
	Buckets                    []float64
	// RetriesName counts requests sent again: retries_total.
	RetriesName, RetriesHelp string
	// Extra are the exporter's own series, registered with the others.
	Extra []prometheus.Collector
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// namespace starts every series' name.
const namespace = "estate"

// Counter makes a counter estate_<subsystem>_<name>, for an exporter's own
// series beside the shared ones (MetricsOpts.Extra).
func Counter(subsystem, name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Subsystem: subsystem, Name: name, Help: help})
}

// CounterVec makes a counter estate_<subsystem>_<name> with labels.
func CounterVec(subsystem, name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: subsystem, Name: name, Help: help}, labels)
}

// Gauge makes a gauge estate_<subsystem>_<name>.
func Gauge(subsystem, name, help string) prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Subsystem: subsystem, Name: name, Help: help})
}

// NewMetrics makes the series and registers them with reg.
func NewMetrics(reg prometheus.Registerer, o MetricsOpts) (*Metrics, error) {
	if o.Buckets == nil {
		o.Buckets = prometheus.ExponentialBuckets(0.001, 2, 14)
	}
	m := &Metrics{
		Items: CounterVec(o.Subsystem, o.ItemsName, o.ItemsHelp, o.ItemLabels...),
		Requests: CounterVec(o.Subsystem, orDefault(o.RequestsName, "requests_total"),
			orDefault(o.RequestsHelp, "Export requests by status code."), "code"),
		Duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: o.Subsystem, Name: orDefault(o.DurationName, "request_duration_seconds"),
			Help: orDefault(o.DurationHelp, "Duration of export requests."), Buckets: o.Buckets,
		}),
		Retries: Counter(o.Subsystem, orDefault(o.RetriesName, "retries_total"),
			orDefault(o.RetriesHelp, "Export requests sent again after a retryable error.")),
	}
	for _, c := range append([]prometheus.Collector{m.Items, m.Requests, m.Duration, m.Retries}, o.Extra...) {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering %s metrics: %w", o.Subsystem, err)
		}
	}
	for _, values := range o.Preset {
		m.Items.WithLabelValues(values...)
	}
	return m, nil
}

// Observe records one request: its duration since start, and its status
// code (a gRPC code name, an HTTP status, "error" when no answer came).
func (m *Metrics) Observe(start time.Time, code string) {
	m.Duration.Observe(time.Since(start).Seconds())
	m.Requests.WithLabelValues(code).Inc()
}

// Accepted counts a delivered batch of n items, of which the other side
// rejected some in a partial success (which is never retried): Items with
// labels and then the outcome "accepted", and "rejected".
func (m *Metrics) Accepted(n, rejected int64, labels ...string) {
	rejected = min(max(rejected, 0), n) // a server's count is not trusted to panic a counter
	m.Items.WithLabelValues(append(labels, "accepted")...).Add(float64(n - rejected))
	m.Items.WithLabelValues(append(labels, "rejected")...).Add(float64(rejected))
}
