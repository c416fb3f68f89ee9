// Package redact scrubs personal data and secrets from telemetry before the
// collector queues it: email addresses, payment card numbers, IBANs,
// Authorization and cookie header values, JSON Web Tokens, the services'
// personal fields, and whatever more an operator configures. A Redactor
// mutates OTLP data (pdata) in place and counts what it replaced by rule
// and signal (estate_collector_redacted_total), never what the values
// were.
//
// Rules are of two kinds. Key rules replace the whole value of an
// attribute (or of a key in a log body that is a map) whose key they name:
// http.request.header.authorization, estate.business.billing_email. Value
// rules find what they redact inside any string: a log body, an attribute
// value, an element of an array; each starts with a test that rules out
// nearly every string at once (no '@', fewer than 13 digits), so a batch
// without personal data costs a walk over its strings.
//
// Redacting is idempotent: nothing within a marker is redacted again, so
// data redacted twice, by two collectors in a row, reads as data redacted
// once, keyed hashes included.
package redact

import (
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/estatehq/estate/collector"
)

// Options are what a Redactor is built from.
type Options struct {
	Config Config
	// Registerer receives estate_collector_redacted_total; nil registers
	// nowhere.
	Registerer prometheus.Registerer
}

// Redactor scrubs telemetry by the rules of its configuration. It is safe
// for concurrent use.
type Redactor struct {
	// rs is nil when redaction is off.
	rs *ruleset
	// markers are the rules' markers by id, when they carry no hash.
	markers []string
	// minLen is the shortest string a value rule can find anything in.
	minLen int
	// metrics: some rule applies to metric attributes.
	metrics  bool
	counters map[collector.Signal][]prometheus.Counter
	passes   sync.Pool
}

// Counts are the values redacted in one call, by rule name; nil when none.
type Counts map[string]int

// Total is the number of values redacted.
func (c Counts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// New compiles the configuration; its errors are those of Validate.
func New(opts Options) (*Redactor, error) {
	r := &Redactor{}
	if !opts.Config.Enabled {
		return r, nil
	}
	rs, err := compile(&opts.Config)
	if err != nil {
		return nil, err
	}
	r.rs = rs
	r.minLen = 6 // "a@b.cd", "eyJ.x."
	if len(opts.Config.Patterns) > 0 {
		r.minLen = 1
	}
	if !rs.tpl.hashed() {
		for _, name := range rs.names {
			r.markers = append(r.markers, rs.tpl.fill(name, ""))
		}
	}
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "estate_collector_redacted_total",
		Help: "Values redacted from telemetry before it was queued, by rule and signal (dropped: attributes removed).",
	}, []string{"rule", "signal"})
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(vec)
	}
	r.counters = map[collector.Signal][]prometheus.Counter{}
	for _, sig := range []collector.Signal{collector.SignalLogs, collector.SignalTraces, collector.SignalMetrics} {
		cs := make([]prometheus.Counter, len(rs.names))
		for id, name := range rs.names {
			if sig != collector.SignalMetrics || rs.forMetrics(id) {
				cs[id] = vec.WithLabelValues(name, sig.String())
			}
		}
		r.counters[sig] = cs
	}
	for id := range rs.names {
		r.metrics = r.metrics || rs.forMetrics(id)
	}
	r.passes.New = func() any {
		p := &pass{r: r, counts: make([]int, len(rs.names))}
		p.attrFn, p.keepFn = p.attr, func(k string, v pcommon.Value) bool { p.attr(k, v); return true }
		return p
	}
	return r, nil
}

// Logs redacts the resources, scopes, attributes and bodies of every log
// record.
func (r *Redactor) Logs(ld plog.Logs) Counts {
	p := r.pass(false)
	if p == nil {
		return nil
	}
	rls := ld.ResourceLogs()
	for i := range rls.Len() {
		rl := rls.At(i)
		p.attrs(rl.Resource().Attributes())
		sls := rl.ScopeLogs()
		for j := range sls.Len() {
			sl := sls.At(j)
			p.attrs(sl.Scope().Attributes())
			lrs := sl.LogRecords()
			for k := range lrs.Len() {
				lr := lrs.At(k)
				p.attrs(lr.Attributes())
				p.value(lr.Body())
			}
		}
	}
	return p.done(collector.SignalLogs)
}

