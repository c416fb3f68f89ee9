package sloreport

import (
	"fmt"
	"hash/fnv"
	"strings"
	"time"
)

// view is a report laid out for people: sections of tables, which the
// text, Markdown and HTML formats each write in their own way. Every cell
// is written by the Format functions, so the three show the same words.
type view struct {
	Title string
	Meta  []string
	// Summary is the executive summary.
	Summary table
	// Sections are the overall figures, then each service's.
	Sections []section
	// Analyses, Incidents and Chaos are the period's post-deploy
	// analyses, incidents and chaos experiments.
	Analyses, Incidents, Chaos table
	Notes                      []string
}

// section is the figures of one scope.
type section struct {
	ID, Title string
	Status    RAG
	Reason    string
	// Scope is the report's scope, which the HTML format draws charts
	// of.
	Scope   *ServiceReport
	Figures table
	SLOs    table
	// BurnDown shows, per SLO, the budget left at the end of each day.
	BurnDown table
	Trend    table
	Daily    table
}

// table is a table of cells; Empty is said instead when it has no row.
type table struct {
	Caption string
	Header  []string
	Rows    [][]cell
	Empty   string
}

// cell is a table's cell. Link, when set, is where its text leads; RAG,
// when set, colours it; Anchor, when set, is the id a link to the cell
// names (#Anchor).
type cell struct {
	Text   string
	Link   string
	RAG    RAG
	Anchor string
}

func texts(ss ...string) []cell {
	out := make([]cell, len(ss))
	for i, s := range ss {
		out[i] = cell{Text: s}
	}
	return out
}

// newView lays r out.
func newView(r *Report) view {
	v := view{Title: r.Title}
	v.Meta = append(v.Meta,
		fmt.Sprintf("Period: %s to %s, compared with %s to %s.", FormatTime(r.From), FormatTime(r.To), FormatTime(r.PreviousFrom), FormatTime(r.From)),
		"Generated "+FormatTime(r.GeneratedAt)+".")
	chaos := "Incidents caused by chaos experiments are left out of incidents, downtime, MTTR and MTBF, and counted apart."
	if r.IncludeChaos {
		chaos = "Incidents caused by chaos experiments are counted in incidents, downtime, MTTR and MTBF."
	}
	v.Meta = append(v.Meta, chaos)

	v.Summary = table{Header: []string{"Service", "Status", "Why"}, Empty: "No services."}
	v.Summary.Rows = append(v.Summary.Rows, []cell{{Text: ScopeName("", "")}, {Text: statusText(r.Overall.Status), RAG: r.Overall.Status}, {Text: r.Overall.Reason}})
	for _, l := range r.Summary {
		v.Summary.Rows = append(v.Summary.Rows, []cell{
			{Text: ScopeName(l.Service, l.Environment), Link: "#" + sectionID(l.Service, l.Environment)},
			{Text: statusText(l.Status), RAG: l.Status}, {Text: l.Reason},
		})
	}
	v.Sections = append(v.Sections, newSection(&r.Overall))
	for i := range r.Services {
		v.Sections = append(v.Sections, newSection(&r.Services[i]))
	}

	v.Analyses = table{Caption: "Analyses", Header: []string{"Verdict", "Deployment", "Service", "Version", "Decided", "Reason", "Rollback"}, Empty: "No post-deploy analysis decided in this period."}
	for _, a := range r.Analyses {
		v.Analyses.Rows = append(v.Analyses.Rows, []cell{
			{Text: a.Verdict, RAG: verdictRAG[a.Verdict]}, {Text: a.DeploymentID, Anchor: AnalysisID(a.DeploymentID)},
			{Text: ScopeName(a.Service, a.Environment)}, {Text: a.Version}, {Text: FormatTime(a.DecidedAt)}, {Text: a.Reason},
			{Text: FormatRollback(a)},
		})
	}
	v.Incidents = table{Caption: "Incidents", Header: []string{"Incident", "Service", "Severity", "Start", "Duration", "Cause", "Review"}, Empty: "No incidents in the period."}
	for _, e := range r.Incidents {
		review := cell{Text: "-"}
		if e.ReviewURL != "" {
			review = cell{Text: "timeline", Link: e.ReviewURL}
		}
		v.Incidents.Rows = append(v.Incidents.Rows, []cell{
			{Text: e.ID}, {Text: ScopeName(e.Service, e.Environment)}, {Text: e.Severity}, {Text: FormatTime(e.StartedAt)},
			{Text: FormatIncidentDuration(e)}, {Text: FormatCause(e.Cause)}, review,
		})
	}
	v.Chaos = table{Caption: "Chaos experiments", Header: []string{"Experiment", "Kind", "Target", "Start", "Finish", "Verdict", "Incidents"}, Empty: "No chaos experiments in the period."}
	for _, x := range r.Chaos {
		incs := "none"
		if len(x.Incidents) > 0 {
			incs = strings.Join(x.Incidents, ", ")
		}
		v.Chaos.Rows = append(v.Chaos.Rows, texts(x.ID, x.Kind, x.Target, FormatOptTime(x.StartedAt), FormatOptTime(x.FinishedAt), x.Verdict, incs))
	}
	v.Notes = notes(r)
	return v
}

