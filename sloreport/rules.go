package sloreport

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"gopkg.in/yaml.v3"
)

// The names of the generated series and alerts.
const (
	// ErrorRatioRecord prefixes the recorded SLI error ratio of each burn
	// window: estate_slo:sli_error:ratio_rate5m and so on.
	ErrorRatioRecord = "estate_slo:sli_error:ratio_rate"
	// EventsRecord prefixes the recorded count of events of each burn
	// window (the low-traffic guard's): estate_slo:sli_events:increase5m.
	EventsRecord = "estate_slo:sli_events:increase"
	// BurnAlertName is the alert of every burn condition; its labels
	// severity, long_window and short_window say which.
	BurnAlertName = "SLOErrorBudgetBurn"
	// AbsentAlertName is the alert of an SLO whose events are not there.
	AbsentAlertName = "SLOEventsAbsent"
	// StepIncreaseRecord is the exact increase of an SLI's counters over
	// the step before each evaluation (Step), labelled with their selector;
	// absent when it cannot be exact.
	StepIncreaseRecord = "estate_slo:sli_counter:exact_increase5m"
	// StepSumRecord is the sum of the same counters at each evaluation:
	// the next step's start, which checks that the step saw every sample.
	StepSumRecord = "estate_slo:sli_counter:sum"
)

// Step is the evaluation interval of the counts group of every SLO and the
// range of StepIncreaseRecord: one sample covers the step since the one
// before, so that the steps of a window add up to its count.
const Step = 5 * time.Minute

// SelectorLabel labels the recorded counts with the counters' selector, so
// that an SLO whose indicator changes never reads its old counts.
const SelectorLabel = "selector"

// DefaultRunbookURL is the runbook of an SLO whose metadata.annotations
// name none (runbook_url).
const DefaultRunbookURL = "https://github.com/estatehq/estate/blob/main/docs/slo.md#when-an-slo-alert-fires"

// DefaultAbsentFor is how long an SLO's events must be missing before its
// absent-data alert fires.
const DefaultAbsentFor = 10 * time.Minute

// RuleOptions shape the generated rules.
type RuleOptions struct {
	// MinEvents is the low-traffic guard of every burn alert: both of its
	// windows must hold at least this many events.
	MinEvents float64
	// RunbookURL is the runbook_url of the alerts of an SLO whose
	// annotations have none; empty is DefaultRunbookURL.
	RunbookURL string
	// AbsentFor is the for of the absent-data alert; 0 is
	// DefaultAbsentFor.
	AbsentFor time.Duration
}

// Generate returns the Prometheus rules of slos, two groups per SLO. The
// first, slo-NAME: the recorded error ratio and event count over every
// burn window, the four multi-window, multi-burn-rate alerts of BurnAlerts
// with the low-traffic guard in each, and an alert for absent data. The
// second, slo-NAME:counts, evaluated every Step: the exact increase and the
// sum of each of its two counters (CountsGroup), from which an Evaluator
// counts long windows without reading every raw sample. The groups are
// what a rules file holds (WriteRules) and what Prometheus's rules manager
// loads.
func Generate(slos []SLO, o RuleOptions) (rulefmt.RuleGroups, error) {
	if o.MinEvents < 0 {
		return rulefmt.RuleGroups{}, fmt.Errorf("generating rules: min events must not be negative, not %v", o.MinEvents)
	}
	if o.RunbookURL == "" {
		o.RunbookURL = DefaultRunbookURL
	}
	if o.AbsentFor == 0 {
		o.AbsentFor = DefaultAbsentFor
	}
	out := rulefmt.RuleGroups{Groups: []rulefmt.RuleGroup{}}
	for _, s := range slos {
		out.Groups = append(out.Groups, group(s, o), CountsGroup(s))
	}
	return out, nil
}

