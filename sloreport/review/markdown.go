package review

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// toFill marks what the team writes: the estate records, people judge.
const toFill = "_To be filled by the team._"

// WriteMarkdown writes a blameless postmortem draft on the template of
// Google's SRE book (appendix D): summary, impact, root causes and
// trigger, detection, resolution, action items, lessons learned, timeline
// and supporting information. What the estate recorded is filled in;
// what only people know is left for them, with the candidate causes
// listed for them to confirm or rule out.
func (f Findings) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	m := mdWriter{b: &b, f: f}
	m.header()
	m.summary()
	m.impact()
	m.causes()
	m.detection()
	m.resolution()
	m.rest()
	m.timeline()
	m.supporting()
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("writing postmortem: %w", err)
	}
	return nil
}

type mdWriter struct {
	b *strings.Builder
	f Findings
}

func (m mdWriter) printf(format string, args ...any) { fmt.Fprintf(m.b, format, args...) }

func (m mdWriter) header() {
	inc := m.f.Incident
	m.printf("# Postmortem: %s incident on %s in %s, %s\n\n", cell(inc.Severity), cell(inc.Service), cell(inc.Environment), inc.Start.UTC().Format(time.DateOnly))
	state := "resolved"
	if !inc.Resolved() {
		state = "still open at " + clock(m.f.At)
	}
	m.printf("- **Incident:** `%s` (%s)\n", inc.ID, state)
	m.printf("- **Date:** %s\n", inc.Start.UTC().Format(time.DateOnly))
	m.printf("- **Authors:** %s\n", toFill)
	m.printf("- **Status:** Draft, written by Estate from what it recorded; the team completes and reviews it.\n")
	m.printf("\nThis postmortem is blameless: it asks what in the system and the process let the incident happen and what will stop it happening again, never who is at fault.\n")
}

func (m mdWriter) summary() {
	f, inc := m.f, m.f.Incident
	m.printf("\n## Summary\n\n")
	if inc.Resolved() {
		m.printf("Service %s in %s had a %s incident from %s to %s (%s).", cell(inc.Service), cell(inc.Environment), cell(inc.Severity), clock(inc.Start), clock(inc.End), formatDuration(inc.Duration))
	} else {
		m.printf("Service %s in %s has had a %s incident since %s (%s so far).", cell(inc.Service), cell(inc.Environment), cell(inc.Severity), clock(inc.Start), formatDuration(inc.Duration))
	}
	m.printf(" Recorded cause: %s.", cell(inc.Cause()))
	if r := f.Requests; r != nil && r.During.Total > 0 {
		m.printf(" %s of %s requests failed during it.", count(r.During.Failed), count(r.During.Total))
	}
	for _, s := range f.SLOs {
		if s.BudgetSpent != nil {
			m.printf(" It burned %s of the error budget of SLO %s.", percent(*s.BudgetSpent), cell(s.Name))
		}
	}
	m.printf("\n")
}

func (m mdWriter) impact() {
	f, inc := m.f, m.f.Incident
	m.printf("\n## Impact\n\n")
	end := "still open"
	if inc.Resolved() {
		end = clock(inc.End)
	}
	m.printf("- **Duration:** %s, from %s to %s.\n", formatDuration(inc.Duration), clock(inc.Start), end)
	switch r := f.Requests; {
	case r == nil:
		m.printf("- **Requests failed:** not read (no metrics store).\n")
	case r.During.Total == 0:
		m.printf("- **Requests failed:** no request of %s was counted during the incident.\n", cell(inc.Service))
	default:
		m.printf("- **Requests failed:** %s.\n", describeCounts(r.During))
		if r.Peak != nil {
			m.printf("- **Peak error rate:** %s over %s, at %s.\n", percent(r.Peak.Ratio), formatDuration(peakWindow), clock(r.Peak.At))
		}
	}
	if len(f.SLOs) == 0 {
		m.printf("- **Error budget burned:** no SLO of %s was read.\n", cell(inc.Service))
	} else {
		m.printf("- **Error budget burned:**\n\n")
		m.printf("| SLO | Objective | Window | Bad events during the incident | Budget burned | Budget left at the end |\n")
		m.printf("| --- | --- | --- | --- | --- | --- |\n")
		for _, s := range f.SLOs {
			m.printf("| %s | %s | %s | %s of %s | %s | %s |\n", cell(s.Name), percent(s.Objective), cell(s.Window),
				count(s.During.Bad), count(s.During.Total), optPercent(s.BudgetSpent), optPercent(s.BudgetLeft))
		}
	}
	m.printf("\nWho was affected, and how: %s\n", toFill)
}

