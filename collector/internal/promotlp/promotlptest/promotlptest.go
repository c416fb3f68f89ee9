// Package promotlptest holds the OTLP metrics the tests of every path that
// translates them send: the embedded store's and remote_write's.
package promotlptest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/estatehq/estate/collector"
)

// Samples is how many samples Metrics translates to: the gauge 1, the
// counter 1, the histogram 5 (three buckets, sum, count), target_info 1.
const Samples = 8

// Metrics is one OTLP request of service invoicing (instance i-1, in
// deployment.environment test) at ts: a gauge queue.depth of 3×scale, a
// cumulative counter invoices.sent of 10×scale with attribute
// currency=EUR, a histogram http.server.request.duration in seconds with
// bounds 0.1 and 0.5 and counts 2, 1, 1 (sum 1.5); and a delta sum
// delta.things, which Prometheus does not take.
func Metrics(ts time.Time, scale float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "invoicing")
	rm.Resource().Attributes().PutStr("service.instance.id", "i-1")
	rm.Resource().Attributes().PutStr("deployment.environment", "test")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	at := pcommon.NewTimestampFromTime(ts)
	start := pcommon.NewTimestampFromTime(ts.Add(-time.Hour))

	g := ms.AppendEmpty()
	g.SetName("queue.depth")
	p := g.SetEmptyGauge().DataPoints().AppendEmpty()
	p.SetTimestamp(at)
	p.SetDoubleValue(3 * scale)

	c := ms.AppendEmpty()
	c.SetName("invoices.sent")
	sum := c.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	p = sum.DataPoints().AppendEmpty()
	p.SetStartTimestamp(start)
	p.SetTimestamp(at)
	p.SetIntValue(int64(10 * scale))
	p.Attributes().PutStr("currency", "EUR")

	h := ms.AppendEmpty()
	h.SetName("http.server.request.duration")
	h.SetUnit("s")
	hist := h.SetEmptyHistogram()
	hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hp := hist.DataPoints().AppendEmpty()
	hp.SetStartTimestamp(start)
	hp.SetTimestamp(at)
	hp.ExplicitBounds().FromRaw([]float64{0.1, 0.5})
	hp.BucketCounts().FromRaw([]uint64{2, 1, 1})
	hp.SetCount(4)
	hp.SetSum(1.5)

	d := ms.AppendEmpty()
	d.SetName("delta.things")
	ds := d.SetEmptySum()
	ds.SetIsMonotonic(true)
	ds.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	p = ds.DataPoints().AppendEmpty()
	p.SetTimestamp(at)
	p.SetIntValue(1)
	return md
}

// WithInstance is md with its service.instance.id set to id.
func WithInstance(md pmetric.Metrics, id string) pmetric.Metrics {
	md.ResourceMetrics().At(0).Resource().Attributes().PutStr("service.instance.id", id)
	return md
}

// Item is md as the collector's queue hands it to a sink.
func Item(t testing.TB, seq uint64, md pmetric.Metrics) collector.Item {
	t.Helper()
	b, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	require.NoError(t, err)
	return collector.Item{Seq: seq, Time: time.Now(), Signal: collector.SignalMetrics, Payload: b}
}