// labelsOf are the labels of every series and alert generated for s: its
// own, slo and service, then extra's pairs.
func labelsOf(s SLO, extra ...string) map[string]string {
	m := maps.Clone(s.Labels)
	if m == nil {
		m = map[string]string{}
	}
	m["slo"], m["service"] = s.Name, s.Service
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

// CountsGroup is the group, evaluated every Step, that records for each of
// s's two counter selectors (Total, and Good or Bad) the exact increase of
// the step before each evaluation, (t - Step, t], and the counters' sum at
// t. Exact means what the Evaluator counts from raw samples: per series,
// the last sample before the step subtracted from its last in it, which
// holds when no series in the step reset, none lacks a sample in the Step
// before it (a series born, or back from a gap), and none ends it with a
// staleness marker; otherwise neither is recorded, and the Evaluator
// counts that step from raw samples.
func CountsGroup(s SLO) rulefmt.RuleGroup {
	g := rulefmt.RuleGroup{Name: "slo-" + s.Name + ":counts", Interval: model.Duration(Step)}
	part := s.Indicator.Good
	if part == "" {
		part = s.Indicator.Bad
	}
	for _, sel := range []string{s.Indicator.Total, part} {
		increase, sum := stepExprs(sel)
		g.Rules = append(g.Rules,
			rulefmt.Rule{Record: StepIncreaseRecord, Expr: increase, Labels: labelsOf(s, SelectorLabel, sel)},
			rulefmt.Rule{Record: StepSumRecord, Expr: sum, Labels: labelsOf(s, SelectorLabel, sel)},
		)
	}
	return g
}

// stepExprs are the expressions of the step's increase and sum of the
// counters sel selects: absent, both, when a series of the step reset
// (within it, or from the sample before it), has a sample in it and none
// in the Step before, or ends it stale.
func stepExprs(sel string) (increase, sum string) {
	st := FormatDuration(Step)
	unexact := fmt.Sprintf(`unless on ()
(
    count(resets(%[1]s[%[2]s]) > 0)
  or
    count(min_over_time(%[1]s[%[2]s]) < %[1]s offset %[2]s)
  or
    count(last_over_time(%[1]s[%[2]s]) unless %[1]s offset %[2]s)
  or
    count(last_over_time(%[1]s[%[2]s]) unless %[1]s)
)`, sel, st)
	return fmt.Sprintf("sum(%[1]s - %[1]s offset %[2]s)\n%[3]s", sel, st, unexact),
		fmt.Sprintf("sum(%s)\n%s", sel, unexact)
}

func group(s SLO, o RuleOptions) rulefmt.RuleGroup {
	with := func(extra ...string) map[string]string { return labelsOf(s, extra...) }
	in := s.Indicator
	g := rulefmt.RuleGroup{Name: "slo-" + s.Name}
	for _, w := range BurnWindows() {
		r := FormatDuration(w)
		var ratio string
		if in.Bad != "" {
			ratio = fmt.Sprintf("sum(rate(%s[%s]))\n/\nsum(rate(%s[%s]))", in.Bad, r, in.Total, r)
		} else {
			ratio = fmt.Sprintf("1 - (\n  sum(rate(%s[%s]))\n  /\n  sum(rate(%s[%s]))\n)", in.Good, r, in.Total, r)
		}
		g.Rules = append(g.Rules,
			rulefmt.Rule{Record: ErrorRatioRecord + r, Expr: ratio, Labels: with()},
			rulefmt.Rule{Record: EventsRecord + r, Expr: fmt.Sprintf("sum(increase(%s[%s]))", in.Total, r), Labels: with()},
		)
	}
	sel := fmt.Sprintf("{slo=%s, service=%s}", strconv.Quote(s.Name), strconv.Quote(s.Service))
	budget := fmtFloat(s.Budget())
	runbook := o.RunbookURL
	if u := s.Annotations["runbook_url"]; u != "" {
		runbook = u
	}
	objective := fmt.Sprintf("%s%% of events good over a %s window", fmtFloat(s.Objective*100), s.Window)
	for _, a := range BurnAlerts() {
		long, short := FormatDuration(a.Long), FormatDuration(a.Short)
		th := fmtFloat(a.Threshold)
		expr := fmt.Sprintf(
			"%[1]s%[2]s%[3]s / %[4]s > %[5]s\nand\n%[1]s%[6]s%[3]s / %[4]s > %[5]s\nand\n%[7]s%[2]s%[3]s >= %[8]s\nand\n%[7]s%[6]s%[3]s >= %[8]s",
			ErrorRatioRecord, long, sel, budget, th, short, EventsRecord, fmtFloat(o.MinEvents))
		g.Rules = append(g.Rules, rulefmt.Rule{
			Alert:  BurnAlertName,
			Expr:   expr,
			For:    model.Duration(a.For),
			Labels: with("severity", string(a.Severity), "long_window", long, "short_window", short),
			Annotations: map[string]string{
				"summary": fmt.Sprintf("%s: the error budget burns {{ printf \"%%.1f\" $value }} times too fast", s.Name),
				"description": fmt.Sprintf("The SLO %s of %s (%s) spent its error budget at {{ printf \"%%.1f\" $value }} times the sustainable rate over the last %s, and above %s times over the last %s too: at %s times, the budget of the window is gone in %s.",
					s.Name, s.Service, objective, long, th, short, th, exhaustion(s, a.Threshold)),
				"runbook_url": runbook,
			},
		})
	}
	g.Rules = append(g.Rules, rulefmt.Rule{
		Alert: AbsentAlertName,
		Expr:  fmt.Sprintf("absent(%s)", in.Total),
		For:   model.Duration(o.AbsentFor),
		// Missing data is a fault of the measuring, not an outage of the
		// service: the collector's incident intake leaves it out.
		Labels: with("severity", string(Ticket), "estate_incident", "false"),
		Annotations: map[string]string{
			"summary":     fmt.Sprintf("%s: no events to measure", s.Name),
			"description": fmt.Sprintf("The SLO %s of %s (%s) has had no series of its events (%s) for %s: its budget and burn rates cannot be computed, and its burn alerts cannot fire.", s.Name, s.Service, objective, in.Total, FormatDuration(o.AbsentFor)),
			"runbook_url": runbook,
		},
	})
	return g
}

// exhaustion is how long a whole budget lasts at burn rate b, in the
// largest whole unit.
func exhaustion(s SLO, b float64) string {
	d := time.Duration(float64(s.Window.Period(s.Window.Anchor)) / b).Round(time.Minute)
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%.1f days", d.Hours()/24)
	case m == 0:
		return fmt.Sprintf("%d hours", h)
	case h == 0:
		return fmt.Sprintf("%d minutes", m)
	}
	return fmt.Sprintf("%d hours %d minutes", h, m)
}

// RuleFile is the rules file of slos: Generate, then WriteRules.
func RuleFile(slos []SLO, o RuleOptions) ([]byte, error) {
	groups, err := Generate(slos, o)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := WriteRules(&b, groups); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// WriteRules writes groups as a Prometheus rules file.
func WriteRules(w io.Writer, groups rulefmt.RuleGroups) error {
	var b bytes.Buffer
	b.WriteString("# Generated by `estate slo rules` from the SLO definitions: edit those, not this.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(groups); err != nil {
		return fmt.Errorf("encoding rules: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encoding rules: %w", err)
	}
	_, err := w.Write(b.Bytes())
	return err
}
