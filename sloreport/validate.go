package sloreport

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// APIVersion and Kind are the only document type read.
const (
	APIVersion = "openslo/v1"
	Kind       = "SLO"
)

// The bounds of a rolling window.
const (
	minRolling = 24 * time.Hour
	maxRolling = 90 * 24 * time.Hour
)

// calendarLayout is how OpenSLO writes a calendar window's start.
const calendarLayout = "2006-01-02 15:04:05"

// validator checks a decoded document and turns it into an SLO, naming
// the field of every problem.
type validator struct {
	*walker
}

func (v *validator) bad(field, format string, args ...any) {
	v.fail(field, v.line(field), format, args...)
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func (v *validator) document(d *document) SLO {
	if d.APIVersion != APIVersion {
		v.bad("apiVersion", "must be %s, not %q", APIVersion, d.APIVersion)
	}
	if d.Kind != Kind {
		v.bad("kind", "must be %s, not %q", Kind, d.Kind)
	}
	s := SLO{
		Name:        d.Metadata.Name,
		DisplayName: d.Metadata.DisplayName,
		Service:     d.Spec.Service,
		Description: d.Spec.Description,
		Labels:      d.Metadata.Labels,
		Annotations: d.Metadata.Annotations,
	}
	switch {
	case s.Name == "":
		v.bad("metadata.name", "is required")
	case len(s.Name) > 63 || !dnsLabel.MatchString(s.Name):
		v.bad("metadata.name", "must be at most 63 lowercase letters, digits and dashes, starting and ending with a letter or digit, not %q", s.Name)
	}
	for k := range s.Labels {
		if !isLabelName(k) || reservedLabel(k) {
			v.bad("metadata.labels."+k, "must be a Prometheus label name other than slo, service, severity, alertname, long_window, short_window and selector")
		}
	}
	if strings.TrimSpace(s.Service) == "" {
		v.bad("spec.service", "is required")
	}
	if len(s.Description) > 1050 {
		v.bad("spec.description", "must be at most 1050 characters, not %d", len(s.Description))
	}
	if d.Spec.BudgetingMethod != "Occurrences" {
		if d.Spec.BudgetingMethod == "" {
			v.bad("spec.budgetingMethod", "is required (Occurrences)")
		} else {
			v.bad("spec.budgetingMethod", "must be Occurrences, the only method supported, not %q", d.Spec.BudgetingMethod)
		}
	}
	s.Window = v.window(d.Spec.TimeWindow)
	threshold := v.indicator(&s, d.Spec)
	s.Objective = v.objective(d.Spec.Objectives, threshold, &s)
	return s
}

func reservedLabel(k string) bool {
	return slices.Contains([]string{"slo", "service", "severity", "alertname", "long_window", "short_window", SelectorLabel}, k)
}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// isLabelName says whether k is a label name of the classic character set,
// which every Prometheus accepts, and not a reserved one (__name__).
func isLabelName(k string) bool {
	return labelName.MatchString(k) && !strings.HasPrefix(k, "__")
}

// indicator reads the SLI into s and says whether it is a threshold SLI,
// whose objective then names the bucket.
func (v *validator) indicator(s *SLO, sp spec) (threshold bool) {
	if sp.IndicatorRef != nil {
		v.bad("spec.indicatorRef", "is not supported: write the indicator inline under spec.indicator")
		return false
	}
	if sp.Indicator == nil {
		v.bad("spec.indicator", "is required")
		return false
	}
	const base = "spec.indicator.spec"
	in := sp.Indicator.Spec
	switch {
	case in.RatioMetric != nil && in.ThresholdMetric != nil:
		v.bad(base, "must have one of ratioMetric and thresholdMetric, not both")
	case in.RatioMetric != nil:
		v.ratio(s, base+".ratioMetric", in.RatioMetric)
	case in.ThresholdMetric != nil:
		field := base + ".thresholdMetric"
		if vs := v.selector(field, in.ThresholdMetric); vs != nil {
			name := vs.Name
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				if strings.HasSuffix(name, suffix) {
					v.bad(field+".metricSource.spec.query", "must name the histogram without its %s suffix, such as %s", suffix, strings.TrimSuffix(name, suffix))
					return true
				}
			}
			if slices.ContainsFunc(vs.LabelMatchers, func(m *labels.Matcher) bool { return m.Name == "le" }) {
				v.bad(field+".metricSource.spec.query", "must not select le: the objective's value is the bucket")
				return true
			}
			s.Indicator.Latency = &Latency{Histogram: vs.String()}
		}
		return true
	default:
		v.bad(base, "must have ratioMetric or thresholdMetric")
	}
	return false
}

