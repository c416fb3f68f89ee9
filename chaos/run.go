package chaos

import (
	"context"
	"time"
)

// State is where a run is in its life.
type State string

// The states, in order.
const (
	// StateScheduled: a cron schedule or game day waiting for its next
	// slot; its runs are children of it.
	StateScheduled State = "scheduled"
	StatePending   State = "pending"
	// StateRunning: probing before, injecting, probing during.
	StateRunning State = "running"
	// StateRecovering: the fault is removed; the hypothesis must hold again.
	StateRecovering State = "recovering"
	StateFinished   State = "finished"
)

// Verdict is a finished run's result.
type Verdict string

// The verdicts.
const (
	// VerdictPassed: the hypothesis did what the expected outcome said.
	VerdictPassed Verdict = "passed"
	// VerdictFailed: it did not (it broke when it should hold, held when
	// it should break, or did not recover in time).
	VerdictFailed Verdict = "failed"
	// VerdictAborted: stopped by an operator, the kill switch, an abort
	// condition, or a hypothesis that did not hold before the fault.
	VerdictAborted Verdict = "aborted"
	// VerdictErrored: the controller could not do its job (a fault not
	// injected or not removed, a probe that could not be evaluated).
	VerdictErrored Verdict = "errored"
)

// Verdicts lists every verdict.
func Verdicts() []Verdict {
	return []Verdict{VerdictPassed, VerdictFailed, VerdictAborted, VerdictErrored}
}

