package metrics

import (
	"bytes"
	"slices"
	"strings"
	"time"
)

// Deployment is what the event log says about one deployment.
type Deployment struct {
	ID string
	// Started is false while only follow-up events (succeeded, failed,
	// rolled_back) are known: the deployment is kept, with no service, and
	// counts nowhere until its started event arrives.
	Started     bool
	Service     string
	Environment string
	Version     string
	Commits     []Commit
	// StartedAt is the time of the started event.
	StartedAt time.Time
	// SucceededAt, FailedAt and RolledBackAt are the times of the earliest
	// event of each kind; zero when there is none.
	SucceededAt  time.Time
	FailedAt     time.Time
	RolledBackAt time.Time
	// RolledBackTo is the to_version of the earliest rolled_back event.
	RolledBackTo string
	// AnalysedAt, Verdict and VerdictReason are the earliest verdict of
	// the post-deploy analysis (a dev.estate.deployment.analysed event);
	// zero and empty while there is none.
	AnalysedAt    time.Time
	Verdict       string
	VerdictReason string
	// RollbackRecommendedAt is the time of the earliest
	// rollback_recommended event; zero when there is none.
	RollbackRecommendedAt time.Time
}

// RollbackDecidedAutomatically reports whether the deployment was rolled
// back after an analysis recommended it: the decision was the estate's.
func (d Deployment) RollbackDecidedAutomatically() bool {
	return d.RolledBack() && !d.RollbackRecommendedAt.IsZero() && !d.RollbackRecommendedAt.After(d.RolledBackAt)
}

// Succeeded reports whether the deployment reached production.
func (d Deployment) Succeeded() bool { return !d.SucceededAt.IsZero() }

// Failed reports whether the deployment failed and never reached
// production. A deployment with both a succeeded and a failed event reached
// production: it counts as succeeded, not failed.
func (d Deployment) Failed() bool { return !d.FailedAt.IsZero() && d.SucceededAt.IsZero() }

// RolledBack reports whether the deployment has a rolled_back event.
func (d Deployment) RolledBack() bool { return !d.RolledBackAt.IsZero() }

// Incident is what the event log says about one incident.
type Incident struct {
	ID string
	// Opened is false while only resolved events are known: the incident is
	// kept, with no service, and counts nowhere until it is opened.
	Opened      bool
	Service     string
	Environment string
	Severity    string
	// StartedAt is the opened event's started_at, or its time when absent.
	StartedAt time.Time
	// ResolvedAt is the time of the earliest resolved event; zero while
	// unresolved.
	ResolvedAt        time.Time
	CauseDeploymentID string
	// ChaosExperimentID is the experiment the opened event names, or one
	// the incident was attributed to (ChaosAttributed).
	ChaosExperimentID string
	// ChaosAttributed is true when the opened event named no cause and
	// the incident started on a service while a chaos experiment ran on
	// it (or within ChaosAttributionGrace of its end): an alert that the
	// experiment's own fault fired, such as an SLO's burn alert.
	ChaosAttributed bool
}

// ChaosAttributionGrace is how long after a chaos experiment's end an
// incident on its target that names no cause is still the experiment's:
// the longest an SLO burn alert takes to fire after its errors (its for,
// two minutes, after a short window of five, and an evaluation), with
// room to spare.
const ChaosAttributionGrace = 15 * time.Minute

// ChaosUnfinishedWindow bounds a run whose finished event is missing (the
// controller died, say): it takes incidents for this long after its start,
// not for ever.
const ChaosUnfinishedWindow = 4 * time.Hour

// Resolved reports whether the incident has a resolved event.
func (i Incident) Resolved() bool { return !i.ResolvedAt.IsZero() }

// Chaos reports whether a chaos experiment caused the incident.
func (i Incident) Chaos() bool { return i.ChaosExperimentID != "" }