func (m mdWriter) causes() {
	f, inc := m.f, m.f.Incident
	m.printf("\n## Root causes and trigger\n\n%s\n\n", toFill)
	if len(f.Candidates) == 0 {
		m.printf("The estate recorded no candidate cause: no change to %s in %s in the %s before the start, and no chaos experiment on it during the incident.\n",
			cell(inc.Service), cell(inc.Environment), formatDuration(inc.Start.Sub(f.From)))
	} else {
		m.printf("Candidate causes the estate recorded, to confirm or rule out:\n\n")
		for i, c := range f.Candidates {
			m.printf("%d. %s\n", i+1, cell(c.Summary))
		}
	}
	m.printf("\n### Contributing factors\n\n%s\n", toFill)
}

func (m mdWriter) detection() {
	f, inc := m.f, m.f.Incident
	m.printf("\n## Detection\n\n")
	m.printf("- The incident was opened at %s by %s.\n", clock(inc.Start), cell(openedBy(inc)))
	for _, e := range f.Entries {
		if e.Kind == KindAlertPending || e.Kind == KindAlertFiring {
			m.printf("- %s: %s.\n", clock(e.Time), cell(e.Summary))
		}
	}
	m.printf("- How soon it was noticed, and how it could be noticed sooner: %s\n", toFill)
}

func (m mdWriter) resolution() {
	f, inc := m.f, m.f.Incident
	m.printf("\n## Resolution\n\n")
	if inc.Resolved() {
		m.printf("- Resolved at %s, %s after the start.\n", clock(inc.End), formatDuration(inc.Duration))
	} else {
		m.printf("- Not resolved at %s.\n", clock(f.At))
	}
	for _, e := range f.Entries {
		switch e.Kind {
		case KindDeploymentStarted, KindDeploymentSucceeded, KindDeploymentFailed, KindDeploymentRolledBack, KindChaosStarted, KindChaosFinished:
			if e.Time.After(inc.Start) && !e.Time.After(f.To) {
				m.printf("- During the incident, at %s: %s.\n", clock(e.Time), cell(e.Summary))
			}
		}
	}
	if r := f.Requests; r != nil && r.After != nil && r.After.Total > 0 {
		m.printf("- In the %s after the end: %s.\n", formatDuration(r.After.To.Sub(r.After.From)), describeCounts(*r.After))
	}
	m.printf("- What mitigated it and what resolved it: %s\n", toFill)
}

func (m mdWriter) rest() {
	m.printf("\n## Action items\n\n")
	m.printf("| Action item | Type | Owner | Bug |\n| --- | --- | --- | --- |\n")
	for _, kind := range []string{"mitigate", "prevent", "process"} {
		m.printf("| %s | %s | | |\n", toFill, kind)
	}
	m.printf("\n## Lessons learned\n")
	for _, h := range []string{"What went well", "What went wrong", "Where we got lucky"} {
		m.printf("\n### %s\n\n%s\n", h, toFill)
	}
}

func (m mdWriter) timeline() {
	f := m.f
	m.printf("\n## Timeline\n\n")
	m.printf("All times UTC. Changes to %s in %s from %s; alerts and error rates from the metrics store around the incident.\n\n",
		cell(f.Incident.Service), cell(f.Incident.Environment), clock(f.From))
	m.printf("| Time | What happened | Source |\n| --- | --- | --- |\n")
	for _, e := range f.Entries {
		source := "event `" + e.Source.EventID + "`"
		if e.Source.EventID == "" {
			source = "query `" + e.Source.Query + "`"
		}
		m.printf("| %s | %s | %s |\n", clock(e.Time), cell(e.Summary), cell(source))
	}
}

func (m mdWriter) supporting() {
	f := m.f
	m.printf("\n## Supporting information\n\n")
	m.printf("- Written by Estate at %s from the event store", clock(f.At))
	if f.Requests != nil {
		m.printf(" and the metrics store")
	}
	m.printf(".\n")
	for _, n := range f.Notes {
		m.printf("- %s\n", cell(n))
	}
	m.printf("- Dashboards, logs and traces: %s\n", toFill)
}

// clock writes a time for people: "2026-11-03 10:00:00 UTC".
func clock(t time.Time) string { return t.UTC().Format(time.DateTime) + " UTC" }

// cell makes text safe in a Markdown table cell and in running text: a
// pipe would end the cell, a new line the row, and angle brackets would
// read as HTML.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}