func (v *validator) ratio(s *SLO, field string, r *ratioMetric) {
	if r.Counter == nil || !*r.Counter {
		v.bad(field+".counter", "must be true: only ratios of counters are supported")
	}
	switch {
	case r.Good != nil && r.Bad != nil:
		v.bad(field, "must have one of good and bad, not both")
	case r.Good != nil:
		if vs := v.selector(field+".good", r.Good); vs != nil {
			s.Indicator.Good = vs.String()
		}
	case r.Bad != nil:
		if vs := v.selector(field+".bad", r.Bad); vs != nil {
			s.Indicator.Bad = vs.String()
		}
	default:
		v.bad(field, "must have good or bad")
	}
	if r.Total == nil {
		v.bad(field+".total", "is required")
	} else if vs := v.selector(field+".total", r.Total); vs != nil {
		s.Indicator.Total = vs.String()
	}
}

// selector reads a metric source's query: a selector of counters, or the
// sum of one. It returns nil after reporting a problem.
func (v *validator) selector(field string, h *metricHolder) *parser.VectorSelector {
	if h.MetricSource.Type != "Prometheus" {
		v.bad(field+".metricSource.type", "must be Prometheus, not %q", h.MetricSource.Type)
		return nil
	}
	field += ".metricSource.spec.query"
	q := h.MetricSource.Spec.Query
	if strings.TrimSpace(q) == "" {
		v.bad(field, "is required")
		return nil
	}
	vs, err := parseSelector(q)
	if err != nil {
		v.bad(field, "%v", err)
		return nil
	}
	return vs
}

var promqlParser = parser.NewParser(parser.Options{})

// parseSelector reads q: a vector selector with a metric name, possibly
// inside sum() or parentheses (the SLI sums every series anyway).
func parseSelector(q string) (*parser.VectorSelector, error) {
	expr, err := promqlParser.ParseExpr(q)
	if err != nil {
		return nil, fmt.Errorf("is not PromQL: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	for {
		switch e := expr.(type) {
		case *parser.ParenExpr:
			expr = e.Expr
			continue
		case *parser.AggregateExpr:
			if e.Op == parser.SUM && e.Param == nil && len(e.Grouping) == 0 && !e.Without {
				expr = e.Expr
				continue
			}
		}
		break
	}
	vs, ok := expr.(*parser.VectorSelector)
	if !ok {
		return nil, fmt.Errorf("must select counters, such as http_requests_total{code!~\"5..\"} or the sum of such a selector, not %q", q)
	}
	if vs.OriginalOffset != 0 || vs.Timestamp != nil || vs.StartOrEnd != 0 {
		return nil, fmt.Errorf("must not use offset or @, not %q", q)
	}
	if vs.Name == "" {
		return nil, fmt.Errorf("must name its metric, such as http_requests_total{...}, not %q", q)
	}
	return vs, nil
}

func (v *validator) window(ws []timeWindow) Window {
	const base = "spec.timeWindow"
	if len(ws) != 1 {
		v.bad(base, "must have exactly one window, not %d", len(ws))
		return Window{}
	}
	w, field := ws[0], base+"[0]"
	n, unit, ok := shorthand(w.Duration)
	if !ok {
		v.bad(field+".duration", "must be a number and a unit (d or w for a rolling window, such as 30d; 1w or 1M for a calendar window), not %q", w.Duration)
		return Window{}
	}
	rolling := w.IsRolling != nil && *w.IsRolling
	if rolling {
		if w.Calendar != nil {
			v.bad(field+".calendar", "must not be set for a rolling window")
		}
		var d time.Duration
		switch unit {
		case "d":
			d = time.Duration(n) * 24 * time.Hour
		case "w":
			d = time.Duration(n) * 7 * 24 * time.Hour
		default:
			v.bad(field+".duration", "must be in days or weeks (d, w) for a rolling window, not %q", w.Duration)
			return Window{}
		}
		if d < minRolling || d > maxRolling {
			v.bad(field+".duration", "must be from 1d to 90d, not %q", w.Duration)
			return Window{}
		}
		return Window{Kind: Rolling, Length: d}
	}
	if w.Calendar == nil {
		v.bad(field+".isRolling", "must be true, or calendar must be set")
		return Window{}
	}
	out := Window{Kind: Calendar}
	switch {
	case n == 1 && unit == "w":
		out.Unit = Week
	case n == 1 && unit == "M":
		out.Unit = Month
	default:
		v.bad(field+".duration", "must be 1w or 1M for a calendar window, not %q", w.Duration)
		return Window{}
	}
	loc := time.UTC
	if tz := w.Calendar.TimeZone; tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			v.bad(field+".calendar.timeZone", "must be a time zone of the IANA database, such as Europe/Paris, not %q", tz)
			return Window{}
		}
		loc = l
	}
	start, err := time.ParseInLocation(calendarLayout, w.Calendar.StartTime, loc)
	if err != nil {
		v.bad(field+".calendar.startTime", "must be a time such as 2026-01-01 00:00:00, not %q", w.Calendar.StartTime)
		return Window{}
	}
	if out.Unit == Month && start.Day() > 28 {
		v.bad(field+".calendar.startTime", "must be on day 1 to 28 of a month for a monthly window (every month has it), not day %d", start.Day())
		return Window{}
	}
	out.Anchor = start
	return out
}

