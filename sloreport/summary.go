package sloreport

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// fact is one thing said of a service, and the colour it calls for.
type fact struct {
	rag  RAG
	text string
}

// judge decides a service's colour by th, and says why: the facts that
// decide the colour first, then the others.
func judge(s ServiceReport, th Thresholds) (RAG, string) {
	f := &s.Figures
	var facts []fact
	colour := func(v float64, red, amber func(float64) bool) RAG {
		switch {
		case red(v):
			return Red
		case amber(v):
			return Amber
		}
		return Green
	}
	above := func(t float64) func(float64) bool { return func(v float64) bool { return v > t } }

	if f.Deployments.Value != nil {
		d := *f.Deployments.Value
		if d == 0 {
			facts = append(facts, fact{Green, "no deployments"})
		} else {
			rr := f.RollbackRate
			facts = append(facts, fact{colour(*rr.Value, above(th.RollbackRed), above(th.RollbackAmber)),
				fmt.Sprintf("%s of %s %s rolled back", FormatCount(*rr.Numerator), FormatCount(d), noun("deployments", d))})
			cfr := f.ChangeFailureRate
			if c := colour(*cfr.Value, above(th.ChangeFailureRed), above(th.ChangeFailureAmber)); c != Green {
				facts = append(facts, fact{c, fmt.Sprintf("%s of %s %s failed", FormatCount(*cfr.Numerator), FormatCount(d), noun("changes", d))})
			}
		}
	}
	if budget, name, ok := lowestBudget(s.SLOs); ok {
		text := "budget " + FormatPercent(budget) + " left"
		if budget <= 0 {
			text = "budget exhausted (" + FormatPercent(budget) + " left)"
		}
		if len(s.SLOs) > 1 {
			text += " of " + name
		}
		facts = append(facts, fact{colour(budget, func(v float64) bool { return v <= th.BudgetRed }, func(v float64) bool { return v < th.BudgetAmber }), text})
	}
	if f.Incidents.Value != nil {
		n := *f.Incidents.Value
		switch {
		case n == 0:
			facts = append(facts, fact{Green, "no incidents"})
		case n == 1:
			facts = append(facts, fact{Green, "1 incident"})
		default:
			facts = append(facts, fact{Green, FormatCount(n) + " incidents"})
		}
	}
	if m := f.MTTRMean.Value; m != nil {
		d := time.Duration(*m * float64(time.Second))
		facts = append(facts, fact{colour(float64(d), above(float64(th.MTTRRed)), above(float64(th.MTTRAmber))), "MTTR " + FormatSeconds(*m)})
	}
	if len(facts) == 0 {
		return NoStatus, "no deployments, incidents or SLO events in the period"
	}
	worst := Green
	for _, x := range facts {
		if x.rag.rank() > worst.rank() {
			worst = x.rag
		}
	}
	slices.SortStableFunc(facts, func(a, b fact) int { return b.rag.rank() - a.rag.rank() })
	texts := make([]string, len(facts))
	for i, x := range facts {
		texts[i] = x.text
	}
	return worst, strings.Join(texts, "; ")
}

// lowestBudget is the smallest share of a period's budget left among the
// SLOs with events, and that SLO's label.
func lowestBudget(slos []SLOReport) (float64, string, bool) {
	var (
		best float64
		name string
		ok   bool
	)
	for _, s := range slos {
		if v := s.BudgetRemaining.Value; v != nil && (!ok || *v < best) {
			best, name, ok = *v, s.Label(), true
		}
	}
	return best, name, ok
}

// overallStatus is the worst colour of the services, and how many have
// each.
func overallStatus(services []ServiceReport) (RAG, string) {
	counts := map[RAG]int{}
	worst := NoStatus
	for _, s := range services {
		counts[s.Status]++
		if s.Status.rank() > worst.rank() {
			worst = s.Status
		}
	}
	if len(services) == 0 {
		return NoStatus, "no deployments, incidents or SLO events in the period"
	}
	var parts []string
	for _, r := range []RAG{Red, Amber, Green, NoStatus} {
		if n := counts[r]; n > 0 {
			word := string(r)
			if r == NoStatus {
				word = "with no data"
			}
			parts = append(parts, fmt.Sprintf("%d %s", n, word))
		}
	}
	noun := "services"
	if len(services) == 1 {
		noun = "service"
	}
	return worst, fmt.Sprintf("%s of %d %s", strings.Join(parts, ", "), len(services), noun)
}

// summary is the executive summary: a line per service, the worst first.
func summary(services []ServiceReport) []SummaryLine {
	out := make([]SummaryLine, 0, len(services))
	for _, s := range services {
		out = append(out, SummaryLine{Service: s.Service, Environment: s.Environment, Status: s.Status, Reason: s.Reason})
	}
	slices.SortStableFunc(out, func(a, b SummaryLine) int {
		return cmp.Or(b.Status.rank()-a.Status.rank(), strings.Compare(a.Service, b.Service), strings.Compare(a.Environment, b.Environment))
	})
	return out
}
