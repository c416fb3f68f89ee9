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
)

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

// Generate returns the Prometheus rules of slos, one group per SLO: the
// recorded error ratio and event count over every burn window, the four
// multi-window, multi-burn-rate alerts of BurnAlerts with the low-traffic
// guard in each, and an alert for absent data. The groups are what a
// rules file holds (WriteRules) and what Prometheus's rules manager loads.
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
		out.Groups = append(out.Groups, group(s, o))
	}
	return out, nil
}

func group(s SLO, o RuleOptions) rulefmt.RuleGroup {
	base := map[string]string{}
	maps.Copy(base, s.Labels)
	base["slo"], base["service"] = s.Name, s.Service
	with := func(extra ...string) map[string]string {
		m := maps.Clone(base)
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
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
