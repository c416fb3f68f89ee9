package sloreport

import (
	"encoding/json"
	"time"
)

// Report is the weekly reliability report: what Compute computes and every
// format renders, number for number. Its JSON is the report's JSON format.
// A figure with no data is nil (JSON null, "no data" in words), never 0.
type Report struct {
	Title string `json:"title"`
	// Week is the ISO week the report covers; nil for any other period.
	Week *ISOWeek `json:"week"`
	// From and To are the period, [From, To); PreviousFrom starts the
	// period of the same length before it, which every change compares
	// with.
	From         time.Time `json:"from"`
	To           time.Time `json:"to"`
	PreviousFrom time.Time `json:"previous_from"`
	GeneratedAt  time.Time `json:"generated_at"`
	// IncludeChaos says whether incidents that chaos experiments caused
	// count in incidents, downtime, MTTR and MTBF.
	IncludeChaos bool       `json:"include_chaos"`
	Thresholds   Thresholds `json:"thresholds"`
	// Summary is the executive summary: one line per service, the worst
	// first.
	Summary []SummaryLine `json:"summary"`
	// Overall holds the figures of every service together (Service and
	// Environment empty): deployments of all, and the downtime while any
	// incident was open.
	Overall  ServiceReport   `json:"overall"`
	Services []ServiceReport `json:"services"`
	// Analyses are the post-deploy analyses decided in the period, by
	// decision time.
	Analyses []AnalysisEntry `json:"analyses"`
	// Incidents are those open at some time in the period, by start.
	Incidents []IncidentEntry `json:"incidents"`
	// Chaos are the chaos experiments that started or finished in the
	// period, by start.
	Chaos []Experiment `json:"chaos_experiments"`
}

// SummaryLine is one service's line of the executive summary.
type SummaryLine struct {
	Service     string `json:"service"`
	Environment string `json:"environment"`
	Status      RAG    `json:"status"`
	// Reason says why, in words: "2 of 9 deployments rolled back; budget
	// 31% left".
	Reason string `json:"reason"`
}

// ServiceReport holds the figures of one service in one environment, or
// of every service (Report.Overall).
type ServiceReport struct {
	Service     string  `json:"service"`
	Environment string  `json:"environment"`
	Status      RAG     `json:"status"`
	Reason      string  `json:"reason"`
	Figures     Figures `json:"figures"`
	// SLOs are the service's SLOs; none for Overall.
	SLOs []SLOReport `json:"slos"`
	// Trend is the figures of the 8 periods that end with the report's,
	// oldest first.
	Trend []TrendPoint `json:"trend"`
	// Daily counts deployments and rollbacks per day of the period; empty
	// when the period holds no event of the service, or is longer than
	// maxDays.
	Daily []Day `json:"daily"`
}

// Figures are the reliability figures of package metrics (docs/metrics.md
// defines each), each with its sample and its change.
type Figures struct {
	Deployments       Figure `json:"deployments"`
	FailedDeployments Figure `json:"failed_deployments"`
	RollbackRate      Figure `json:"rollback_rate"`
	// RollbacksDecidedAutomatically is the share of the rollback rate's
	// rollbacks that followed an analysis' recommendation.
	RollbacksDecidedAutomatically Figure `json:"rollbacks_decided_automatically"`
	ChangeFailureRate             Figure `json:"change_failure_rate"`
	DeploymentFrequency           Figure `json:"deployment_frequency_per_day"`
	LeadTimeP50                   Figure `json:"lead_time_p50_seconds"`
	LeadTimeP90                   Figure `json:"lead_time_p90_seconds"`
	Incidents                     Figure `json:"incidents"`
	ChaosIncidents                Figure `json:"chaos_incidents"`
	Downtime                      Figure `json:"downtime_seconds"`
	MTTRMean                      Figure `json:"mttr_mean_seconds"`
	MTTRMedian                    Figure `json:"mttr_median_seconds"`
	MTBF                          Figure `json:"mtbf_seconds"`
}

