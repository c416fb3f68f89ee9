package review

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/sloreport"
)

// ErrNotFound is the error of an incident id that no opened incident has.
var ErrNotFound = errors.New("no such incident")

// The defaults of Inputs.
const (
	DefaultLookback = 24 * time.Hour
	DefaultAround   = time.Hour
)

// Inputs are what a review is computed from.
type Inputs struct {
	// Events is the event store. Required.
	Events metrics.Store
	// Querier reads the metrics store: the ALERTS series, the SLOs'
	// indicators and the RED series. Nil leaves those out, and the
	// findings say so.
	Querier promquery.Querier
	// SLOs are every SLO known; those of the incident's service (and of
	// its environment, when an SLO's environment label names one) are
	// read.
	SLOs []sloreport.SLO
	// IncidentID names the incident. Required.
	IncidentID string
	// Lookback is how long before the incident's start its service's
	// deployments are listed; default DefaultLookback.
	Lookback time.Duration
	// Around is how long before and after the incident the metrics are
	// read: the alerts' series, the error rate before and after; default
	// DefaultAround.
	Around time.Duration
	// Now is the time of the review: the end of an incident still open,
	// and the latest time read. Zero is time.Now().
	Now time.Time
}

// Findings are what the estate knows of one incident.
type Findings struct {
	Incident Incident
	// From and To bound the changes listed: Lookback before the start, to
	// the end of the incident (At while it is open).
	From, To time.Time
	// Entries are the timeline, in time order; entries of equal times in
	// the order of their kinds (Kinds), then of their sources.
	Entries []Entry
	// SLOs are the burn of each SLO of the service during the incident;
	// empty without a Querier or when the service has no SLO.
	SLOs []SLOBurn
	// Requests are the service's requests and failures around the
	// incident, from the collector's RED series; nil without a Querier.
	Requests *Requests
	// Candidates are the possible causes that the estate recorded, for
	// the team to confirm or rule out: those the incident names first.
	Candidates []Candidate
	// Notes say what could not be read, and why.
	Notes []string
	// At is when the findings were computed: Inputs.Now.
	At time.Time
}

// Incident is the incident under review.
type Incident struct {
	ID          string
	Service     string
	Environment string
	Severity    string
	Start       time.Time
	// End is when the incident was resolved; zero while it is open.
	End time.Time
	// Duration runs from Start to End, or to Findings.At while open.
	Duration time.Duration
	// CauseDeploymentID and ChaosExperimentID are the causes that the
	// incident's opened event names, if any.
	CauseDeploymentID string
	ChaosExperimentID string
	// Alert is the fingerprint of the Alertmanager alert that opened the
	// incident ("1a30ba71cca2921f"), when an alert did.
	Alert string
	// Source is the CloudEvents source of the opened event: the
	// Alertmanager's URL for an alert.
	Source string
}

// Resolved reports whether the incident has ended.
func (i Incident) Resolved() bool { return !i.End.IsZero() }

// Cause is the recorded cause in words: "chaos experiment exp-1",
// "deployment d-101" or "unknown". A chaos experiment wins over a
// deployment: it caused the incident on purpose.
func (i Incident) Cause() string {
	switch {
	case i.ChaosExperimentID != "":
		return "chaos experiment " + i.ChaosExperimentID
	case i.CauseDeploymentID != "":
		return "deployment " + i.CauseDeploymentID
	}
	return "unknown"
}

// Kind is what an entry of the timeline records.
type Kind string

// The kinds of entries, in the order entries of equal times are listed.
const (
	KindDeploymentStarted    Kind = "deployment_started"
	KindDeploymentSucceeded  Kind = "deployment_succeeded"
	KindDeploymentFailed     Kind = "deployment_failed"
	KindChaosStarted         Kind = "chaos_started"
	KindErrorRate            Kind = "error_rate"
	KindAlertPending         Kind = "alert_pending"
	KindAlertFiring          Kind = "alert_firing"
	KindIncidentOpened       Kind = "incident_opened"
	KindDeploymentRolledBack Kind = "deployment_rolled_back"
	KindChaosFinished        Kind = "chaos_finished"
	KindAlertResolved        Kind = "alert_resolved"
	KindIncidentResolved     Kind = "incident_resolved"
	KindSLOBurn              Kind = "slo_burn"
)

// Kinds lists every kind, in the order entries of equal times are listed.
func Kinds() []Kind {
	return []Kind{
		KindDeploymentStarted, KindDeploymentSucceeded, KindDeploymentFailed, KindChaosStarted, KindErrorRate,
		KindAlertPending, KindAlertFiring, KindIncidentOpened, KindDeploymentRolledBack, KindChaosFinished,
		KindAlertResolved, KindIncidentResolved, KindSLOBurn,
	}
}

