package review

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/estatehq/estate/metrics"
)

// alertmanagerEventPrefix starts the ids of the events that the
// Alertmanager intake (metrics/intake/alertmanager) makes of an alert;
// the incident id is then the alert's fingerprint, "@", its start.
const alertmanagerEventPrefix = "alertmanager/"

// fromEvents finds the incident in events and gathers what the event log
// says around it: the incident itself, its service's deployments, the
// chaos runs that overlapped it and the candidate causes.
func fromEvents(events []metrics.Event, in Inputs) (Findings, error) {
	deployments, incidents := metrics.Fold(events)
	i, ok := slices.BinarySearchFunc(incidents, in.IncidentID, func(inc metrics.Incident, id string) int { return strings.Compare(inc.ID, id) })
	if !ok || !incidents[i].Opened {
		return Findings{}, fmt.Errorf("incident %q: %w", in.IncidentID, ErrNotFound)
	}
	folded := incidents[i]
	inc := Incident{
		ID: folded.ID, Service: folded.Service, Environment: folded.Environment, Severity: folded.Severity,
		Start: folded.StartedAt.UTC(), End: folded.ResolvedAt.UTC(),
		CauseDeploymentID: folded.CauseDeploymentID, ChaosExperimentID: folded.ChaosExperimentID,
	}
	// A run the fold attributed the incident to is not one its opened
	// event named: the review lists it among the overlapping runs, as a
	// candidate cause.
	if folded.ChaosAttributed {
		inc.ChaosExperimentID = ""
	}
	if !folded.Resolved() {
		inc.End = time.Time{}
	}
	to := in.Now
	if inc.Resolved() {
		to = inc.End
	}
	inc.Duration = max(to.Sub(inc.Start), 0)
	f := Findings{Incident: inc, From: inc.Start.Add(-in.Lookback), To: to, At: in.Now}
	g := gatherer{f: &f, deployments: deployments}
	for _, e := range events {
		g.event(e)
	}
	g.chaos()
	g.candidates()
	return f, nil
}

// gatherer collects the entries of one incident from the event log, read
// in its order (time, then id), so that the first event of a kind is the
// one the fold chose.
type gatherer struct {
	f           *Findings
	deployments []metrics.Deployment
	// seen holds the deployment follow-ups already listed: only the first
	// of a kind counts, as in the fold.
	seen map[string]bool
	runs map[string]*chaosRun
}

// chaosRun is one chaos experiment as its events tell it.
type chaosRun struct {
	id, kind, target, outcome string
	started, finished         *metrics.Event
}

func (g *gatherer) event(e metrics.Event) {
	inc := &g.f.Incident
	switch d := e.Data.(type) {
	case metrics.IncidentOpened:
		if d.IncidentID != inc.ID || inc.Source != "" {
			return
		}
		inc.Source = e.Source
		by := ""
		if strings.HasPrefix(e.ID, alertmanagerEventPrefix) {
			inc.Alert, _, _ = strings.Cut(inc.ID, "@")
			by = fmt.Sprintf(" by alert %s from %s", inc.Alert, e.Source)
		}
		reported := ""
		if !e.Time.Equal(inc.Start) {
			reported = "; reported at " + stamp(e.Time)
		}
		g.add(inc.Start, KindIncidentOpened, e.ID, "incident opened%s: severity %s, %s in %s%s", by, inc.Severity, inc.Service, inc.Environment, reported)
	case metrics.IncidentResolved:
		if d.IncidentID == inc.ID && g.once("resolved", inc.ID) {
			g.add(inc.End, KindIncidentResolved, e.ID, "incident resolved, %s after its start", formatDuration(inc.Duration))
		}
	case metrics.DeploymentStarted:
		g.deployment(e, d.DeploymentID, KindDeploymentStarted)
	case metrics.DeploymentSucceeded:
		g.deployment(e, d.DeploymentID, KindDeploymentSucceeded)
	case metrics.DeploymentFailed:
		g.deployment(e, d.DeploymentID, KindDeploymentFailed)
	case metrics.DeploymentRolledBack:
		g.deployment(e, d.DeploymentID, KindDeploymentRolledBack)
	case metrics.ChaosStarted:
		r := g.run(d.ExperimentID)
		if r.started == nil {
			r.started = &e
			r.kind, r.target = cmp.Or(r.kind, d.Kind), cmp.Or(r.target, d.Target)
		}
	case metrics.ChaosFinished:
		r := g.run(d.ExperimentID)
		if r.finished == nil {
			r.finished = &e
			r.kind, r.target, r.outcome = cmp.Or(r.kind, d.Kind), cmp.Or(r.target, d.Target), d.Outcome
		}
	}
}

