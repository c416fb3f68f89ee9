package analytics

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// The tables an export writes, by name.
const (
	TableEvents      = "events"
	TableDeployments = "deployments"
	TableIncidents   = "incidents"
	TableChaosRuns   = "chaos_runs"
	TableWeekly      = "weekly"
)

// Tables lists every table, in the order an export writes them.
func Tables() []string {
	return []string{TableEvents, TableDeployments, TableIncidents, TableChaosRuns, TableWeekly, TableRED, TableSLO}
}

// EventTables are the tables computed from the event log alone; the
// others (red, slo) need the metrics store (Options.Series).
func EventTables() []string {
	return []string{TableEvents, TableDeployments, TableIncidents, TableChaosRuns, TableWeekly}
}

// ParseTables reads a comma-separated list of table names; "" is the
// event tables, "all" every table. Errors: an unknown name, naming the
// known ones.
func ParseTables(s string) ([]string, error) {
	switch s {
	case "":
		return EventTables(), nil
	case "all":
		return Tables(), nil
	}
	var out []string
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(Tables(), name) {
			return nil, fmt.Errorf("unknown table %q (known: %s)", name, strings.Join(Tables(), ", "))
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	// The export's order, whatever the order asked.
	slices.SortFunc(out, func(a, b string) int { return slices.Index(Tables(), a) - slices.Index(Tables(), b) })
	return out, nil
}

// IsSeries reports whether a table is read from the metrics store.
func IsSeries(table string) bool { return table == TableRED || table == TableSLO }

// The rows of the tables, which are also the values of the Kafka stream's
// deployments and incidents topics (as JSON, by the json tags: a NULL is
// null, a time RFC 3339). Times are Parquet TIMESTAMP(MICROS, UTC): a
// time's nanoseconds below the microsecond are dropped. Pointer fields are
// OPTIONAL columns (NULL when nil); every other column is REQUIRED. Strings
// are UTF-8 BYTE_ARRAY (STRING). docs/analytics.md documents each column.

// EventRow is one stored reliability event (table events), partitioned by
// the day of its time.
type EventRow struct {
	ID     string    `parquet:"id" json:"id"`
	Source string    `parquet:"source" json:"source"`
	Type   string    `parquet:"type" json:"type"`
	Time   time.Time `parquet:"time,timestamp(microsecond:utc)" json:"time"`
	// Service and Environment are the data's, or those of the deployment
	// or incident the event follows up; NULL when unknown.
	Service     *string `parquet:"service,optional" json:"service"`
	Environment *string `parquet:"environment,optional" json:"environment"`
	// DeploymentID, IncidentID and ExperimentID are the data's
	// deployment_id, incident_id and experiment_id, whatever the type.
	DeploymentID *string `parquet:"deployment_id,optional" json:"deployment_id"`
	IncidentID   *string `parquet:"incident_id,optional" json:"incident_id"`
	ExperimentID *string `parquet:"experiment_id,optional" json:"experiment_id"`
	// Data is the event's data as canonical JSON text.
	Data string `parquet:"data" json:"data"`
}

// The fates of a deployment.
const (
	FateSucceeded  = "succeeded"
	FateFailed     = "failed"
	FateRolledBack = "rolled_back"
	FateInProgress = "in_progress"
)

// DeploymentRow is one deployment folded from its events (table
// deployments), partitioned by the day it started.
type DeploymentRow struct {
	DeploymentID string `parquet:"deployment_id" json:"deployment_id"`
	Service      string `parquet:"service" json:"service"`
	Environment  string `parquet:"environment" json:"environment"`
	Version      string `parquet:"version" json:"version"`
	// Fate is rolled_back, succeeded, failed or in_progress.
	Fate         string     `parquet:"fate" json:"fate"`
	StartedAt    time.Time  `parquet:"started_at,timestamp(microsecond:utc)" json:"started_at"`
	SucceededAt  *time.Time `parquet:"succeeded_at,optional,timestamp(microsecond:utc)" json:"succeeded_at"`
	FailedAt     *time.Time `parquet:"failed_at,optional,timestamp(microsecond:utc)" json:"failed_at"`
	RolledBackAt *time.Time `parquet:"rolled_back_at,optional,timestamp(microsecond:utc)" json:"rolled_back_at"`
	RolledBackTo *string    `parquet:"rolled_back_to,optional" json:"rolled_back_to"`
	Commits      int32      `parquet:"commits" json:"commits"`
	// LeadTimeSeconds is the nearest-rank median of success time minus
	// commit time over the deployment's commits; NULL without a success or
	// without commits.
	LeadTimeSeconds *float64 `parquet:"lead_time_seconds,optional" json:"lead_time_seconds"`
	// CausedIncidents counts the incidents that name the deployment as
	// their cause.
	CausedIncidents int32 `parquet:"caused_incidents" json:"caused_incidents"`
	// ChangeFailure is true when the deployment was rolled back or caused
	// an incident.
	ChangeFailure bool `parquet:"change_failure" json:"change_failure"`
}

// IncidentRow is one incident folded from its events (table incidents),
// partitioned by the day it started.
type IncidentRow struct {
	IncidentID  string     `parquet:"incident_id" json:"incident_id"`
	Service     string     `parquet:"service" json:"service"`
	Environment string     `parquet:"environment" json:"environment"`
	Severity    string     `parquet:"severity" json:"severity"`
	StartedAt   time.Time  `parquet:"started_at,timestamp(microsecond:utc)" json:"started_at"`
	ResolvedAt  *time.Time `parquet:"resolved_at,optional,timestamp(microsecond:utc)" json:"resolved_at"`
	// DurationSeconds is resolved_at - started_at (zero when the clocks
	// disagree); NULL while the incident is open.
	DurationSeconds   *float64 `parquet:"duration_seconds,optional" json:"duration_seconds"`
	CauseDeploymentID *string  `parquet:"cause_deployment_id,optional" json:"cause_deployment_id"`
	ChaosExperimentID *string  `parquet:"chaos_experiment_id,optional" json:"chaos_experiment_id"`
	// ChaosAttributed is true when no event named the experiment and the
	// incident was attributed to it by time and target (metrics.Fold).
	ChaosAttributed bool `parquet:"chaos_attributed" json:"chaos_attributed"`
}

// ChaosRunRow is one chaos experiment's run (table chaos_runs),
// partitioned by the day it started (or finished, when its start is not
// in the log).
type ChaosRunRow struct {
	ExperimentID string     `parquet:"experiment_id" json:"experiment_id"`
	Kind         string     `parquet:"kind" json:"kind"`
	Target       string     `parquet:"target" json:"target"`
	StartedAt    *time.Time `parquet:"started_at,optional,timestamp(microsecond:utc)" json:"started_at"`
	FinishedAt   *time.Time `parquet:"finished_at,optional,timestamp(microsecond:utc)" json:"finished_at"`
	// Verdict is the finished event's outcome, or "running".
	Verdict string `parquet:"verdict" json:"verdict"`
	// Incidents counts the incidents that name or were attributed to the
	// experiment.
	Incidents int32 `parquet:"incidents" json:"incidents"`
}

// WeeklyRow is the figures of one service in one environment over one ISO
// week (table weekly), as metrics.Compute gives them without chaos
// incidents, partitioned by the week's Monday.
type WeeklyRow struct {
	Week                      string    `parquet:"week" json:"week"`
	WeekStart                 time.Time `parquet:"week_start,timestamp(microsecond:utc)" json:"week_start"`
	Service                   string    `parquet:"service" json:"service"`
	Environment               string    `parquet:"environment" json:"environment"`
	Deployments               int32     `parquet:"deployments" json:"deployments"`
	FailedDeployments         int32     `parquet:"failed_deployments" json:"failed_deployments"`
	Rollbacks                 int32     `parquet:"rollbacks" json:"rollbacks"`
	RollbackRate              *float64  `parquet:"rollback_rate,optional" json:"rollback_rate"`
	ChangeFailures            int32     `parquet:"change_failures" json:"change_failures"`
	ChangeFailureRate         *float64  `parquet:"change_failure_rate,optional" json:"change_failure_rate"`
	DeploymentFrequencyPerDay float64   `parquet:"deployment_frequency_per_day" json:"deployment_frequency_per_day"`
	LeadTimeP50Seconds        *float64  `parquet:"lead_time_p50_seconds,optional" json:"lead_time_p50_seconds"`
	LeadTimeP90Seconds        *float64  `parquet:"lead_time_p90_seconds,optional" json:"lead_time_p90_seconds"`
	LeadTimeSamples           int32     `parquet:"lead_time_samples" json:"lead_time_samples"`
	Incidents                 int32     `parquet:"incidents" json:"incidents"`
	DowntimeSeconds           float64   `parquet:"downtime_seconds" json:"downtime_seconds"`
	MTTRSeconds               *float64  `parquet:"mttr_seconds,optional" json:"mttr_seconds"`
	MTTRMedianSeconds         *float64  `parquet:"mttr_median_seconds,optional" json:"mttr_median_seconds"`
	MTTRSamples               int32     `parquet:"mttr_samples" json:"mttr_samples"`
	MTBFSeconds               *float64  `parquet:"mtbf_seconds,optional" json:"mtbf_seconds"`
	ChaosIncidents            int32     `parquet:"chaos_incidents" json:"chaos_incidents"`
}
