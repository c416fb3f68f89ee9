package metrics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Type is a CloudEvents type that Estate understands.
type Type string

// The event types of the design brief. Nothing else is accepted.
const (
	TypeDeploymentStarted    Type = "dev.estate.deployment.started"
	TypeDeploymentSucceeded  Type = "dev.estate.deployment.succeeded"
	TypeDeploymentFailed     Type = "dev.estate.deployment.failed"
	TypeDeploymentRolledBack Type = "dev.estate.deployment.rolled_back"
	TypeIncidentOpened       Type = "dev.estate.incident.opened"
	TypeIncidentResolved     Type = "dev.estate.incident.resolved"
	TypeChaosStarted         Type = "dev.estate.chaos.started"
	TypeChaosFinished        Type = "dev.estate.chaos.finished"
	TypeChaosAction          Type = "dev.estate.chaos.action"
	// The post-deploy analysis (package rollout) records its verdict, its
	// recommendation to roll back, and the answers of the rollback hooks
	// it called.
	TypeDeploymentAnalysed            Type = "dev.estate.deployment.analysed"
	TypeDeploymentRollbackRecommended Type = "dev.estate.deployment.rollback_recommended"
	TypeDeploymentRollbackHookCalled  Type = "dev.estate.deployment.rollback_hook_called"
)

// Types lists every event type, in the order of the design brief.
func Types() []Type {
	return []Type{
		TypeDeploymentStarted, TypeDeploymentSucceeded, TypeDeploymentFailed, TypeDeploymentRolledBack,
		TypeIncidentOpened, TypeIncidentResolved, TypeChaosStarted, TypeChaosFinished,
		TypeChaosAction, TypeDeploymentAnalysed, TypeDeploymentRollbackRecommended,
		TypeDeploymentRollbackHookCalled,
	}
}

// Event is one reliability event: the CloudEvents envelope attributes that
// matter here and the typed data. Extension attributes and subject are not
// kept: nothing is computed from them.
type Event struct {
	// ID is the CloudEvents id. Events are idempotent by it and Source
	// together: a second event with a (source, id) already seen changes
	// nothing.
	ID string
	// Source is the CloudEvents source. The intakes write their own
	// (metrics/intake.SourcePrefix), which no other sender may claim.
	Source string
	// Time is the CloudEvents time, in UTC. It is when the thing happened:
	// a deployment succeeded, an incident was resolved.
	Time time.Time
	// Data is one of DeploymentStarted, DeploymentSucceeded,
	// DeploymentFailed, DeploymentRolledBack, IncidentOpened,
	// IncidentResolved, ChaosStarted, ChaosFinished, ChaosAction,
	// DeploymentAnalysed, DeploymentRollbackRecommended or
	// DeploymentRollbackHookCalled; it sets the type.
	Data Data
}

// Type returns the CloudEvents type that the data stands for, or "" when
// there is no data.
func (e Event) Type() Type {
	if e.Data == nil {
		return ""
	}
	return e.Data.EventType()
}

// Data is the typed payload of an event.
type Data interface {
	// EventType is the CloudEvents type of events carrying this data.
	EventType() Type
	validate(v *validator)
}

// Commit is one change shipped by a deployment.
type Commit struct {
	SHA         string    `json:"sha"`
	CommittedAt time.Time `json:"committed_at"`
}

// DeploymentStarted opens a deployment.
type DeploymentStarted struct {
	DeploymentID string   `json:"deployment_id"`
	Service      string   `json:"service"`
	Environment  string   `json:"environment"`
	Version      string   `json:"version"`
	Commits      []Commit `json:"commits,omitempty"`
}

// DeploymentSucceeded says the deployment reached production.
type DeploymentSucceeded struct {
	DeploymentID string `json:"deployment_id"`
}

// DeploymentFailed says the deployment never reached production.
type DeploymentFailed struct {
	DeploymentID string `json:"deployment_id"`
}

// DeploymentRolledBack says the deployment was undone, back to ToVersion.
type DeploymentRolledBack struct {
	DeploymentID string `json:"deployment_id"`
	ToVersion    string `json:"to_version"`
}