// once reports whether kind of id is seen for the first time.
func (g *gatherer) once(kind, id string) bool {
	if g.seen == nil {
		g.seen = map[string]bool{}
	}
	key := kind + "\x00" + id
	if g.seen[key] {
		return false
	}
	g.seen[key] = true
	return true
}

func (g *gatherer) add(t time.Time, kind Kind, eventID, format string, args ...any) {
	g.f.Entries = append(g.f.Entries, Entry{Time: t.UTC(), Kind: kind, Summary: fmt.Sprintf(format, args...), Source: Source{EventID: eventID}})
}

// deployment lists an event of a deployment of the incident's service and
// environment within the window, or of the deployment that the incident
// names as its cause, wherever it ran.
func (g *gatherer) deployment(e metrics.Event, id string, kind Kind) {
	inc := g.f.Incident
	d, ok := g.lookupDeployment(id)
	if !ok || !g.once(string(kind), id) {
		return
	}
	cause := id == inc.CauseDeploymentID
	if !cause && (d.Service != inc.Service || d.Environment != inc.Environment) {
		return
	}
	if !cause && (e.Time.Before(g.f.From) || e.Time.After(g.f.To)) {
		return
	}
	switch kind {
	case KindDeploymentStarted:
		named := ""
		if cause {
			named = "; the incident names it as its cause"
		}
		g.add(e.Time, kind, e.ID, "deployment %s of %s %s started in %s%s", id, d.Service, d.Version, d.Environment, named)
	case KindDeploymentSucceeded:
		g.add(e.Time, kind, e.ID, "deployment %s (%s %s) reached production", id, d.Service, d.Version)
	case KindDeploymentFailed:
		g.add(e.Time, kind, e.ID, "deployment %s (%s %s) failed", id, d.Service, d.Version)
	case KindDeploymentRolledBack:
		to := ""
		if rb, ok := e.Data.(metrics.DeploymentRolledBack); ok {
			to = " to " + rb.ToVersion
		}
		g.add(e.Time, kind, e.ID, "deployment %s (%s %s) rolled back%s", id, d.Service, d.Version, to)
	}
}

// lookupDeployment is the folded deployment with id, when it has started.
func (g *gatherer) lookupDeployment(id string) (metrics.Deployment, bool) {
	i, ok := slices.BinarySearchFunc(g.deployments, id, func(d metrics.Deployment, id string) int { return strings.Compare(d.ID, id) })
	if !ok || !g.deployments[i].Started {
		return metrics.Deployment{}, false
	}
	return g.deployments[i], true
}

func (g *gatherer) run(id string) *chaosRun {
	if g.runs == nil {
		g.runs = map[string]*chaosRun{}
	}
	r, ok := g.runs[id]
	if !ok {
		r = &chaosRun{id: id}
		g.runs[id] = r
	}
	return r
}

// span is when the run ran: from its start (its finish when only that is
// known) to its finish; zero while it runs.
func (r *chaosRun) span() (from, to time.Time) {
	if r.finished != nil {
		to = r.finished.Time
	}
	if r.started != nil {
		return r.started.Time, to
	}
	return to, to
}

// targets reports whether the run's target is the service: its name
// alone, or followed by the environment ("invoicing/production").
func (r *chaosRun) targets(service, environment string) bool {
	name, env, hasEnv := strings.Cut(r.target, "/")
	return name == service && (!hasEnv || env == environment)
}

// overlaps reports whether the run started before the incident ended and
// finished (if it has) after it started.
func (r *chaosRun) overlaps(f *Findings) bool {
	from, to := r.span()
	return !from.After(f.To) && (to.IsZero() || !to.Before(f.Incident.Start))
}

// relevant reports whether the run belongs in the review: the incident
// names it, or it overlapped the incident on the incident's service.
func (r *chaosRun) relevant(f *Findings) bool {
	inc := f.Incident
	return r.id == inc.ChaosExperimentID || (r.targets(inc.Service, inc.Environment) && r.overlaps(f))
}