func statusText(r RAG) string {
	if r == NoStatus {
		return NoDataText
	}
	return strings.ToUpper(string(r))
}

// verdictRAG colours an analysis' verdict.
var verdictRAG = map[string]RAG{"passed": Green, "failed": Red, "inconclusive": Amber}

// analysesID is the anchor of the Analyses section, which the rollback
// and change failure rates link to.
const analysesID = "analyses"

// sectionID is the anchor of a scope's section.
func sectionID(service, environment string) string {
	if service == "" && environment == "" {
		return "overall"
	}
	id := "service-" + service
	if environment != "" {
		id += "-" + environment
	}
	var b strings.Builder
	for _, c := range strings.ToLower(id) {
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' {
			b.WriteRune(c)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

// AnalysisID is the anchor of a deployment's row in the Analyses
// section: "analysis-" and the deployment id, its letters, digits, dashes,
// dots and underscores kept and any other character made a dash. When a
// character was replaced, a hash of the id follows, so that two ids
// ("v1 2" and "v1/2") keep two anchors. It is safe in HTML, in a URL's
// fragment and in Markdown as it is.
func AnalysisID(deploymentID string) string {
	var b strings.Builder
	b.WriteString("analysis-")
	changed := false
	for _, c := range deploymentID {
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' {
			b.WriteRune(c)
		} else {
			b.WriteByte('-')
			changed = true
		}
	}
	if changed {
		h := fnv.New32a()
		_, _ = h.Write([]byte(deploymentID))
		fmt.Fprintf(&b, "-%08x", h.Sum32())
	}
	return b.String()
}

func newSection(s *ServiceReport) section {
	sec := section{ID: sectionID(s.Service, s.Environment), Title: ScopeName(s.Service, s.Environment), Status: s.Status, Reason: s.Reason, Scope: s}
	sec.Figures = table{Header: []string{"Figure", "This period", "Previous", "Change"}}
	for _, f := range s.Figures.Named() {
		row := texts(f.Label, FormatMeasure(f.Figure.Measure), formatPrevious(*f.Figure), FormatChange(*f.Figure))
		if linksToAnalyses[f.Key] {
			row[0].Link = "#" + analysesID
		}
		sec.Figures.Rows = append(sec.Figures.Rows, row)
	}

	if sec.ID != "overall" {
		sec.SLOs = table{Caption: "SLOs", Header: []string{"SLO", "Objective", "Attainment", "Budget left", "Change", "Own window"}, Empty: "No SLOs."}
	}
	for _, o := range s.SLOs {
		own := fmt.Sprintf("%s: %s attained, %s of budget left, %s", o.Own.Window, FormatOptPercent(o.Own.Attainment), FormatOptPercent(o.Own.BudgetRemaining), strings.ReplaceAll(string(o.Own.State), "_", " "))
		sec.SLOs.Rows = append(sec.SLOs.Rows, texts(o.Label(), FormatPercent(o.Objective), FormatMeasure(o.Attainment.Measure),
			FormatMeasure(o.BudgetRemaining.Measure), FormatChange(o.BudgetRemaining), own))
	}
	if len(s.SLOs) > 0 {
		sec.BurnDown = burnDownTable(s.SLOs)
	}

	sec.Trend = table{Caption: "Trend", Header: []string{"Period", "MTTR mean", "MTBF", "Rollback rate"}}
	for _, p := range s.Trend {
		sec.Trend.Rows = append(sec.Trend.Rows, texts(p.Label(), FormatMeasure(p.MTTRMean), FormatMeasure(p.MTBF), FormatMeasure(p.RollbackRate)))
	}
	sec.Daily = table{Caption: "Deployments and rollbacks per day", Header: []string{"Day", "Deployments", "Rollbacks"}, Empty: "No data."}
	for _, d := range s.Daily {
		sec.Daily.Rows = append(sec.Daily.Rows, texts(FormatDay(d.From), FormatCount(float64(d.Deployments)), FormatCount(float64(d.Rollbacks))))
	}
	return sec
}

// linksToAnalyses are the figures whose label links to the Analyses
// section: the analyses are what decided or missed their rollbacks.
var linksToAnalyses = map[string]bool{"rollback_rate": true, "rollbacks_decided_automatically": true, "change_failure_rate": true}

// burnDownTable shows each SLO's budget left at the end of each day of
// the period: the points of its burn-down that fall on a day's end.
func burnDownTable(slos []SLOReport) table {
	t := table{Caption: "Error budget left at the end of each day", Header: []string{"SLO"}}
	var days []time.Time
	for _, p := range slos[0].BurnDown[1:] {
		if p.At.Sub(slos[0].BurnDown[0].At)%(24*time.Hour) == 0 || p.At.Equal(slos[0].BurnDown[len(slos[0].BurnDown)-1].At) {
			days = append(days, p.At)
			t.Header = append(t.Header, FormatDay(p.At.Add(-time.Millisecond)))
		}
	}
	for _, o := range slos {
		row := texts(o.Label())
		for _, d := range days {
			for _, p := range o.BurnDown {
				if p.At.Equal(d) {
					row = append(row, cell{Text: FormatOptPercent(p.BudgetRemaining)})
				}
			}
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

func formatPrevious(f Figure) string {
	if f.Previous == nil {
		return NoDataText
	}
	return formatUnit(f.Unit, *f.Previous)
}

// notes define the figures in a few words; docs/report.md has the rest.
func notes(r *Report) []string {
	th := r.Thresholds
	return []string{
		"Deployments: production deployments that succeeded in the period. Rollback rate: the share of them rolled back before the period's end. Change failure rate: the share rolled back or named as an incident's cause.",
		"Rollbacks decided automatically: the share of the rollback rate's rollbacks that followed a post-deploy analysis' recommendation to roll back. Analyses: every post-deploy analysis decided in the period, with its verdict.",
		"Lead time: nearest-rank percentiles of success time minus commit time over the commits deployed. MTTR: over the incidents resolved in the period. MTBF: the period's time without an open incident, per incident.",
		"SLO attainment and budget: the SLO's events in the period; budget left is the share of the bad events the period allows (1 - objective of its events) not yet spent. Own window: the SLO's own window at the period's end.",
		fmt.Sprintf("Status: red when an SLO has %s of its budget left or less, the rollback rate is above %s, the change failure rate above %s, or MTTR above %s; amber when budget is below %s, rollback rate above %s, change failure rate above %s, or MTTR above %s.",
			FormatPercent(th.BudgetRed), FormatPercent(th.RollbackRed), FormatPercent(th.ChangeFailureRed), FormatSeconds(th.MTTRRed.Seconds()),
			FormatPercent(th.BudgetAmber), FormatPercent(th.RollbackAmber), FormatPercent(th.ChangeFailureAmber), FormatSeconds(th.MTTRAmber.Seconds())),
		"No data: the period holds no event to compute the figure from; it is never shown as 0.",
	}
}