// Fold folds an event log into deployments and incidents, each sorted by id.
// The result depends only on the set of events, never on their order or on
// repetitions:
//
//   - Events with a (source, id) already seen are the same event: as
//     CloudEvents says, an id names an event within its source only. When
//     two events share a source and id but differ (a producer bug), the one
//     with the earlier time wins, then the one whose canonical JSON sorts
//     first.
//
//   - Of several events of one kind about one deployment or incident (two
//     succeeded events with different ids, say), the earliest wins; on equal
//     times, the smallest event id, then the smallest source. For started and opened events that
//     choice also picks the data (service, commits, cause...).
//
//   - Follow-up events about an id never opened are kept, and folded in as
//     soon as the opening event is in the log.
//
//   - An incident whose opened event names no cause (no deployment, no
//     experiment) and that started on a chaos experiment's target while it
//     ran, or up to ChaosAttributionGrace after, is attributed to the
//     experiment (the earliest started, then the smallest id): the alerts a
//     fault fires on purpose are not outages. A chaos event's target is a
//     service, or service/environment to match that environment only.
func Fold(events []Event) (deployments []Deployment, incidents []Incident) {
	winners := dedupe(events)

	type pick struct {
		t          time.Time
		id, source string
	}
	earlier := func(cur pick, set bool, e Event) bool {
		if !set || e.Time.Before(cur.t) {
			return true
		}
		return e.Time.Equal(cur.t) && (e.ID < cur.id || (e.ID == cur.id && e.Source < cur.source))
	}
	type depState struct {
		d                             Deployment
		started, succ, failed, rolled pick
		analysed, recommended         pick
		hasStarted, hasSucc, hasFail  bool
		hasRolled, hasAnal, hasRecomm bool
	}
	type incState struct {
		i                   Incident
		opened, resolved    pick
		hasOpened, hasResol bool
	}
	// States live in slices, found by id through maps of indexes: one
	// allocation per growth, not one per deployment.
	nDeps, nIncs := 0, 0
	for _, e := range winners {
		switch e.Data.(type) {
		case DeploymentStarted:
			nDeps++
		case IncidentOpened:
			nIncs++
		}
	}
	var (
		depStates = make([]depState, 0, nDeps)
		incStates = make([]incState, 0, nIncs)
		deps      = make(map[string]int, nDeps)
		incs      = make(map[string]int, nIncs)
	)
	dep := func(id string) *depState {
		i, ok := deps[id]
		if !ok {
			i = len(depStates)
			deps[id] = i
			depStates = append(depStates, depState{d: Deployment{ID: id}})
		}
		return &depStates[i]
	}
	inc := func(id string) *incState {
		i, ok := incs[id]
		if !ok {
			i = len(incStates)
			incs[id] = i
			incStates = append(incStates, incState{i: Incident{ID: id}})
		}
		return &incStates[i]
	}

	for _, e := range winners {
		switch d := e.Data.(type) {
		case DeploymentStarted:
			s := dep(d.DeploymentID)
			if earlier(s.started, s.hasStarted, e) {
				s.started, s.hasStarted = pick{e.Time, e.ID, e.Source}, true
				s.d.Started = true
				s.d.Service, s.d.Environment, s.d.Version = d.Service, d.Environment, d.Version
				s.d.Commits = d.Commits
				s.d.StartedAt = e.Time
			}
		case DeploymentSucceeded:
			s := dep(d.DeploymentID)
			if earlier(s.succ, s.hasSucc, e) {
				s.succ, s.hasSucc = pick{e.Time, e.ID, e.Source}, true
				s.d.SucceededAt = e.Time
			}
		case DeploymentFailed:
			s := dep(d.DeploymentID)
			if earlier(s.failed, s.hasFail, e) {
				s.failed, s.hasFail = pick{e.Time, e.ID, e.Source}, true
				s.d.FailedAt = e.Time
			}
		case DeploymentRolledBack:
			s := dep(d.DeploymentID)
			if earlier(s.rolled, s.hasRolled, e) {
				s.rolled, s.hasRolled = pick{e.Time, e.ID, e.Source}, true
				s.d.RolledBackAt = e.Time
				s.d.RolledBackTo = d.ToVersion
			}
		case DeploymentAnalysed:
			s := dep(d.DeploymentID)
			if earlier(s.analysed, s.hasAnal, e) {
				s.analysed, s.hasAnal = pick{e.Time, e.ID, e.Source}, true
				s.d.AnalysedAt, s.d.Verdict, s.d.VerdictReason = e.Time, d.Verdict, d.Reason
			}
		case DeploymentRollbackRecommended:
			s := dep(d.DeploymentID)
			if earlier(s.recommended, s.hasRecomm, e) {
				s.recommended, s.hasRecomm = pick{e.Time, e.ID, e.Source}, true
				s.d.RollbackRecommendedAt = e.Time
			}
		case IncidentOpened:
			s := inc(d.IncidentID)
			if earlier(s.opened, s.hasOpened, e) {
				s.opened, s.hasOpened = pick{e.Time, e.ID, e.Source}, true
				s.i.Opened = true
				s.i.Service, s.i.Environment, s.i.Severity = d.Service, d.Environment, d.Severity
				s.i.StartedAt = e.Time
				if !d.StartedAt.IsZero() {
					s.i.StartedAt = d.StartedAt
				}
				s.i.CauseDeploymentID = d.CauseDeploymentID
				s.i.ChaosExperimentID = d.ChaosExperimentID
			}
		case IncidentResolved:
			s := inc(d.IncidentID)
			if earlier(s.resolved, s.hasResol, e) {
				s.resolved, s.hasResol = pick{e.Time, e.ID, e.Source}, true
				s.i.ResolvedAt = e.Time
			}
		}
	}

	// Sort small index entries, then copy the large structs once.
	deployments = make([]Deployment, 0, len(depStates))
	for _, i := range sortedIndexes(deps) {
		deployments = append(deployments, depStates[i].d)
	}
	incidents = make([]Incident, 0, len(incStates))
	for _, i := range sortedIndexes(incs) {
		incidents = append(incidents, incStates[i].i)
	}
	attributeToChaos(winners, incidents)
	return deployments, incidents
}

