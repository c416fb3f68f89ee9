package analytics

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/estatehq/estate/metrics"
)

// source is the event log an export reads, with what is folded from it.
type source struct {
	// events are deduplicated by (source, id) and sorted by time, id,
	// then source.
	events      []metrics.Event
	deployments []metrics.Deployment
	incidents   []metrics.Incident
	// pairs are the service and environment of every deployment and
	// incident, by id, for the events that follow them up.
	deploymentPairs, incidentPairs map[string][2]string
}

func newSource(events []metrics.Event) *source {
	s := &source{events: dedupe(events)}
	s.deployments, s.incidents = metrics.Fold(s.events)
	s.deploymentPairs = make(map[string][2]string, len(s.deployments))
	for _, d := range s.deployments {
		if d.Started {
			s.deploymentPairs[d.ID] = [2]string{d.Service, d.Environment}
		}
	}
	s.incidentPairs = make(map[string][2]string, len(s.incidents))
	for _, i := range s.incidents {
		if i.Opened {
			s.incidentPairs[i.ID] = [2]string{i.Service, i.Environment}
		}
	}
	return s
}

// dedupe keeps one event per (source, id), as metrics.Fold does (its own
// dedupe is not exported, and a file of events may repeat one): the earliest,
// then the one whose data's JSON sorts first, so the choice does not depend
// on the order of a file. The result is sorted by time, id, then source,
// the order of metrics.Store.Events.
func dedupe(events []metrics.Event) []metrics.Event {
	type key struct{ source, id string }
	index := make(map[key]int, len(events))
	out := make([]metrics.Event, 0, len(events))
	for _, e := range events {
		e.Time = e.Time.UTC()
		k := key{e.Source, e.ID}
		i, seen := index[k]
		if !seen {
			index[k] = len(out)
			out = append(out, e)
			continue
		}
		if c := e.Time.Compare(out[i].Time); c < 0 || (c == 0 && dataBefore(e, out[i])) {
			out[i] = e
		}
	}
	metrics.SortEvents(out)
	return out
}

func dataBefore(a, b metrics.Event) bool {
	ab, errA := a.DataJSON()
	bb, errB := b.DataJSON()
	if errA != nil || errB != nil {
		return errA == nil
	}
	return bytes.Compare(ab, bb) < 0
}

// count is n as an INT32 column holds it: clamped, though no count of
// events comes near.
func count(n int) int32 { return int32(min(max(n, 0), math.MaxInt32)) } //nolint:gosec // clamped to the range