// IncidentOpened opens an incident.
type IncidentOpened struct {
	IncidentID  string `json:"incident_id"`
	Service     string `json:"service"`
	Environment string `json:"environment"`
	Severity    string `json:"severity"`
	// StartedAt is when the incident began; zero means the event time.
	StartedAt time.Time `json:"started_at,omitzero"`
	// CauseDeploymentID names the deployment that caused the incident, if
	// known; it makes that deployment a change failure.
	CauseDeploymentID string `json:"cause_deployment_id,omitempty"`
	// ChaosExperimentID marks an incident caused on purpose by a chaos
	// experiment; such incidents are reported apart.
	ChaosExperimentID string `json:"chaos_experiment_id,omitempty"`
}

// IncidentResolved closes an incident.
type IncidentResolved struct {
	IncidentID string `json:"incident_id"`
}

// ChaosStarted records the start of a chaos experiment. Outcome is optional
// at the start.
type ChaosStarted struct {
	ExperimentID string `json:"experiment_id"`
	Kind         string `json:"kind"`
	Target       string `json:"target"`
	Outcome      string `json:"outcome,omitempty"`
}

// ChaosFinished records the end of a chaos experiment and its outcome.
type ChaosFinished struct {
	ExperimentID string `json:"experiment_id"`
	Kind         string `json:"kind"`
	Target       string `json:"target"`
	Outcome      string `json:"outcome"`
}

// ChaosAction records what someone did to the chaos controller (the audit
// trail of the power to break things on purpose): the action (submit,
// dry_run, abort, halt, resume), who did it (the principal), the status it
// was answered, the run it was about, and where the request came from (the
// remote address; ForwardedFor is X-Forwarded-For as given, unverified).
// The figures ignore it.
type ChaosAction struct {
	Action       string `json:"action"`
	Actor        string `json:"actor"`
	Status       string `json:"status"`
	ExperimentID string `json:"experiment_id,omitempty"`
	Remote       string `json:"remote"`
	ForwardedFor string `json:"forwarded_for,omitempty"`
}

// The verdicts of DeploymentAnalysed.
const (
	VerdictPassed       = "passed"
	VerdictFailed       = "failed"
	VerdictInconclusive = "inconclusive"
)

// DeploymentAnalysed is the verdict of a deployment's post-deploy
// analysis: passed, failed or inconclusive, why, and the evidence (the
// analysis' numbers and queries as a JSON object, kept as sent).
type DeploymentAnalysed struct {
	DeploymentID string          `json:"deployment_id"`
	Verdict      string          `json:"verdict"`
	Reason       string          `json:"reason"`
	Evidence     json.RawMessage `json:"evidence,omitempty"`
}

// DeploymentRollbackRecommended says an analysis recommends undoing the
// deployment. DryRun is true when no rollback hook was to be called.
type DeploymentRollbackRecommended struct {
	DeploymentID string          `json:"deployment_id"`
	Reason       string          `json:"reason"`
	DryRun       bool            `json:"dry_run"`
	Evidence     json.RawMessage `json:"evidence,omitempty"`
}

// The outcomes of DeploymentRollbackHookCalled.
const (
	HookSucceeded = "succeeded"
	HookFailed    = "failed"
)

// DeploymentRollbackHookCalled records what a rollback hook's receiver
// answered when asked to roll the deployment back: the hook's name, the
// outcome after every attempt, the last HTTP status (0 for none) and
// what the receiver said.
type DeploymentRollbackHookCalled struct {
	DeploymentID string `json:"deployment_id"`
	Hook         string `json:"hook"`
	Outcome      string `json:"outcome"`
	Attempts     int    `json:"attempts"`
	Status       int    `json:"status,omitempty"`
	Detail       string `json:"detail,omitempty"`
}

// EventType implements Data.
func (DeploymentAnalysed) EventType() Type { return TypeDeploymentAnalysed }

// EventType implements Data.
func (DeploymentRollbackRecommended) EventType() Type { return TypeDeploymentRollbackRecommended }

// EventType implements Data.
func (DeploymentRollbackHookCalled) EventType() Type { return TypeDeploymentRollbackHookCalled }

// EventType implements Data.
func (DeploymentStarted) EventType() Type { return TypeDeploymentStarted }