// chaosRun is what the log says of one chaos experiment's run.
type chaosRun struct {
	id, target         string
	started, finished  time.Time
	hasStart, hasFinis bool
}

// attributeToChaos sets the experiment of every incident that names no
// cause and started within a run on its service (see Fold).
func attributeToChaos(events []Event, incidents []Incident) {
	runs := map[string]*chaosRun{}
	run := func(id, target string) *chaosRun {
		r := runs[id]
		if r == nil {
			r = &chaosRun{id: id, target: target}
			runs[id] = r
		}
		return r
	}
	for _, e := range events {
		switch d := e.Data.(type) {
		case ChaosStarted:
			r := run(d.ExperimentID, d.Target)
			if !r.hasStart || e.Time.Before(r.started) {
				r.started, r.hasStart, r.target = e.Time, true, d.Target
			}
		case ChaosFinished:
			r := run(d.ExperimentID, d.Target)
			if !r.hasFinis || e.Time.Before(r.finished) {
				r.finished, r.hasFinis = e.Time, true
			}
		}
	}
	if len(runs) == 0 {
		return
	}
	ordered := make([]*chaosRun, 0, len(runs))
	for _, r := range runs {
		if r.hasStart {
			ordered = append(ordered, r)
		}
	}
	slices.SortFunc(ordered, func(a, b *chaosRun) int {
		if c := a.started.Compare(b.started); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	for k := range incidents {
		inc := &incidents[k]
		if !inc.Opened || inc.ChaosExperimentID != "" || inc.CauseDeploymentID != "" {
			continue
		}
		for _, r := range ordered {
			name, env, hasEnv := strings.Cut(r.target, "/")
			if name != inc.Service || (hasEnv && env != inc.Environment) {
				continue
			}
			end := r.started.Add(ChaosUnfinishedWindow)
			if r.hasFinis {
				end = r.finished.Add(ChaosAttributionGrace)
			}
			if inc.StartedAt.Before(r.started) || inc.StartedAt.After(end) {
				continue
			}
			inc.ChaosExperimentID, inc.ChaosAttributed = r.id, true
			break
		}
	}
}

// sortedIndexes returns the values of m in the order of their keys.
func sortedIndexes(m map[string]int) []int {
	type entry struct {
		id string
		i  int
	}
	entries := make([]entry, 0, len(m))
	for id, i := range m {
		entries = append(entries, entry{id, i})
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.id, b.id) })
	out := make([]int, len(entries))
	for k, e := range entries {
		out[k] = e.i
	}
	return out
}

// dedupe keeps one event per (source, id): the earliest, then the one
// whose canonical JSON sorts first. Identical repeats are the common case
// and cost one map lookup each.
func dedupe(events []Event) []Event {
	type key struct{ source, id string }
	index := make(map[key]int, len(events))
	out := make([]Event, 0, len(events))
	for _, e := range events {
		if !e.normalized() {
			e = e.Normalized()
		}
		k := key{e.Source, e.ID}
		i, seen := index[k]
		if !seen {
			index[k] = len(out)
			out = append(out, e)
			continue
		}
		if precedes(e, out[i]) {
			out[i] = e
		}
	}
	return out
}

// precedes orders two events that share a source and id.
func precedes(a, b Event) bool {
	if !a.Time.Equal(b.Time) {
		return a.Time.Before(b.Time)
	}
	ab, errA := a.MarshalJSON()
	bb, errB := b.MarshalJSON()
	if errA != nil || errB != nil {
		return errA == nil
	}
	return bytes.Compare(ab, bb) < 0
}