// Named lists the figures with their JSON names, in the order of the
// report's tables.
func (f *Figures) Named() []NamedFigure {
	return []NamedFigure{
		{"deployments", "Deployments", &f.Deployments},
		{"failed_deployments", "Failed deployments", &f.FailedDeployments},
		{"rollback_rate", "Rollback rate", &f.RollbackRate},
		{"rollbacks_decided_automatically", "Rollbacks decided automatically", &f.RollbacksDecidedAutomatically},
		{"change_failure_rate", "Change failure rate", &f.ChangeFailureRate},
		{"deployment_frequency_per_day", "Deployment frequency", &f.DeploymentFrequency},
		{"lead_time_p50_seconds", "Lead time p50", &f.LeadTimeP50},
		{"lead_time_p90_seconds", "Lead time p90", &f.LeadTimeP90},
		{"incidents", "Incidents", &f.Incidents},
		{"chaos_incidents", "Chaos incidents", &f.ChaosIncidents},
		{"downtime_seconds", "Downtime", &f.Downtime},
		{"mttr_mean_seconds", "MTTR mean", &f.MTTRMean},
		{"mttr_median_seconds", "MTTR median", &f.MTTRMedian},
		{"mtbf_seconds", "MTBF", &f.MTBF},
	}
}

// NamedFigure is a figure with its JSON key and its label.
type NamedFigure struct {
	Key, Label string
	Figure     *Figure
}

// Unit is what a value counts.
type Unit string

// The units.
const (
	Count   Unit = "count"
	Ratio   Unit = "ratio"
	Seconds Unit = "seconds"
	PerDay  Unit = "per_day"
)

// Measure is one number and what it rests on.
type Measure struct {
	// Value is nil (JSON null) when there is no data.
	Value *float64 `json:"value"`
	Unit  Unit     `json:"unit"`
	// Numerator and Denominator are a ratio's: 2 of 14 deployments. They
	// are set for ratios only, also when the value is nil (0 of 0).
	Numerator   *float64 `json:"numerator,omitempty"`
	Denominator *float64 `json:"denominator,omitempty"`
	// SampleSize is how many things the value rests on, and SampleOf what
	// they are: 14 deployments, 3 resolved incidents, 120 commits.
	SampleSize float64 `json:"sample_size"`
	SampleOf   string  `json:"sample_of"`
}

// Figure is a measure of the period with its change against the previous
// period.
type Figure struct {
	Measure
	// Previous is the previous period's value; nil when it has no data.
	Previous *float64 `json:"previous"`
	// Change is Value - Previous (for ratios, in fractions of 1: 0.05 is
	// 5 percentage points); nil when either is nil.
	Change *float64 `json:"change"`
	// Direction is up, down or flat; "" (JSON null) when Change is nil.
	Direction Direction `json:"direction"`
	// Assessment says whether the change is better or worse for this
	// figure; "" (JSON null) when Change is nil.
	Assessment Assessment `json:"assessment"`
}

// Direction is the way a figure moved.
type Direction string

// The directions.
const (
	Up   Direction = "up"
	Down Direction = "down"
	Flat Direction = "flat"
)

// MarshalJSON writes "" as null.
func (d Direction) MarshalJSON() ([]byte, error) { return nullString(string(d)) }

// Assessment is whether a change is good news.
type Assessment string

// The assessments.
const (
	Better Assessment = "better"
	Worse  Assessment = "worse"
	Same   Assessment = "same"
)

// MarshalJSON writes "" as null.
func (a Assessment) MarshalJSON() ([]byte, error) { return nullString(string(a)) }

func nullString(s string) ([]byte, error) {
	if s == "" {
		return []byte("null"), nil
	}
	return json.Marshal(s)
}

// TrendPoint is one period of the 8-period trend.
type TrendPoint struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Week is the period's ISO week, nil when it is not one.
	Week         *ISOWeek `json:"week"`
	MTTRMean     Measure  `json:"mttr_mean_seconds"`
	MTBF         Measure  `json:"mtbf_seconds"`
	RollbackRate Measure  `json:"rollback_rate"`
}

// Label names the point: its ISO week, or its first day.
func (p TrendPoint) Label() string {
	if p.Week != nil {
		return p.Week.String()
	}
	return p.From.UTC().Format("2006-01-02")
}

// Day is one day of the period (the last may be shorter).
type Day struct {
	From time.Time `json:"from"`
	// Deployments is the production deployments that succeeded that day.
	Deployments int `json:"deployments"`
	// Rollbacks is the production deployments rolled back that day.
	Rollbacks int `json:"rollbacks"`
}