// EventType implements Data.
func (DeploymentSucceeded) EventType() Type { return TypeDeploymentSucceeded }

// EventType implements Data.
func (DeploymentFailed) EventType() Type { return TypeDeploymentFailed }

// EventType implements Data.
func (DeploymentRolledBack) EventType() Type { return TypeDeploymentRolledBack }

// EventType implements Data.
func (IncidentOpened) EventType() Type { return TypeIncidentOpened }

// EventType implements Data.
func (IncidentResolved) EventType() Type { return TypeIncidentResolved }

// EventType implements Data.
func (ChaosStarted) EventType() Type { return TypeChaosStarted }

// EventType implements Data.
func (ChaosFinished) EventType() Type { return TypeChaosFinished }

// EventType implements Data.
func (ChaosAction) EventType() Type { return TypeChaosAction }

// ErrInvalid is matched (errors.Is) by every error that reports an invalid
// event; errors.As gives the *InvalidError with the fields at fault.
var ErrInvalid = errors.New("invalid event")

// FieldError names one part of an event at fault and what is wrong with it.
type FieldError struct {
	// Field is the path inside the structured CloudEvent: "id", "time",
	// "data.deployment_id", "data.commits[2].committed_at". Empty when the
	// event as a whole is at fault (for example, it is not JSON).
	Field string
	// Message completes the sentence that starts with Field: "is required".
	Message string
}

func (f FieldError) String() string {
	if f.Field == "" {
		return f.Message
	}
	return f.Field + " " + f.Message
}

// InvalidError reports an invalid event, naming every field at fault.
type InvalidError struct {
	Problems []FieldError
}