func (r *chaosRun) describe() string {
	return fmt.Sprintf("chaos experiment %s (%s on %s)", r.id, r.kind, r.target)
}

// chaos lists the relevant runs' starts and finishes.
func (g *gatherer) chaos() {
	for _, r := range g.sortedRuns() {
		if !r.relevant(g.f) {
			continue
		}
		if r.started != nil {
			g.add(r.started.Time, KindChaosStarted, r.started.ID, "%s started", r.describe())
		}
		if r.finished != nil {
			g.add(r.finished.Time, KindChaosFinished, r.finished.ID, "chaos experiment %s finished: %s", r.id, r.outcome)
		}
	}
}

func (g *gatherer) sortedRuns() []*chaosRun {
	out := make([]*chaosRun, 0, len(g.runs))
	for _, r := range g.runs {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *chaosRun) int { return strings.Compare(a.id, b.id) })
	return out
}

// candidates lists the possible causes: those the incident names, then
// the changes to its service in the lookback that were live or under way
// at its start (latest first), then the chaos runs that overlapped it.
func (g *gatherer) candidates() {
	f := g.f
	inc := f.Incident
	if id := inc.CauseDeploymentID; id != "" {
		summary := "deployment " + id + "; the incident names it as its cause, but no event of it is stored"
		if d, ok := g.lookupDeployment(id); ok {
			summary = describeDeployment(d, inc.Start) + "; the incident names it as its cause"
		}
		f.Candidates = append(f.Candidates, Candidate{Kind: "deployment", ID: id, Named: true, Summary: summary})
	}
	if id := inc.ChaosExperimentID; id != "" {
		summary := "chaos experiment " + id + "; the incident names it as its cause, but no event of it is stored"
		if r, ok := g.runs[id]; ok {
			summary = r.describe() + "; the incident names it as its cause"
		}
		f.Candidates = append(f.Candidates, Candidate{Kind: "chaos_experiment", ID: id, Named: true, Summary: summary})
	}
	var live []metrics.Deployment
	for _, d := range g.deployments {
		if !d.Started || d.ID == inc.CauseDeploymentID || d.Service != inc.Service || d.Environment != inc.Environment {
			continue
		}
		if d.StartedAt.Before(f.From) || d.StartedAt.After(inc.Start) {
			continue
		}
		if settled(d.FailedAt, inc.Start) && !settled(d.SucceededAt, inc.Start) || settled(d.RolledBackAt, inc.Start) {
			continue // it never reached production, or was undone, before the start
		}
		live = append(live, d)
	}
	slices.SortFunc(live, func(a, b metrics.Deployment) int {
		return cmp.Or(b.StartedAt.Compare(a.StartedAt), strings.Compare(a.ID, b.ID))
	})
	for _, d := range live {
		f.Candidates = append(f.Candidates, Candidate{Kind: "deployment", ID: d.ID, Summary: describeDeployment(d, inc.Start)})
	}
	for _, r := range g.sortedRuns() {
		if r.id == inc.ChaosExperimentID || !r.relevant(f) {
			continue
		}
		from, to := r.span()
		ran := "from " + stamp(from)
		if !to.IsZero() {
			ran += " to " + stamp(to)
		}
		f.Candidates = append(f.Candidates, Candidate{Kind: "chaos_experiment", ID: r.id, Summary: r.describe() + " ran " + ran + ", during the incident"})
	}
}

// settled reports whether t is set and no later than at.
func settled(t, at time.Time) bool { return !t.IsZero() && !t.After(at) }

// describeDeployment says what a deployment was at the incident's start.
func describeDeployment(d metrics.Deployment, start time.Time) string {
	s := fmt.Sprintf("deployment %s of %s %s", d.ID, d.Service, d.Version)
	switch {
	case settled(d.SucceededAt, start):
		s += fmt.Sprintf(", in production since %s (%s before the start)", stamp(d.SucceededAt), formatDuration(start.Sub(d.SucceededAt)))
	case d.StartedAt.After(start):
		s += ", started at " + stamp(d.StartedAt) + ", after the start"
	default:
		s += fmt.Sprintf(", under way at the start (started %s before)", formatDuration(start.Sub(d.StartedAt)))
	}
	return s
}