// Traces redacts the resources, scopes, names, status messages and
// attributes of every span, and the attributes of its events and links.
func (r *Redactor) Traces(td ptrace.Traces) Counts {
	p := r.pass(false)
	if p == nil {
		return nil
	}
	rss := td.ResourceSpans()
	for i := range rss.Len() {
		rs := rss.At(i)
		p.attrs(rs.Resource().Attributes())
		sss := rs.ScopeSpans()
		for j := range sss.Len() {
			ss := sss.At(j)
			p.attrs(ss.Scope().Attributes())
			spans := ss.Spans()
			for k := range spans.Len() {
				p.span(spans.At(k))
			}
		}
	}
	return p.done(collector.SignalTraces)
}

func (p *pass) span(s ptrace.Span) {
	if v, ok := p.str(s.Name()); ok {
		s.SetName(v)
	}
	if v, ok := p.str(s.Status().Message()); ok {
		s.Status().SetMessage(v)
	}
	p.attrs(s.Attributes())
	events := s.Events()
	for i := range events.Len() {
		p.attrs(events.At(i).Attributes())
	}
	links := s.Links()
	for i := range links.Len() {
		p.attrs(links.At(i).Attributes())
	}
}

// Metrics leaves values, names and units alone and redacts the resource,
// scope and data point attributes by the rules that apply to metrics: the
// Authorization and cookie headers and JSON Web Tokens, which are cheap to
// find and have no business in a label.
func (r *Redactor) Metrics(md pmetric.Metrics) Counts {
	if r == nil || !r.metrics {
		return nil
	}
	p := r.pass(true)
	rms := md.ResourceMetrics()
	for i := range rms.Len() {
		rm := rms.At(i)
		p.attrs(rm.Resource().Attributes())
		sms := rm.ScopeMetrics()
		for j := range sms.Len() {
			sm := sms.At(j)
			p.attrs(sm.Scope().Attributes())
			ms := sm.Metrics()
			for k := range ms.Len() {
				p.metric(ms.At(k))
			}
		}
	}
	return p.done(collector.SignalMetrics)
}

func (p *pass) metric(m pmetric.Metric) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		dps := m.Gauge().DataPoints()
		for i := range dps.Len() {
			p.attrs(dps.At(i).Attributes())
		}
	case pmetric.MetricTypeSum:
		dps := m.Sum().DataPoints()
		for i := range dps.Len() {
			p.attrs(dps.At(i).Attributes())
		}
	case pmetric.MetricTypeHistogram:
		dps := m.Histogram().DataPoints()
		for i := range dps.Len() {
			p.attrs(dps.At(i).Attributes())
		}
	case pmetric.MetricTypeExponentialHistogram:
		dps := m.ExponentialHistogram().DataPoints()
		for i := range dps.Len() {
			p.attrs(dps.At(i).Attributes())
		}
	case pmetric.MetricTypeSummary:
		dps := m.Summary().DataPoints()
		for i := range dps.Len() {
			p.attrs(dps.At(i).Attributes())
		}
	}
}

// pass is the state of one call: the counts, and buffers reused across
// calls through the Redactor's pool.
type pass struct {
	r *Redactor
	// metrics restricts the pass to the rules that apply to metrics.
	metrics bool
	counts  []int
	spans   []span
	// attrFn and keepFn are p.attr bound once, for Map.RemoveIf and
	// Map.Range, so walking a map allocates nothing.
	attrFn func(string, pcommon.Value) bool
	keepFn func(string, pcommon.Value) bool
}

func (r *Redactor) pass(metrics bool) *pass {
	if r == nil || r.rs == nil {
		return nil
	}
	p, _ := r.passes.Get().(*pass) // the pool holds nothing else
	p.metrics = metrics
	return p
}

