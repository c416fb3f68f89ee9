// Package alertmanager maps Prometheus Alertmanager webhook notifications
// (payload version 4) onto incident events: a firing alert opens an
// incident, a resolved alert resolves it.
//
// An alert is identified by its fingerprint, which Alertmanager computes
// from its labels. The fingerprint stays the same when the same alert fires
// again after it was resolved, so the incident id is the fingerprint joined
// with the alert's startsAt ("1a30ba71cca2921f@2026-11-02T10:00:00Z"): one
// incident per firing. Every notification of one firing (repeats,
// redeliveries, the resolved one) maps to the same event ids, so they are
// idempotent.
package alertmanager

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/estatehq/estate/metrics"
)

// Options name the labels that carry what an incident needs. The zero value
// uses the defaults.
type Options struct {
	// ServiceLabel names the service; default "service".
	ServiceLabel string
	// EnvironmentLabel names the environment; default "environment".
	EnvironmentLabel string
	// SeverityLabel names the severity; default "severity". An alert
	// without it gets severity "unknown".
	SeverityLabel string
	// ChaosLabel, when set on an alert, marks the incident as caused by
	// that chaos experiment; default "chaos_experiment_id".
	ChaosLabel string
	// CauseLabel, when set on an alert, names the deployment that caused
	// it; default "cause_deployment_id".
	CauseLabel string
}

func (o Options) withDefaults() Options {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.ServiceLabel, "service")
	def(&o.EnvironmentLabel, "environment")
	def(&o.SeverityLabel, "severity")
	def(&o.ChaosLabel, "chaos_experiment_id")
	def(&o.CauseLabel, "cause_deployment_id")
	return o
}

// Webhook is the body Alertmanager posts to a webhook receiver.
type Webhook struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []Alert           `json:"alerts"`
}

// Alert is one alert of a notification.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Decode maps a webhook body onto events: for every alert, an opened event
// (a resolved notification carries the alert's labels and startsAt too, so
// an incident whose firing notification was never sent is still opened),
// and for resolved alerts a resolved event at endsAt. Problems are
// *metrics.InvalidError naming the payload field ("alerts[1].labels.service").
func Decode(body []byte, o Options) ([]metrics.Event, error) {
	o = o.withDefaults()
	var w Webhook
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, metrics.JSONProblem(err, "an Alertmanager webhook payload")
	}
	if w.Version != "4" {
		return nil, metrics.Invalid("version", fmt.Sprintf("must be \"4\", not %q", w.Version))
	}
	source := w.ExternalURL
	if source == "" {
		source = "alertmanager"
	}
	var events []metrics.Event
	for i, a := range w.Alerts {
		path := fmt.Sprintf("alerts[%d]", i)
		evs, err := mapAlert(path, a, source, o)
		if err != nil {
			return nil, err
		}
		if err := metrics.CheckMapped(path, evs...); err != nil {
			return nil, err
		}
		events = append(events, evs...)
	}
	return events, nil
}

func mapAlert(path string, a Alert, source string, o Options) ([]metrics.Event, error) {
	if a.Fingerprint == "" {
		return nil, metrics.Invalid(path+".fingerprint", "is required")
	}
	if a.StartsAt.IsZero() {
		return nil, metrics.Invalid(path+".startsAt", "is required")
	}
	label := func(name string) string { return a.Labels[name] }
	for _, name := range []string{o.ServiceLabel, o.EnvironmentLabel} {
		if label(name) == "" {
			return nil, metrics.Invalid(path+".labels."+name, "is required")
		}
	}
	severity := label(o.SeverityLabel)
	if severity == "" {
		severity = "unknown"
	}
	started := a.StartsAt.UTC()
	incident := a.Fingerprint + "@" + started.Format(time.RFC3339Nano)
	id := "alertmanager/" + incident
	events := []metrics.Event{{
		ID: id + "/opened", Source: source, Time: started,
		Data: metrics.IncidentOpened{
			IncidentID: incident, Service: label(o.ServiceLabel), Environment: label(o.EnvironmentLabel),
			Severity: severity, StartedAt: started,
			CauseDeploymentID: label(o.CauseLabel), ChaosExperimentID: label(o.ChaosLabel),
		},
	}}
	switch a.Status {
	case "firing":
	case "resolved":
		if a.EndsAt.IsZero() {
			return nil, metrics.Invalid(path+".endsAt", "is required for a resolved alert")
		}
		events = append(events, metrics.Event{
			ID: id + "/resolved", Source: source, Time: a.EndsAt.UTC(),
			Data: metrics.IncidentResolved{IncidentID: incident},
		})
	default:
		return nil, metrics.Invalid(path+".status", fmt.Sprintf("must be \"firing\" or \"resolved\", not %q", a.Status))
	}
	return events, nil
}