var durationShorthand = regexp.MustCompile(`^([1-9][0-9]{0,3})([smhdwMQY])$`)

// shorthand reads OpenSLO's duration shorthand: 30d, 1w, 1M.
func shorthand(s string) (n int, unit string, ok bool) {
	m := durationShorthand.FindStringSubmatch(s)
	if m == nil {
		return 0, "", false
	}
	n, _ = strconv.Atoi(m[1])
	return n, m[2], true
}

// objective reads the one objective: its target, and for a threshold SLI
// the bucket boundary, which completes s's indicator.
func (v *validator) objective(objs []objective, threshold bool, s *SLO) float64 {
	const base = "spec.objectives"
	if len(objs) != 1 {
		v.bad(base, "must have exactly one objective (write one SLO per objective), not %d", len(objs))
		return 0
	}
	o, field := objs[0], base+"[0]"
	var target float64
	switch {
	case o.Target != nil && o.TargetPercent != nil:
		v.bad(field, "must have one of target and targetPercent, not both")
	case o.Target != nil:
		target = *o.Target
		if !(target > 0 && target < 1) {
			v.bad(field+".target", "must be between 0 and 1, not %s", fmtFloat(target))
		}
	case o.TargetPercent != nil:
		target = *o.TargetPercent / 100
		if !(target > 0 && target < 1) {
			v.bad(field+".targetPercent", "must be between 0 and 100, not %s", fmtFloat(*o.TargetPercent))
		}
	default:
		v.bad(field+".target", "is required")
	}
	if !threshold {
		if o.Op != "" {
			v.bad(field+".op", "is only for a thresholdMetric indicator")
		}
		if o.Value != nil {
			v.bad(field+".value", "is only for a thresholdMetric indicator")
		}
		return target
	}
	if o.Op != "lte" {
		v.bad(field+".op", "must be lte (an event is good when it is at most value: a histogram bucket), not %q", o.Op)
	}
	switch {
	case o.Value == nil:
		v.bad(field+".value", "is required: the histogram bucket boundary, such as 0.25")
	case !(*o.Value > 0) || math.IsInf(*o.Value, 0):
		v.bad(field+".value", "must be a positive bucket boundary, not %s", fmtFloat(*o.Value))
	case s.Indicator.Latency != nil:
		l := s.Indicator.Latency
		l.Threshold = *o.Value
		good, total, err := histogramSelectors(l.Histogram, l.Threshold)
		if err != nil {
			v.bad(field+".value", "%v", err)
			break
		}
		s.Indicator.Good, s.Indicator.Total = good, total
	}
	return target
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// histogramSelectors are the selectors of a histogram's bucket at le and of
// its count. The bucket's le label is matched in every form a Prometheus
// writes it: 0.25, and for a whole number both 1 and 1.0 (Prometheus 3
// normalises the label of classic buckets to the latter).
func histogramSelectors(histogram string, le float64) (good, total string, err error) {
	vs, err := parseSelector(histogram)
	if err != nil {
		return "", "", err
	}
	forms := []string{strconv.FormatFloat(le, 'f', -1, 64), strconv.FormatFloat(le, 'g', -1, 64)}
	if le == math.Trunc(le) && le < 1e15 {
		forms = append(forms, strconv.FormatFloat(le, 'f', 1, 64))
	}
	slices.Sort(forms)
	forms = slices.Compact(forms)
	for i, f := range forms {
		forms[i] = regexp.QuoteMeta(f)
	}
	bucketLE, err := labels.NewMatcher(labels.MatchRegexp, "le", strings.Join(forms, "|"))
	if err != nil {
		return "", "", fmt.Errorf("bucket boundary %s: %w", fmtFloat(le), err)
	}
	var rest []*labels.Matcher
	for _, m := range vs.LabelMatchers {
		if m.Name != model.MetricNameLabel {
			rest = append(rest, m)
		}
	}
	named := func(name string, extra ...*labels.Matcher) string {
		ms := append(slices.Clone(rest), extra...)
		ms = append(ms, labels.MustNewMatcher(labels.MatchEqual, model.MetricNameLabel, name))
		return (&parser.VectorSelector{Name: name, LabelMatchers: ms}).String()
	}
	return named(vs.Name+"_bucket", bucketLE), named(vs.Name + "_count"), nil
}