// SLOReport is an SLO over the report's period, and over its own window at
// the period's end.
type SLOReport struct {
	Name        string  `json:"name"`
	DisplayName string  `json:"display_name,omitempty"`
	Service     string  `json:"service"`
	Environment string  `json:"environment,omitempty"`
	Objective   float64 `json:"objective"`
	// Events are the period's events.
	Events EventCounts `json:"events"`
	// Attainment is good / total events of the period.
	Attainment Figure `json:"attainment"`
	// BudgetRemaining is the share of the period's error budget left:
	// (allowed - bad) / allowed bad events, allowed being (1 - objective)
	// times the period's events; negative when overspent.
	BudgetRemaining Figure `json:"budget_remaining"`
	// Own is the SLO over its own window at the period's end.
	Own OwnWindow `json:"own_window"`
	// BurnDown is the period's budget as the period went by.
	BurnDown []BurnPoint `json:"burn_down"`
}

// Label is the SLO's display name, or its name.
func (s SLOReport) Label() string {
	if s.DisplayName != "" {
		return s.DisplayName
	}
	return s.Name
}

// EventCounts are counts of an SLO's events.
type EventCounts struct {
	Total float64 `json:"total"`
	Good  float64 `json:"good"`
	Bad   float64 `json:"bad"`
}

// OwnWindow is an SLO over its own window.
type OwnWindow struct {
	// Window is the window as its definition writes it: "30d rolling".
	Window string    `json:"window"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	// Attainment and BudgetRemaining are nil when the window holds no
	// event.
	Attainment      *float64 `json:"attainment"`
	BudgetRemaining *float64 `json:"budget_remaining"`
	State           State    `json:"state"`
}

// BurnPoint is a point of a budget's burn-down.
type BurnPoint struct {
	At time.Time `json:"at"`
	// BadEvents are those since the period started.
	BadEvents float64 `json:"bad_events"`
	// BudgetRemaining is nil when the period holds no event.
	BudgetRemaining *float64 `json:"budget_remaining"`
}

// IncidentEntry is one incident of the period.
type IncidentEntry struct {
	ID          string     `json:"id"`
	Service     string     `json:"service"`
	Environment string     `json:"environment"`
	Severity    string     `json:"severity"`
	StartedAt   time.Time  `json:"started_at"`
	ResolvedAt  *time.Time `json:"resolved_at"`
	// DurationSeconds is nil while the incident is open.
	DurationSeconds *float64 `json:"duration_seconds"`
	Cause           Cause    `json:"cause"`
	// ReviewURL is the incident's review: its timeline, and a postmortem
	// draft. Empty when the report was computed with no link.
	ReviewURL string `json:"review_url,omitempty"`
}

// AnalysisEntry is one deployment's post-deploy analysis: its verdict
// and what followed.
type AnalysisEntry struct {
	DeploymentID string `json:"deployment_id"`
	Service      string `json:"service"`
	Environment  string `json:"environment"`
	Version      string `json:"version"`
	// DeployedAt is when the deployment succeeded; nil when the log holds
	// no success.
	DeployedAt *time.Time `json:"deployed_at"`
	// DecidedAt is the time of the verdict: the earliest analysed event.
	DecidedAt time.Time `json:"decided_at"`
	// Verdict is passed, failed or inconclusive; Reason says why.
	Verdict string `json:"verdict"`
	Reason  string `json:"reason"`
	// RollbackRecommended is true when an analysis recommended undoing
	// the deployment.
	RollbackRecommended bool `json:"rollback_recommended"`
	// RolledBackAt is the earliest rollback's time; nil when none.
	RolledBackAt *time.Time `json:"rolled_back_at"`
	// RollbackDecidedAutomatically is true when the rollback followed the
	// recommendation (metrics.Deployment.RollbackDecidedAutomatically).
	RollbackDecidedAutomatically bool `json:"rollback_decided_automatically"`
}

// Cause is what caused an incident, as its opening event says.
type Cause struct {
	Kind CauseKind `json:"kind"`
	// ID is the deployment's or the chaos experiment's id; empty when
	// unknown.
	ID string `json:"id,omitempty"`
}

// CauseKind is the kind of an incident's cause.
type CauseKind string

// The kinds of cause.
const (
	CauseDeployment CauseKind = "deployment"
	CauseChaos      CauseKind = "chaos_experiment"
	CauseUnknown    CauseKind = "unknown"
)

// Experiment is one chaos experiment.
type Experiment struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Target string `json:"target"`
	// StartedAt and FinishedAt are nil when the event is not in the store.
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	// Verdict is the finished event's outcome ("hypothesis_held",
	// "hypothesis_broken", ...), or "running" with no finished event.
	Verdict string `json:"verdict"`
	// Incidents are the incidents that name the experiment as cause.
	Incidents []string `json:"incidents"`
}

// Running is the verdict of an experiment with no finished event.
const Running = "running"