// micros is t in UTC to the microsecond, the precision of the tables.
func micros(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	m := micros(t)
	return &m
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// day is the UTC day that holds t.
func day(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

// eventRow turns an event into its row. The ids are read from the data's
// JSON by name, so a type this package does not know still has them.
func (s *source) eventRow(e metrics.Event) (EventRow, error) {
	data, err := e.DataJSON()
	if err != nil {
		return EventRow{}, fmt.Errorf("event %s from %s: %w", e.ID, e.Source, err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return EventRow{}, fmt.Errorf("event %s from %s: data: %w", e.ID, e.Source, err)
	}
	str := func(name string) string {
		var v string
		if raw, ok := fields[name]; ok && json.Unmarshal(raw, &v) == nil {
			return v
		}
		return ""
	}
	r := EventRow{
		ID: e.ID, Source: e.Source, Type: string(e.Type()), Time: micros(e.Time),
		DeploymentID: optString(str("deployment_id")),
		IncidentID:   optString(str("incident_id")),
		ExperimentID: optString(str("experiment_id")),
		Data:         string(data),
	}
	service, environment := str("service"), str("environment")
	if service == "" {
		var pair [2]string
		switch {
		case r.DeploymentID != nil:
			pair = s.deploymentPairs[*r.DeploymentID]
		case r.IncidentID != nil:
			pair = s.incidentPairs[*r.IncidentID]
		}
		service, environment = pair[0], pair[1]
	}
	r.Service, r.Environment = optString(service), optString(environment)
	return r, nil
}

// eventsOn returns the events of the day that starts at d: a sub-slice of
// the sorted events, not a copy.
func (s *source) eventsOn(d time.Time) []metrics.Event {
	lo, _ := slices.BinarySearchFunc(s.events, d, func(e metrics.Event, t time.Time) int { return e.Time.Compare(t) })
	hi, _ := slices.BinarySearchFunc(s.events, d.Add(24*time.Hour), func(e metrics.Event, t time.Time) int { return e.Time.Compare(t) })
	return s.events[lo:hi]
}

// fate is what became of a deployment.
func fate(d metrics.Deployment) string {
	switch {
	case d.RolledBack():
		return FateRolledBack
	case d.Succeeded():
		return FateSucceeded
	case d.Failed():
		return FateFailed
	}
	return FateInProgress
}

// deploymentRows are the started deployments, sorted by start then id.
func (s *source) deploymentRows() []DeploymentRow {
	caused := map[string]int32{}
	for _, i := range s.incidents {
		if i.Opened && i.CauseDeploymentID != "" {
			caused[i.CauseDeploymentID]++
		}
	}
	rows := make([]DeploymentRow, 0, len(s.deployments))
	for _, d := range s.deployments {
		if !d.Started {
			continue
		}
		r := DeploymentRow{
			DeploymentID: d.ID, Service: d.Service, Environment: d.Environment, Version: d.Version,
			Fate: fate(d), StartedAt: micros(d.StartedAt),
			SucceededAt: optTime(d.SucceededAt), FailedAt: optTime(d.FailedAt), RolledBackAt: optTime(d.RolledBackAt),
			RolledBackTo:    optString(d.RolledBackTo),
			Commits:         count(len(d.Commits)),
			CausedIncidents: caused[d.ID],
			ChangeFailure:   d.RolledBack() || caused[d.ID] > 0,
		}
		if d.Succeeded() && len(d.Commits) > 0 {
			lead := make([]time.Duration, len(d.Commits))
			for k, c := range d.Commits {
				lead[k] = max(d.SucceededAt.Sub(c.CommittedAt), 0)
			}
			slices.Sort(lead)
			// Nearest rank, as the report's lead time: rank ceil(n/2).
			v := lead[(len(lead)+1)/2-1].Seconds()
			r.LeadTimeSeconds = &v
		}
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b DeploymentRow) int {
		return cmp.Or(a.StartedAt.Compare(b.StartedAt), strings.Compare(a.DeploymentID, b.DeploymentID))
	})
	return rows
}

// incidentRows are the opened incidents, sorted by start then id.
func (s *source) incidentRows() []IncidentRow {
	rows := make([]IncidentRow, 0, len(s.incidents))
	for _, i := range s.incidents {
		if !i.Opened {
			continue
		}
		r := IncidentRow{
			IncidentID: i.ID, Service: i.Service, Environment: i.Environment, Severity: i.Severity,
			StartedAt: micros(i.StartedAt), ResolvedAt: optTime(i.ResolvedAt),
			CauseDeploymentID: optString(i.CauseDeploymentID), ChaosExperimentID: optString(i.ChaosExperimentID),
			ChaosAttributed: i.ChaosAttributed,
		}
		if i.Resolved() {
			v := max(i.ResolvedAt.Sub(i.StartedAt), 0).Seconds()
			r.DurationSeconds = &v
		}
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b IncidentRow) int {
		return cmp.Or(a.StartedAt.Compare(b.StartedAt), strings.Compare(a.IncidentID, b.IncidentID))
	})
	return rows
}

// Running is the verdict of a chaos run with no finished event.
const Running = "running"

// chaosRunRows are the chaos runs, sorted by their first time then id. Of
// several started (or finished) events of one experiment the earliest
// counts, then the smallest event id, as the weekly report does; the kind
// and target are the finished event's when there is one.
func (s *source) chaosRunRows() []ChaosRunRow {
	type state struct {
		r                   ChaosRunRow
		startID, finishID   string
		startSet, finishSet bool
	}
	byID := map[string]*state{}
	get := func(id string) *state {
		st, ok := byID[id]
		if !ok {
			st = &state{r: ChaosRunRow{ExperimentID: id}}
			byID[id] = st
		}
		return st
	}
	earlier := func(set bool, cur *time.Time, curID string, e metrics.Event) bool {
		return !set || e.Time.Before(*cur) || (e.Time.Equal(*cur) && e.ID < curID)
	}
	for _, e := range s.events {
		switch d := e.Data.(type) {
		case metrics.ChaosStarted:
			st := get(d.ExperimentID)
			if earlier(st.startSet, st.r.StartedAt, st.startID, e) {
				st.r.StartedAt, st.startID, st.startSet = optTime(e.Time), e.ID, true
				if !st.finishSet {
					st.r.Kind, st.r.Target = d.Kind, d.Target
				}
			}
		case metrics.ChaosFinished:
			st := get(d.ExperimentID)
			if earlier(st.finishSet, st.r.FinishedAt, st.finishID, e) {
				st.r.FinishedAt, st.finishID, st.finishSet = optTime(e.Time), e.ID, true
				st.r.Kind, st.r.Target, st.r.Verdict = d.Kind, d.Target, d.Outcome
			}
		}
	}
	incidents := map[string]int32{}
	for _, i := range s.incidents {
		if i.Opened && i.ChaosExperimentID != "" {
			incidents[i.ChaosExperimentID]++
		}
	}
	rows := make([]ChaosRunRow, 0, len(byID))
	for _, st := range byID {
		if !st.finishSet {
			st.r.Verdict = Running
		}
		st.r.Incidents = incidents[st.r.ExperimentID]
		rows = append(rows, st.r)
	}
	slices.SortFunc(rows, func(a, b ChaosRunRow) int {
		return cmp.Or(runTime(a).Compare(runTime(b)), strings.Compare(a.ExperimentID, b.ExperimentID))
	})
	return rows
}

// runTime is the time that places a run: its start, else its finish.
func runTime(r ChaosRunRow) time.Time {
	if r.StartedAt != nil {
		return *r.StartedAt
	}
	return *r.FinishedAt
}

// weekStart is the Monday 00:00 UTC of the ISO week that holds t.
func weekStart(t time.Time) time.Time {
	d := day(t)
	return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
}

// weeklyRows are the figures of the ISO week that starts at monday, per
// service and environment with anything in the week, sorted by service
// then environment.
func (s *source) weeklyRows(monday time.Time) ([]WeeklyRow, error) {
	w := metrics.Window{From: monday, To: monday.AddDate(0, 0, 7)}
	r, err := metrics.Compute(s.deployments, s.incidents, w, metrics.Options{})
	if err != nil {
		return nil, err
	}
	year, week := monday.ISOWeek()
	var rows []WeeklyRow
	for _, sr := range r.Services {
		// As the report: a pair with nothing in the week has no row.
		if sr.Deployments+sr.FailedDeployments+sr.Incidents+sr.ChaosIncidents+sr.MTTRSamples == 0 && sr.DowntimeSeconds == 0 {
			continue
		}
		row := WeeklyRow{
			Week: fmt.Sprintf("%04d-W%02d", year, week), WeekStart: monday,
			Service: sr.Service, Environment: sr.Environment,
			Deployments: count(sr.Deployments), FailedDeployments: count(sr.FailedDeployments),
			Rollbacks: count(sr.Rollbacks), RollbackRate: sr.RollbackRate,
			ChangeFailures: count(sr.ChangeFailures), ChangeFailureRate: sr.ChangeFailureRate,
			DeploymentFrequencyPerDay: sr.DeploymentFrequencyPerDay,
			LeadTimeSamples:           count(sr.LeadTimeSamples),
			Incidents:                 count(sr.Incidents),
			DowntimeSeconds:           sr.DowntimeSeconds,
			MTTRSeconds:               sr.MTTRSeconds, MTTRMedianSeconds: sr.MTTRMedianSeconds,
			MTTRSamples: count(sr.MTTRSamples),
			MTBFSeconds: sr.MTBFSeconds, ChaosIncidents: count(sr.ChaosIncidents),
		}
		if sr.LeadTimeSeconds != nil {
			p50, p90 := sr.LeadTimeSeconds.P50, sr.LeadTimeSeconds.P90
			row.LeadTimeP50Seconds, row.LeadTimeP90Seconds = &p50, &p90
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// Folded returns the deployments and incidents rows of an event log, as
// the tables hold them: what the stream publishes as they change.
func Folded(events []metrics.Event) ([]DeploymentRow, []IncidentRow) {
	s := newSource(events)
	return s.deploymentRows(), s.incidentRows()
}

// touchedDays are, by folded table, the days before from of the rows that
// the events of [from, to) change: the start day of a deployment followed
// up in the range (or named as an incident's cause), of an incident
// opened or resolved in it, of a chaos run finished in it or that an incident of the
// range was attributed to.
func (s *source) touchedDays(from, to time.Time) map[string][]time.Time {
	deployments := map[string]time.Time{}
	for _, d := range s.deployments {
		if d.Started {
			deployments[d.ID] = day(d.StartedAt)
		}
	}
	incidents := map[string]metrics.Incident{}
	for _, i := range s.incidents {
		if i.Opened {
			incidents[i.ID] = i
		}
	}
	runs := map[string]time.Time{}
	for _, r := range s.chaosRunRows() {
		runs[r.ExperimentID] = day(runTime(r))
	}
	out := map[string][]time.Time{}
	add := func(table string, d time.Time, ok bool) {
		if ok && d.Before(from) && !slices.ContainsFunc(out[table], d.Equal) {
			out[table] = append(out[table], d)
		}
	}
	lo, _ := slices.BinarySearchFunc(s.events, from, func(e metrics.Event, t time.Time) int { return e.Time.Compare(t) })
	for _, e := range s.events[lo:] {
		if !e.Time.Before(to) {
			break
		}
		switch d := e.Data.(type) {
		case metrics.DeploymentSucceeded:
			dd, ok := deployments[d.DeploymentID]
			add(TableDeployments, dd, ok)
		case metrics.DeploymentFailed:
			dd, ok := deployments[d.DeploymentID]
			add(TableDeployments, dd, ok)
		case metrics.DeploymentRolledBack:
			dd, ok := deployments[d.DeploymentID]
			add(TableDeployments, dd, ok)
		case metrics.IncidentOpened:
			dd, ok := deployments[d.CauseDeploymentID]
			add(TableDeployments, dd, ok)
			if i, ok := incidents[d.IncidentID]; ok {
				// An incident reported late, started before the range.
				add(TableIncidents, day(i.StartedAt), true)
				rd, ok := runs[i.ChaosExperimentID]
				add(TableChaosRuns, rd, ok)
			}
		case metrics.IncidentResolved:
			i, ok := incidents[d.IncidentID]
			add(TableIncidents, day(i.StartedAt), ok)
		case metrics.ChaosFinished:
			rd, ok := runs[d.ExperimentID]
			add(TableChaosRuns, rd, ok)
		}
	}
	return out
}
