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
//
// A notification groups alerts, and Alertmanager gives up on the whole
// notification when its receiver refuses it, so the alerts are mapped one
// by one: an alert that cannot be mapped is rejected alone. An alert
// without an environment label is in the configured environment, and one
// without a service label names its service by its job label.
package alertmanager

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/intake"
)

// DefaultEnvironment is the environment of alerts without an environment
// label unless Options say otherwise.
const DefaultEnvironment = "production"

// Options name the labels that carry what an incident needs. The zero value
// uses the defaults.
type Options struct {
	// ServiceLabel names the service; default "service".
	ServiceLabel string
	// JobLabel names the service of an alert without ServiceLabel, as
	// Prometheus labels every series with the job it was scraped by;
	// default "job".
	JobLabel string
	// EnvironmentLabel names the environment; default "environment".
	EnvironmentLabel string
	// Environment is the environment of an alert without
	// EnvironmentLabel; default DefaultEnvironment.
	Environment string
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
	def(&o.JobLabel, "job")
	def(&o.EnvironmentLabel, "environment")
	def(&o.Environment, DefaultEnvironment)
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

// envelope is a Webhook whose alerts are decoded one by one, so that an
// alert of the wrong shape is rejected alone.
type envelope struct {
	Version     string            `json:"version"`
	ExternalURL string            `json:"externalURL"`
	Alerts      []json.RawMessage `json:"alerts"`
}

// Decode maps a webhook body onto events, alert by alert: for every alert,
// an opened event (a resolved notification carries the alert's labels and
// startsAt too, so an incident whose firing notification was never sent
// is still opened), and for resolved alerts a resolved event at endsAt.
// An alert that cannot be mapped is in the batch's Rejected, with a
// *metrics.InvalidError naming the payload field
// ("alerts[1].labels.service"). The error is for the payload as a whole
// (not JSON, another version): an *metrics.InvalidError.
func Decode(body []byte, o Options) (intake.Batch, error) {
	o = o.withDefaults()
	var w envelope
	if err := json.Unmarshal(body, &w); err != nil {
		return intake.Batch{}, metrics.JSONProblem(err, "an Alertmanager webhook payload")
	}
	if w.Version != "4" {
		return intake.Batch{}, metrics.Invalid("version", fmt.Sprintf("must be \"4\", not %q", w.Version))
	}
	source := intake.Source("alertmanager", w.ExternalURL)
	var b intake.Batch
	for i, raw := range w.Alerts {
		path := fmt.Sprintf("alerts[%d]", i)
		evs, err := decodeAlert(path, raw, source, o)
		b.Add(path, raw, evs, err)
	}
	return b, nil
}

func decodeAlert(path string, raw json.RawMessage, source string, o Options) ([]metrics.Event, error) {
	var a Alert
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, intake.Within(path, alertProblem(raw, err))
	}
	evs, err := mapAlert(path, a, source, o)
	if err != nil {
		return nil, err
	}
	if err := metrics.CheckMapped(path, evs...); err != nil {
		return nil, err
	}
	return evs, nil
}

// alertProblem says what is wrong with an alert that does not decode,
// naming the field: the decoder's own words name Go types, and its time
// errors no field at all.
func alertProblem(raw json.RawMessage, err error) error {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return metrics.Invalid("", "must be an object")
	}
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) && ute.Field != "" {
		return metrics.JSONProblem(err, "an alert")
	}
	for _, field := range []string{"startsAt", "endsAt"} {
		var ts time.Time
		if v, ok := obj[field]; ok && json.Unmarshal(v, &ts) != nil {
			return metrics.Invalid(field, "must be an RFC 3339 timestamp")
		}
	}
	return metrics.Invalid("", "is not an alert")
}

func mapAlert(path string, a Alert, source string, o Options) ([]metrics.Event, error) {
	if a.Fingerprint == "" {
		return nil, metrics.Invalid(path+".fingerprint", "is required")
	}
	if a.StartsAt.IsZero() {
		return nil, metrics.Invalid(path+".startsAt", "is required")
	}
	label := func(name string) string { return a.Labels[name] }
	service := label(o.ServiceLabel)
	if service == "" {
		service = label(o.JobLabel)
	}
	if service == "" {
		return nil, metrics.Invalid(path+".labels."+o.ServiceLabel, "is required (or, in its place, labels."+o.JobLabel+")")
	}
	environment := label(o.EnvironmentLabel)
	if environment == "" {
		environment = o.Environment
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
			IncidentID: incident, Service: service, Environment: environment,
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
