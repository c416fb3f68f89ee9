package walqueue

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	appendedRecords prometheus.Counter
	appendedBytes   prometheus.Counter
	refused         prometheus.Counter
	dropped         prometheus.Counter
	quarantined     prometheus.Counter
	quarantinedB    prometheus.Counter
	truncatedBytes  prometheus.Counter
	deletedSegments prometheus.Counter
	fsync           prometheus.Histogram
	batchRecords    prometheus.Histogram
}

func newMetrics(q *Queue, reg prometheus.Registerer) *metrics {
	m := &metrics{
		appendedRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "estate_collector_queue_appended_records_total", Help: "Records appended to the queue."}),
		appendedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "estate_collector_queue_appended_bytes_total", Help: "Bytes appended to the queue, framing included."}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "estate_collector_queue_full_refusals_total", Help: "Appends refused because the queue was at its byte bound."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "estate_collector_queue_dropped_records_total", Help: "Records deleted unread by when_full: drop_oldest."}),
		quarantined: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "estate_collector_queue_quarantined_records_total", Help: "Corrupt records moved to the quarantine folder."}),
		quarantinedB: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "estate_collector_queue_quarantined_bytes_total", Help: "Bytes moved to the quarantine folder."}),
		truncatedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "estate_collector_queue_truncated_bytes_total", Help: "Bytes of torn records cut from the tail at recovery."}),
		deletedSegments: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "estate_collector_queue_deleted_segments_total", Help: "Segments deleted once every consumer had passed them."}),
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "estate_collector_queue_fsync_duration_seconds",
			Help:    "Latency of the queue's fsync calls.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		batchRecords: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "estate_collector_queue_group_commit_records",
			Help:    "Records written by one group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
	}
	reg.MustRegister(m.appendedRecords, m.appendedBytes, m.refused, m.dropped, m.quarantined,
		m.quarantinedB, m.truncatedBytes, m.deletedSegments, m.fsync, m.batchRecords,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "estate_collector_queue_bytes", Help: "Bytes held by the queue on disk and waiting to be written."},
			func() float64 { return float64(q.Bytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "estate_collector_queue_max_bytes", Help: "The queue's byte bound."},
			func() float64 { return float64(q.opts.MaxBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "estate_collector_queue_segments", Help: "Segment files on disk."},
			func() float64 { return float64(q.Segments()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "estate_collector_queue_oldest_record_age_seconds", Help: "Age of the oldest record some consumer has not committed; 0 when all caught up."},
			func() float64 { return q.OldestAge().Seconds() }),
		&lagCollector{q: q, desc: prometheus.NewDesc("estate_collector_queue_records",
			"Records a consumer has not committed yet.", []string{"consumer"}, nil)},
	)
	return m
}

type lagCollector struct {
	q    *Queue
	desc *prometheus.Desc
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	for name, lag := range c.q.Lag() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(lag), name)
	}
}
