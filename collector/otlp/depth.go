package otlp

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// MaxValueDepth is how many levels of maps and slices an attribute value
// or a log body may nest. The queue's records are read back with pdata's
// protobuf decoder, which refuses messages nested more than 100 deep; a
// map level costs three of those (AnyValue, KeyValueList, KeyValue), so 33
// levels is the most every value can hold. A request nested deeper could
// be decoded from OTLP/JSON and queued, but never read again: it is
// refused before it is acknowledged.
const MaxValueDepth = 32

// errTooDeep is a value nested more than MaxValueDepth levels.
var errTooDeep = errors.New("value nested too deeply")

// valueDepth is how many levels of maps and slices v nests, counted no
// further than limit+1.
func valueDepth(v pcommon.Value, limit int) int {
	deepest := 0
	switch v.Type() {
	case pcommon.ValueTypeMap:
		for _, e := range v.Map().All() {
			if deepest = max(deepest, valueDepth(e, limit-1)); deepest > limit {
				break
			}
		}
	case pcommon.ValueTypeSlice:
		for _, e := range v.Slice().All() {
			if deepest = max(deepest, valueDepth(e, limit-1)); deepest > limit {
				break
			}
		}
	default:
		return 0
	}
	return deepest + 1
}

// depthChecker records the first value nested too deeply, by its path in
// the request.
type depthChecker struct{ err error }

func (c *depthChecker) value(path string, v pcommon.Value) {
	if c.err != nil {
		return
	}
	if d := valueDepth(v, MaxValueDepth); d > MaxValueDepth {
		c.err = fmt.Errorf("%w: %s nests maps or arrays more than %d levels deep", errTooDeep, path, MaxValueDepth)
	}
}

func (c *depthChecker) attributes(path string, m pcommon.Map) {
	for k, v := range m.All() {
		if c.err != nil {
			return
		}
		c.value(fmt.Sprintf("%s.attributes[%q]", path, k), v)
	}
}

// checkTracesDepth returns an errTooDeep naming the first attribute of td
// nested more than MaxValueDepth levels.
func checkTracesDepth(td ptrace.Traces) error {
	var c depthChecker
	for i, rs := range td.ResourceSpans().All() {
		c.attributes(fmt.Sprintf("resourceSpans[%d].resource", i), rs.Resource().Attributes())
		for j, ss := range rs.ScopeSpans().All() {
			scope := fmt.Sprintf("resourceSpans[%d].scopeSpans[%d]", i, j)
			c.attributes(scope+".scope", ss.Scope().Attributes())
			for k, s := range ss.Spans().All() {
				span := fmt.Sprintf("%s.spans[%d]", scope, k)
				c.attributes(span, s.Attributes())
				for e, ev := range s.Events().All() {
					c.attributes(fmt.Sprintf("%s.events[%d]", span, e), ev.Attributes())
				}
				for l, ln := range s.Links().All() {
					c.attributes(fmt.Sprintf("%s.links[%d]", span, l), ln.Attributes())
				}
				if c.err != nil {
					return c.err
				}
			}
		}
	}
	return c.err
}

// checkLogsDepth returns an errTooDeep naming the first attribute or body
// of ld nested more than MaxValueDepth levels.
func checkLogsDepth(ld plog.Logs) error {
	var c depthChecker
	for i, rl := range ld.ResourceLogs().All() {
		c.attributes(fmt.Sprintf("resourceLogs[%d].resource", i), rl.Resource().Attributes())
		for j, sl := range rl.ScopeLogs().All() {
			scope := fmt.Sprintf("resourceLogs[%d].scopeLogs[%d]", i, j)
			c.attributes(scope+".scope", sl.Scope().Attributes())
			for k, lr := range sl.LogRecords().All() {
				rec := fmt.Sprintf("%s.logRecords[%d]", scope, k)
				c.value(rec+".body", lr.Body())
				c.attributes(rec, lr.Attributes())
				if c.err != nil {
					return c.err
				}
			}
		}
	}
	return c.err
}

// checkMetricsDepth returns an errTooDeep naming the first attribute of md
// (of a resource, scope, metric's metadata, data point or exemplar) nested
// more than MaxValueDepth levels.
func checkMetricsDepth(md pmetric.Metrics) error {
	var c depthChecker
	for i, rm := range md.ResourceMetrics().All() {
		c.attributes(fmt.Sprintf("resourceMetrics[%d].resource", i), rm.Resource().Attributes())
		for j, sm := range rm.ScopeMetrics().All() {
			scope := fmt.Sprintf("resourceMetrics[%d].scopeMetrics[%d]", i, j)
			c.attributes(scope+".scope", sm.Scope().Attributes())
			for k, m := range sm.Metrics().All() {
				metric := fmt.Sprintf("%s.metrics[%d]", scope, k)
				for key, v := range m.Metadata().All() {
					c.value(fmt.Sprintf("%s.metadata[%q]", metric, key), v)
				}
				c.dataPoints(metric, m)
				if c.err != nil {
					return c.err
				}
			}
		}
	}
	return c.err
}

// pointAttributes is what every kind of data point has.
type pointAttributes interface {
	Attributes() pcommon.Map
	Exemplars() pmetric.ExemplarSlice
}

func (c *depthChecker) point(path string, p pointAttributes) {
	c.attributes(path, p.Attributes())
	for e, ex := range p.Exemplars().All() {
		c.attributes(fmt.Sprintf("%s.exemplars[%d].filtered", path, e), ex.FilteredAttributes())
	}
}

func (c *depthChecker) dataPoints(metric string, m pmetric.Metric) {
	at := func(kind string, i int) string { return fmt.Sprintf("%s.%s.dataPoints[%d]", metric, kind, i) }
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		for i, p := range m.Gauge().DataPoints().All() {
			c.point(at("gauge", i), p)
		}
	case pmetric.MetricTypeSum:
		for i, p := range m.Sum().DataPoints().All() {
			c.point(at("sum", i), p)
		}
	case pmetric.MetricTypeHistogram:
		for i, p := range m.Histogram().DataPoints().All() {
			c.point(at("histogram", i), p)
		}
	case pmetric.MetricTypeExponentialHistogram:
		for i, p := range m.ExponentialHistogram().DataPoints().All() {
			c.point(at("exponentialHistogram", i), p)
		}
	case pmetric.MetricTypeSummary:
		for i, p := range m.Summary().DataPoints().All() {
			c.attributes(at("summary", i), p.Attributes())
		}
	}
}