// done counts what the pass redacted and returns it to the pool.
func (p *pass) done(sig collector.Signal) Counts {
	var c Counts
	for id, n := range p.counts {
		if n == 0 {
			continue
		}
		if c == nil {
			c = Counts{}
		}
		c[p.r.rs.names[id]] += n
		if ctr := p.r.counters[sig][id]; ctr != nil {
			ctr.Add(float64(n))
		}
		p.counts[id] = 0
	}
	p.r.passes.Put(p)
	return c
}

func (p *pass) attrs(m pcommon.Map) {
	if m.Len() == 0 {
		return
	}
	if p.r.rs.dropped >= 0 && !p.metrics {
		m.RemoveIf(p.attrFn)
		return
	}
	m.Range(p.keepFn)
}

// attr redacts one attribute (or one key of a map value) and reports
// whether to drop it.
func (p *pass) attr(k string, v pcommon.Value) bool {
	rs := p.r.rs
	if id, ok := rs.lookup(k); ok {
		switch {
		case id == rs.dropped:
			if !p.metrics {
				p.counts[id]++
				return true
			}
		case !p.metrics || rs.forMetrics(id):
			p.whole(id, v)
			return false
		}
	}
	p.value(v)
	return false
}

// whole replaces a value by the marker of key rule id: each element of an
// array, anything else (a string, a number, a map, bytes) whole.
func (p *pass) whole(id int, v pcommon.Value) {
	switch v.Type() {
	case pcommon.ValueTypeEmpty:
	case pcommon.ValueTypeSlice:
		sl := v.Slice()
		for i := range sl.Len() {
			p.whole(id, sl.At(i))
		}
	case pcommon.ValueTypeStr:
		s := v.Str()
		if s == "" || p.r.rs.inMarker(s, span{0, len(s)}) {
			return
		}
		v.SetStr(p.marker(id, s))
		p.counts[id]++
	default:
		v.SetStr(p.marker(id, v.AsString()))
		p.counts[id]++
	}
}

// value redacts what the value rules find in a value: a string, or the
// strings of a map (whose keys may name key rules) or an array.
func (p *pass) value(v pcommon.Value) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		if s, ok := p.str(v.Str()); ok {
			v.SetStr(s)
		}
	case pcommon.ValueTypeMap:
		p.attrs(v.Map())
	case pcommon.ValueTypeSlice:
		sl := v.Slice()
		for i := range sl.Len() {
			p.value(sl.At(i))
		}
	}
}

// maxRounds bounds how often the rules run over one string. A second
// round runs only when the first replaced something, in case a
// replacement let another rule find what it did not before; one more is
// for configured patterns that reach across a marker.
const maxRounds = 3

// str returns s with what the value rules find replaced, and whether
// anything was.
func (p *pass) str(s string) (string, bool) {
	if len(s) < p.r.minLen {
		return s, false
	}
	changed := false
	for range maxRounds {
		again := false
		prof := profileOf(s)
		for i := range p.r.rs.values {
			vr := &p.r.rs.values[i]
			if prof&vr.need != vr.need || (p.metrics && !vr.metrics) {
				continue
			}
			if p.spans = vr.find(s, p.spans[:0]); len(p.spans) == 0 {
				continue
			}
			if out, n := p.replace(s, vr.id, p.spans); n > 0 {
				s, again = out, true
				p.counts[vr.id] += n
			}
		}
		if !again {
			break
		}
		changed = true
	}
	return s, changed
}

// replace puts the markers of rule id in place of spans, leaving what is
// already within a marker as it is, and says how many it replaced.
func (p *pass) replace(s string, id int, spans []span) (string, int) {
	var b strings.Builder
	last, n := 0, 0
	for _, sp := range spans {
		if p.r.rs.inMarker(s, sp) {
			continue
		}
		v := s[sp.start:sp.end]
		if n == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[last:sp.start])
		b.WriteString(p.marker(id, v))
		last = sp.end
		n++
	}
	if n == 0 {
		return s, 0
	}
	b.WriteString(s[last:])
	return b.String(), n
}

func (p *pass) marker(id int, value string) string {
	if p.r.markers != nil {
		return p.r.markers[id]
	}
	return p.r.rs.tpl.render(p.r.rs.names[id], value)
}