func (e *InvalidError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// Limits on what an event may carry. They keep every stored row and index
// key small; no real identifier comes near them.
const (
	maxStringBytes = 1024
	maxCommits     = 10000
	// maxEvidenceBytes bounds an analysis' evidence: its numbers, the
	// histogram's buckets and six queries take a few KiB.
	maxEvidenceBytes = 64 << 10
	maxDetailBytes   = 4096
)

// Validate checks e against the design brief's event table and returns an
// *InvalidError naming every field at fault, or nil.
func (e Event) Validate() error {
	v := &validator{}
	e.check(v)
	return v.err()
}

func (e Event) check(v *validator) {
	v.required("id", e.ID)
	v.required("source", e.Source)
	v.time("time", e.Time)
	if e.Data == nil {
		v.add("data", "is required")
	} else {
		e.Data.validate(v)
	}
}

type validator struct {
	problems []FieldError
	// skip lists fields that already have a problem reported elsewhere;
	// problems about them, or about what is inside them, are dropped.
	skip []string
}

func (v *validator) add(field, message string) {
	for _, s := range v.skip {
		if field == s || strings.HasPrefix(field, s+".") || strings.HasPrefix(field, s+"[") {
			return
		}
	}
	v.problems = append(v.problems, FieldError{Field: field, Message: message})
}

func (v *validator) fields() []string {
	fs := make([]string, len(v.problems))
	for i, p := range v.problems {
		fs[i] = p.Field
	}
	return fs
}

func (v *validator) err() error {
	if len(v.problems) == 0 {
		return nil
	}
	return &InvalidError{Problems: v.problems}
}

// required checks a string that must be present.
func (v *validator) required(field, s string) {
	if p := textProblem(s, true); p != "" {
		v.add(field, p)
	}
}

// optional checks a string that may be absent ("").
func (v *validator) optional(field, s string) {
	if p := textProblem(s, false); p != "" {
		v.add(field, p)
	}
}

// textProblem says what is wrong with s, or "". The checks run on every
// field of every event, so they allocate nothing unless there is a fault.
func textProblem(s string, required bool) string {
	switch {
	case s == "":
		if required {
			return "is required"
		}
		return ""
	case strings.TrimSpace(s) == "":
		return "must not be blank"
	case strings.TrimSpace(s) != s:
		return "must not start or end with white space"
	case len(s) > maxStringBytes:
		return fmt.Sprintf("must be at most %d bytes", maxStringBytes)
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	case strings.IndexByte(s, 0) >= 0:
		return "must not contain NUL characters"
	}
	return ""
}

// Times must lie in [minTime, maxTime): every duration between two of
// them then fits in int64 nanoseconds, and so does every stored time.
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

func (v *validator) time(field string, t time.Time) {
	if p := timeProblem(t); p != "" {
		v.add(field, p)
	}
}

func timeProblem(t time.Time) string {
	switch {
	case t.IsZero():
		return "is required"
	case t.Before(minTime) || !t.Before(maxTime):
		return "must be between 1970-01-01 and 2200-01-01"
	}
	return ""
}

func (d DeploymentStarted) validate(v *validator) {
	v.required("data.deployment_id", d.DeploymentID)
	v.required("data.service", d.Service)
	v.required("data.environment", d.Environment)
	v.required("data.version", d.Version)
	if len(d.Commits) > maxCommits {
		v.add("data.commits", fmt.Sprintf("must hold at most %d commits", maxCommits))
		return
	}
	field := func(i int, name string) string { return fmt.Sprintf("data.commits[%d].%s", i, name) }
	var seen map[string]int // only for long lists; short ones are scanned
	for i, c := range d.Commits {
		if p := textProblem(c.SHA, true); p != "" {
			v.add(field(i, "sha"), p)
		}
		if p := timeProblem(c.CommittedAt); p != "" {
			v.add(field(i, "committed_at"), p)
		}
		if c.SHA == "" {
			continue
		}
		// A commit listed twice would count twice in the lead time.
		j := -1
		if len(d.Commits) <= 16 {
			for k := range i {
				if d.Commits[k].SHA == c.SHA {
					j = k
					break
				}
			}
		} else {
			if seen == nil {
				seen = make(map[string]int, len(d.Commits))
			}
			if k, ok := seen[c.SHA]; ok {
				j = k
			} else {
				seen[c.SHA] = i
			}
		}
		if j >= 0 {
			v.add(field(i, "sha"), fmt.Sprintf("repeats data.commits[%d].sha", j))
		}
	}
}

func (d DeploymentSucceeded) validate(v *validator) {
	v.required("data.deployment_id", d.DeploymentID)
}

func (d DeploymentFailed) validate(v *validator) {
	v.required("data.deployment_id", d.DeploymentID)
}

func (d DeploymentRolledBack) validate(v *validator) {
	v.required("data.deployment_id", d.DeploymentID)
	v.required("data.to_version", d.ToVersion)
}

func (d IncidentOpened) validate(v *validator) {
	v.required("data.incident_id", d.IncidentID)
	v.required("data.service", d.Service)
	v.required("data.environment", d.Environment)
	v.required("data.severity", d.Severity)
	if !d.StartedAt.IsZero() {
		v.time("data.started_at", d.StartedAt)
	}
	v.optional("data.cause_deployment_id", d.CauseDeploymentID)
	v.optional("data.chaos_experiment_id", d.ChaosExperimentID)
}

func (d IncidentResolved) validate(v *validator) {
	v.required("data.incident_id", d.IncidentID)
}

func (d ChaosStarted) validate(v *validator) {
	v.required("data.experiment_id", d.ExperimentID)
	v.required("data.kind", d.Kind)
	v.required("data.target", d.Target)
	v.optional("data.outcome", d.Outcome)
}

func (d ChaosFinished) validate(v *validator) {
	v.required("data.experiment_id", d.ExperimentID)
	v.required("data.kind", d.Kind)
	v.required("data.target", d.Target)
	v.required("data.outcome", d.Outcome)
}

func (d ChaosAction) validate(v *validator) {
	v.required("data.action", d.Action)
	v.required("data.actor", d.Actor)
	v.required("data.status", d.Status)
	v.optional("data.experiment_id", d.ExperimentID)
	v.required("data.remote", d.Remote)
	v.optional("data.forwarded_for", d.ForwardedFor)
}

func (d DeploymentAnalysed) validate(v *validator) {
	v.required("data.deployment_id", d.DeploymentID)
	switch d.Verdict {
	case VerdictPassed, VerdictFailed, VerdictInconclusive:
	case "":
		v.add("data.verdict", "is required")
	default:
		v.add("data.verdict", "must be passed, failed or inconclusive")
	}
	v.required("data.reason", d.Reason)
	v.evidence("data.evidence", d.Evidence)
}

func (d DeploymentRollbackRecommended) validate(v *validator) {
	v.required("data.deployment_id", d.DeploymentID)
	v.required("data.reason", d.Reason)
	v.evidence("data.evidence", d.Evidence)
}

func (d DeploymentRollbackHookCalled) validate(v *validator) {
	v.required("data.deployment_id", d.DeploymentID)
	v.required("data.hook", d.Hook)
	switch d.Outcome {
	case HookSucceeded, HookFailed:
	case "":
		v.add("data.outcome", "is required")
	default:
		v.add("data.outcome", "must be succeeded or failed")
	}
	if d.Attempts < 1 {
		v.add("data.attempts", "must be at least 1")
	}
	if d.Status < 0 || d.Status > 999 {
		v.add("data.status", "must be an HTTP status")
	}
	if len(d.Detail) > maxDetailBytes {
		v.add("data.detail", fmt.Sprintf("must be at most %d bytes", maxDetailBytes))
	} else if !utf8.ValidString(d.Detail) {
		v.add("data.detail", "must be valid UTF-8")
	}
}

// evidence checks optional evidence: a JSON object of bounded size.
func (v *validator) evidence(field string, raw json.RawMessage) {
	switch {
	case len(raw) == 0:
	case len(raw) > maxEvidenceBytes:
		v.add(field, fmt.Sprintf("must be at most %d bytes", maxEvidenceBytes))
	case !json.Valid(raw) || bytes.TrimSpace(raw)[0] != '{':
		v.add(field, "must be a JSON object")
	}
}

// Index holds what stores index an event by: the deployment or incident it
// is about, the service and environment of opening events, and the
// deployment an incident names as its cause. Empty when not applicable.
type Index struct {
	DeploymentID      string
	IncidentID        string
	Service           string
	Environment       string
	CauseDeploymentID string
}

// Index returns what stores index e by.
func (e Event) Index() Index {
	switch d := e.Data.(type) {
	case DeploymentStarted:
		return Index{DeploymentID: d.DeploymentID, Service: d.Service, Environment: d.Environment}
	case DeploymentSucceeded:
		return Index{DeploymentID: d.DeploymentID}
	case DeploymentFailed:
		return Index{DeploymentID: d.DeploymentID}
	case DeploymentRolledBack:
		return Index{DeploymentID: d.DeploymentID}
	case DeploymentAnalysed:
		return Index{DeploymentID: d.DeploymentID}
	case DeploymentRollbackRecommended:
		return Index{DeploymentID: d.DeploymentID}
	case DeploymentRollbackHookCalled:
		return Index{DeploymentID: d.DeploymentID}
	case IncidentOpened:
		return Index{IncidentID: d.IncidentID, Service: d.Service, Environment: d.Environment, CauseDeploymentID: d.CauseDeploymentID}
	case IncidentResolved:
		return Index{IncidentID: d.IncidentID}
	}
	return Index{}
}

// ValidateAll validates a batch; the error names the index of the first
// invalid event and wraps its *InvalidError.
func ValidateAll(events []Event) error {
	for i, e := range events {
		if err := e.Validate(); err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
	}
	return nil
}

// CheckMapped validates events that an adapter made from the part of a
// foreign payload at path ("alerts[2]"). A problem is reported against that
// path, since the sender knows its payload, not the events made from it.
func CheckMapped(path string, events ...Event) error {
	for _, e := range events {
		if err := e.Validate(); err != nil {
			return &InvalidError{Problems: []FieldError{{Field: path, Message: "does not map to a valid event: " + err.Error()}}}
		}
	}
	return nil
}

// Invalid returns an *InvalidError about one field.
func Invalid(field, message string) *InvalidError {
	return &InvalidError{Problems: []FieldError{{Field: field, Message: message}}}
}

// JSONProblem turns an encoding/json decoding error of a foreign payload
// into an *InvalidError, naming the field when the error says which: what
// names the payload ("a deployment_status payload").
func JSONProblem(err error, what string) *InvalidError {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) && ute.Field != "" {
		return Invalid(ute.Field, "must be "+jsonKind(ute.Type.Kind().String()))
	}
	return Invalid("", "is not "+what+": "+err.Error())
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "a number"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return "of another type"
}