// Entry is one line of the timeline.
type Entry struct {
	Time    time.Time
	Kind    Kind
	Summary string
	Source  Source
}

// Source is where an entry comes from: an event of the event store, or a
// PromQL query of the metrics store.
type Source struct {
	EventID string
	Query   string
}

func (s Source) String() string {
	if s.EventID != "" {
		return "event " + s.EventID
	}
	return "query " + s.Query
}

// SLOBurn is how much of an SLO's error budget the incident spent.
type SLOBurn struct {
	Name        string
	DisplayName string
	Objective   float64
	// Window is the SLO's window in words: "30d rolling".
	Window string
	// During are the SLO's events in the incident, (Start, End].
	During sloreport.Events
	// BurnRate is the incident's ratio of bad events over the budget's
	// ratio; nil when the incident holds no event.
	BurnRate *float64
	// BudgetSpent is the bad events of the incident as a fraction of the
	// bad events that the SLO's window, at the incident's end, allows;
	// nil when that window holds no event.
	BudgetSpent *float64
	// BudgetLeft is the fraction of the window's budget left at the
	// incident's end; nil when the window holds no event.
	BudgetLeft *float64
	// Query names the indicator's selectors.
	Query string
}

// Requests are a service's requests and failures around an incident.
type Requests struct {
	// Before is the Around before the start; During the incident; After
	// the Around after its end, cut at Findings.At, and nil while the
	// incident is open.
	Before, During Counts
	After          *Counts
	// Peak is the highest error ratio over 5 minutes during the incident;
	// nil when no request was counted.
	Peak *Peak
	// Query names the series.
	Query string
}

// Counts are requests and failures in (From, To].
type Counts struct {
	From, To      time.Time
	Total, Failed float64
}

// Ratio is Failed / Total; nil without requests.
func (c Counts) Ratio() *float64 {
	if c.Total <= 0 {
		return nil
	}
	r := c.Failed / c.Total
	return &r
}

// Peak is the highest error ratio and when it was reached.
type Peak struct {
	At    time.Time
	Ratio float64
}

// Candidate is a possible cause of the incident.
type Candidate struct {
	// Kind is "deployment" or "chaos_experiment".
	Kind string
	ID   string
	// Named says that the incident names it as its cause.
	Named   bool
	Summary string
}

// Timeline gathers the findings of the incident in.IncidentID. Errors:
// one wrapping ErrNotFound when no opened incident has that id; the event
// store's; the Querier's (a *promquery.Error).
func Timeline(ctx context.Context, in Inputs) (Findings, error) {
	in, err := in.withDefaults()
	if err != nil {
		return Findings{}, err
	}
	events, err := in.Events.Events(ctx, metrics.Filter{})
	if err != nil {
		return Findings{}, fmt.Errorf("reading events: %w", err)
	}
	f, err := fromEvents(events, in)
	if err != nil {
		return Findings{}, err
	}
	if in.Querier == nil {
		f.Notes = append(f.Notes, "No metrics store was read: the alerts' series, the SLO burn and the error rate are left out.")
	} else if err := readMetrics(ctx, &f, in); err != nil {
		return Findings{}, err
	}
	sortEntries(f.Entries)
	return f, nil
}

func (in Inputs) withDefaults() (Inputs, error) {
	var errs []error
	if in.Events == nil {
		errs = append(errs, errors.New("events: the event store is required"))
	}
	if in.IncidentID == "" {
		errs = append(errs, errors.New("incident id: is required"))
	}
	if in.Lookback < 0 || in.Around < 0 {
		errs = append(errs, fmt.Errorf("lookback (%s) and around (%s): must not be negative", in.Lookback, in.Around))
	}
	if err := errors.Join(errs...); err != nil {
		return in, fmt.Errorf("incident review: %w", err)
	}
	if in.Lookback == 0 {
		in.Lookback = DefaultLookback
	}
	if in.Around == 0 {
		in.Around = DefaultAround
	}
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	in.Now = in.Now.UTC()
	return in, nil
}

// sortEntries orders entries by time, then kind, then source, then
// summary: the same findings always list alike.
func sortEntries(es []Entry) {
	kinds := Kinds()
	slices.SortStableFunc(es, func(a, b Entry) int {
		return cmp.Or(
			a.Time.Compare(b.Time),
			cmp.Compare(slices.Index(kinds, a.Kind), slices.Index(kinds, b.Kind)),
			strings.Compare(a.Source.EventID, b.Source.EventID),
			strings.Compare(a.Source.Query, b.Source.Query),
			strings.Compare(a.Summary, b.Summary),
		)
	})
}