// Run is one run of an experiment, or a schedule of runs.
type Run struct {
	ID string `json:"id"`
	// ParentID is the schedule or game day this run belongs to.
	ParentID   string     `json:"parent_id,omitempty"`
	Experiment Experiment `json:"experiment"`
	// Fault is the fault this run injects: the spec's, or the one a game
	// day drew.
	Fault   Fault   `json:"fault"`
	State   State   `json:"state"`
	Verdict Verdict `json:"verdict,omitempty"`
	// Reason says why the run ended as it did.
	Reason     string      `json:"reason,omitempty"`
	Injections []Injection `json:"injections,omitempty"`
	// IncidentID is the incident the run opened when the hypothesis broke.
	IncidentID string     `json:"incident_id,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// NextAt is a schedule's next slot.
	NextAt *time.Time `json:"next_at,omitempty"`
}

// EntryKind classifies journal entries.
type EntryKind string

// The entry kinds.
const (
	EntryState    EntryKind = "state"
	EntryProbe    EntryKind = "probe"
	EntryInject   EntryKind = "inject"
	EntryRemove   EntryKind = "remove"
	EntryAbort    EntryKind = "abort"
	EntryRecover  EntryKind = "recover"
	EntryIncident EntryKind = "incident"
	EntryEvent    EntryKind = "event"
	EntryVerdict  EntryKind = "verdict"
	EntryError    EntryKind = "error"
	EntrySchedule EntryKind = "schedule"
)

// Phase is when a probe ran.
type Phase string

// The phases of a run.
const (
	PhaseBefore Phase = "before"
	PhaseDuring Phase = "during"
	PhaseAfter  Phase = "after"
)

// Entry is one line of a run's journal.
type Entry struct {
	// Seq orders the entries of a run, from 1; the store assigns it.
	Seq     int       `json:"seq"`
	Time    time.Time `json:"time"`
	Kind    EntryKind `json:"kind"`
	Phase   Phase     `json:"phase,omitempty"`
	Probe   string    `json:"probe,omitempty"`
	OK      *bool     `json:"ok,omitempty"`
	Value   *float64  `json:"value,omitempty"`
	Message string    `json:"message"`
}

// Injection is one fault as an executor placed it: what, where, until when.
type Injection struct {
	// Executor is the platform of the executor that placed it.
	Executor Platform `json:"executor"`
	// Kind is the fault's kind (PodChaos, http-latency...).
	Kind string `json:"kind"`
	// Target says where: a service's fault surface and route, a proxy,
	// a Kubernetes object (namespace/name).
	Target string `json:"target"`
	// Ref is the executor's handle, enough to remove it.
	Ref string `json:"ref"`
	// Detail is what a dry run shows: the fault command or object.
	Detail   map[string]string `json:"detail,omitempty"`
	Deadline time.Time         `json:"deadline"`
}

// RunFilter selects runs.
type RunFilter struct {
	// States selects runs in any of them; empty selects all.
	States   []State
	ParentID string
	// Limit bounds the answer, newest first; 100 when zero.
	Limit int
}

// Store keeps runs and their journals.
type Store interface {
	// CreateRun records a new run. Errors: ECONFLICT when the id exists.
	CreateRun(ctx context.Context, r Run) error
	// UpdateRun replaces a run's record. Errors: ErrNotFound.
	UpdateRun(ctx context.Context, r Run) error
	// Run returns a run. Errors: ErrNotFound.
	Run(ctx context.Context, id string) (Run, error)
	// Runs lists runs, newest first.
	Runs(ctx context.Context, f RunFilter) ([]Run, error)
	// Append adds an entry to a run's journal and returns its Seq.
	// Errors: ErrNotFound.
	Append(ctx context.Context, runID string, e Entry) (int, error)
	// Journal returns a run's entries in order, those after Seq after.
	Journal(ctx context.Context, runID string, after int) ([]Entry, error)
	// SetHalted records the kill switch, so a restarted controller keeps
	// it.
	SetHalted(ctx context.Context, halted bool, reason string) error
	// Halted returns the kill switch and why it was set.
	Halted(ctx context.Context) (bool, string, error)
}

// Request asks an executor to inject one fault for one run.
type Request struct {
	ExperimentID string
	RunID        string
	// ExperimentName is the document's metadata.name.
	ExperimentName string
	// Name is a DNS label unique to the run, for the objects created.
	Name   string
	Target Target
	Fault  Fault
	// FaultPath is the fault's field in the document ("spec.fault",
	// "spec.gameDay.faults[1]"), for errors that name it; "spec.fault"
	// when empty.
	FaultPath string
	// Spec is the experiment's, for executors that build whole objects
	// from it (Spec.ChaosMeshObject).
	Spec Spec
	// Deadline is when the fault must be gone, whatever happens to the
	// controller; the executor makes the place of injection enforce it.
	Deadline time.Time
}

// Executor injects faults on one platform. The controller picks the one
// whose platform matches the fault's; a Kubernetes executor (Chaos Mesh
// objects through controller-runtime's client) and the local one (chaos/
// local) implement it.
type Executor interface {
	// Platform is the platform of the faults this executor injects.
	Platform() Platform
	// Plan says exactly what Inject would do, without doing it: the dry
	// run. Errors: an *Error EINVALID naming the field when the fault
	// cannot be placed (an unknown service, a dependency with no proxy).
	Plan(ctx context.Context, req Request) ([]Injection, error)
	// Inject places the fault and returns what it placed. On error it
	// removes whatever it placed before returning.
	Inject(ctx context.Context, req Request) ([]Injection, error)
	// Check reports whether the injections are still in effect: nil, or
	// an error saying what was lost (an object deleted, a proxy stopped).
	Check(ctx context.Context, injs []Injection) error
	// Remove undoes the injections; removing what is gone already is not
	// an error.
	Remove(ctx context.Context, injs []Injection) error
	// Sweep removes every injection the executor placed whose run is not
	// claimed (a controller restarted after a crash), and returns how many.
	Sweep(ctx context.Context, claimed func(runID string) bool) (int, error)
}

// EventType names the events the controller reports.
type EventType string

// The event types, as the events API knows them.
const (
	EventChaosStarted     EventType = "dev.estate.chaos.started"
	EventChaosFinished    EventType = "dev.estate.chaos.finished"
	EventIncidentOpened   EventType = "dev.estate.incident.opened"
	EventIncidentResolved EventType = "dev.estate.incident.resolved"
	// EventChaosAction is the audit trail of the API: who did what.
	EventChaosAction EventType = "dev.estate.chaos.action"
)

// Event is a reliability event of a run.
type Event struct {
	// ID is stable per run and type, so that a retry is a duplicate.
	ID   string
	Type EventType
	Time time.Time
	// ExperimentID is the run's id.
	ExperimentID string
	// Kind, Target and Outcome describe a chaos event.
	Kind, Target, Outcome string
	// IncidentID, Service, Environment and Severity describe an incident.
	IncidentID, Service, Environment, Severity string
	StartedAt                                  time.Time
	// Action, Actor, Status, Remote and ForwardedFor describe an action
	// on the controller's API (EventChaosAction).
	Action, Actor, Status, Remote, ForwardedFor string
}

// EventSink receives the run's events: the collector's events API.
type EventSink interface {
	// Send delivers the event. Errors are logged and journaled; they do
	// not change the run's verdict.
	Send(ctx context.Context, e Event) error
}
