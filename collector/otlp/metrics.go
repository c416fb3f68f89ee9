package otlp

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	requests *prometheus.CounterVec
	items    *prometheus.CounterVec
	bytes    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, l *Limiter) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "estate_collector_ingest_requests_total",
			Help: "OTLP requests by transport, signal and outcome (accepted, partial, invalid, refused_memory, refused_rate, refused_queue_full, too_large, error).",
		}, []string{"transport", "signal", "outcome"}),
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "estate_collector_ingest_items_total",
			Help: "Spans, log records and data points received, by outcome (accepted: queued; rejected: dropped as invalid and reported as partial success).",
		}, []string{"transport", "signal", "outcome"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "estate_collector_ingest_bytes_total",
			Help: "Bytes of OTLP protobuf queued.",
		}, []string{"transport", "signal"}),
	}
	reg.MustRegister(m.requests, m.items, m.bytes,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "estate_collector_memory_inflight_bytes", Help: "Bytes reserved by requests in flight (memory limiter)."},
			func() float64 { return float64(l.InFlight()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "estate_collector_memory_max_inflight_bytes", Help: "The memory limiter's bound."},
			func() float64 { return float64(l.max) }),
	)
	return m
}
