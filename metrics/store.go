package metrics

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Store keeps the event log. The sqlite and postgres subpackages implement
// it; metricstest.Run is the test suite both pass.
type Store interface {
	// Append validates every event, then stores, in one transaction, those
	// whose (source, id) is not stored yet: an event is identified by both,
	// as CloudEvents says, so one source's id never stands for another
	// source's event. A repeated (source, id) changes nothing, even when the
	// repeat's content differs. It returns how many events were new.
	// Errors: one wrapping ErrInvalid (with the *InvalidError, and the
	// index of the first invalid event in its text) when any event is
	// invalid, and then nothing is stored; the context's error; otherwise a
	// storage error, and nothing is stored.
	Append(ctx context.Context, events []Event) (added int, err error)

	// Events returns the stored events needed to compute the figures of the
	// (service, environment) pairs that f selects, ordered by time, id,
	// then source:
	// the events of every deployment and incident opened in a selected pair
	// (follow-ups included), and the events of incidents of any pair that
	// name one of those deployments as their cause. With the zero Filter it
	// returns every stored event, chaos events and follow-ups of unknown
	// deployments and incidents included. Errors: the context's error, or a
	// storage error.
	Events(ctx context.Context, f Filter) ([]Event, error)
}

// Filter selects (service, environment) pairs; an empty field selects all.
type Filter struct {
	Service     string
	Environment string
}

// Matches reports whether the pair is selected.
func (f Filter) Matches(service, environment string) bool {
	return (f.Service == "" || f.Service == service) && (f.Environment == "" || f.Environment == environment)
}

// ErrNotFound is returned when something looked up does not exist.
var ErrNotFound = errors.New("not found")

// NotFoundError says, in words a sender may read, what was looked up and
// not found. errors.Is(err, ErrNotFound) holds for it.
type NotFoundError struct{ What string }

func (e *NotFoundError) Error() string { return e.What + ": " + ErrNotFound.Error() }

// Is makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// SignatureError says, in words a sender may read, why a webhook payload's
// signature does not verify. errors.Is(err, ErrSignature) holds for it.
type SignatureError struct{ Reason string }

func (e *SignatureError) Error() string { return e.Reason + ": " + ErrSignature.Error() }

// Is makes errors.Is(err, ErrSignature) true.
func (e *SignatureError) Is(target error) bool { return target == ErrSignature }

// ErrSignature is wrapped by the webhook adapters when a payload's
// signature is missing, malformed or wrong: the sender does not hold the
// shared secret, and nothing from the payload may be used.
var ErrSignature = errors.New("signature does not verify")

// Load reads the events that f needs from s and folds them.
func Load(ctx context.Context, s Store, f Filter) ([]Deployment, []Incident, error) {
	events, err := s.Events(ctx, f)
	if err != nil {
		return nil, nil, fmt.Errorf("loading events: %w", err)
	}
	deployments, incidents := Fold(events)
	return deployments, incidents, nil
}

// ReportFromStore computes the report of the pairs that f selects from the
// events in s. Errors: an invalid window, or the store's.
func ReportFromStore(ctx context.Context, s Store, f Filter, w Window, o Options) (Report, error) {
	if err := w.Validate(); err != nil {
		return Report{}, fmt.Errorf("computing report: %w", err)
	}
	deployments, incidents, err := Load(ctx, s, f)
	if err != nil {
		return Report{}, err
	}
	r, err := Compute(deployments, incidents, w, o)
	if err != nil {
		return Report{}, err
	}
	return r.Filter(f), nil
}

// Filter keeps the services that f selects.
func (r Report) Filter(f Filter) Report {
	kept := make([]ServiceReport, 0, len(r.Services))
	for _, s := range r.Services {
		if f.Matches(s.Service, s.Environment) {
			kept = append(kept, s)
		}
	}
	r.Services = kept
	return r
}

// LiveDeployment returns the deployment of service in environment that was
// in production at time at: of the deployments that succeeded at or before
// at and were not rolled back by then, the one that succeeded last (ties:
// the greatest id). It serves sources that report a rollback without
// saying which deployment it undoes (CDEvents service.rolledback).
// Errors: a *NotFoundError (ErrNotFound) when there is none.
func LiveDeployment(deployments []Deployment, service, environment string, at time.Time) (Deployment, error) {
	var (
		best  Deployment
		found bool
	)
	for _, d := range deployments {
		if !d.Started || d.Service != service || d.Environment != environment || !d.Succeeded() || d.SucceededAt.After(at) {
			continue
		}
		if d.RolledBack() && !d.RolledBackAt.After(at) {
			continue
		}
		if !found || d.SucceededAt.After(best.SucceededAt) || (d.SucceededAt.Equal(best.SucceededAt) && d.ID > best.ID) {
			best, found = d, true
		}
	}
	if !found {
		return Deployment{}, &NotFoundError{What: fmt.Sprintf("no deployment of %q in %q in production at %s",
			service, environment, at.UTC().Format(time.RFC3339))}
	}
	return best, nil
}
