package rules

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	promrules "github.com/prometheus/prometheus/rules"

	"github.com/estatehq/estate/internal/delivery"
)

// Incidents is the estate's own incident intake, which a firing alert
// opens an incident in and a resolved one resolves.
type Incidents interface {
	// Alerts takes one notification: the JSON body Alertmanager would post
	// to a webhook receiver (payload version 4), with one alert. The
	// evaluator sends a firing alert again every minute and a resolved one
	// for 15 minutes, so the intake must be idempotent (the same alert
	// maps to the same ids) and a failure is retried then. A
	// *delivery.PermanentError says the intake will never take this
	// notification (an alert without a service label, say); any other
	// error, that it could not store it now.
	Alerts(ctx context.Context, webhook []byte) error
}

// webhookBody is the body Alertmanager posts to a webhook receiver,
// version 4. It is written here again, not imported: the collector's
// adapters do not import the metrics area's (metrics/intake/alertmanager
// decodes it), and Alertmanager's own type would bring its template
// engine along; the test against a real Alertmanager keeps the two alike.
type webhookBody struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []webhookAlert    `json:"alerts"`
}

// webhookAlert is one alert of a webhookBody.
type webhookAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// incidentsReceiver names the intake as a receiver in the payloads.
const incidentsReceiver = "estate"

// webhook is the notification Alertmanager would send of one alert, as
// Prometheus's notifier hands it over: the external labels added where
// the alert lacks them, startsAt when it fired, endsAt when it resolved
// (or, while it fires, until when it holds without news), both to the
// millisecond, and the
// fingerprint of its labels, which Alertmanager computes the same way, so
// that the incident of an alert is the same whichever way it came.
func webhook(a *promrules.Alert, external labels.Labels, externalURL, generatorURL string) webhookBody {
	b := labels.NewBuilder(a.Labels)
	external.Range(func(l labels.Label) {
		if a.Labels.Get(l.Name) == "" {
			b.Set(l.Name, l.Value)
		}
	})
	ls := b.Labels().Map()
	status, ends := "firing", a.ValidUntil
	if !a.ResolvedAt.IsZero() {
		status, ends = "resolved", a.ResolvedAt
	}
	// The notifier sends times to Alertmanager to the millisecond
	// (strfmt.DateTime), and Alertmanager posts what it was sent: the
	// incident id, which holds startsAt, must be the same either way.
	starts, ends := a.FiredAt.Truncate(time.Millisecond), ends.Truncate(time.Millisecond)
	name := ls[labels.AlertName]
	return webhookBody{
		Version:           "4",
		GroupKey:          fmt.Sprintf("{}:{%s=%q}", labels.AlertName, name),
		Status:            status,
		Receiver:          incidentsReceiver,
		GroupLabels:       map[string]string{labels.AlertName: name},
		CommonLabels:      ls,
		CommonAnnotations: a.Annotations.Map(),
		ExternalURL:       externalURL,
		Alerts: []webhookAlert{{
			Status:       status,
			Labels:       ls,
			Annotations:  a.Annotations.Map(),
			StartsAt:     starts,
			EndsAt:       ends,
			GeneratorURL: generatorURL,
			Fingerprint:  fingerprint(ls),
		}},
	}
}

// incidentQueueSize bounds the notifications waiting for the intake; the
// rules manager sends again what is dropped.
const incidentQueueSize = 1024

// incidentTimeout bounds one call of the intake.
const incidentTimeout = 10 * time.Second

// incidentSender hands notifications to the intake from a goroutine of its
// own, in order, so that a slow intake never holds up an evaluation.
type incidentSender struct {
	intake  Incidents
	logger  *slog.Logger
	queue   chan []byte
	sent    *prometheus.CounterVec
	done    chan struct{}
	closing sync.Once
}

func newIncidentSender(intake Incidents, logger *slog.Logger, reg prometheus.Registerer) (*incidentSender, error) {
	s := &incidentSender{
		intake: intake, logger: logger,
		queue: make(chan []byte, incidentQueueSize),
		done:  make(chan struct{}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "estate_rules_incident_notifications_total",
			Help: "Alert notifications to the estate's incident intake, by outcome: delivered, refused (never to be taken), failed (sent again at the next notification), dropped (the queue was full).",
		}, []string{"outcome"}),
	}
	for _, o := range []string{"delivered", "refused", "failed", "dropped"} {
		s.sent.WithLabelValues(o)
	}
	if err := reg.Register(s.sent); err != nil {
		return nil, fmt.Errorf("registering incident notification series: %w", err)
	}
	return s, nil
}

// notify queues a notification of every alert.
func (s *incidentSender) notify(alerts []*promrules.Alert, external labels.Labels, externalURL, generatorURL string) {
	for _, a := range alerts {
		body, err := json.Marshal(webhook(a, external, externalURL, generatorURL))
		if err != nil {
			s.logger.Error("encoding an alert notification", "alert", a.Labels.Get(labels.AlertName), "err", err)
			continue
		}
		select {
		case s.queue <- body:
		default:
			s.sent.WithLabelValues("dropped").Inc()
			s.logger.Warn("incident intake queue full; the alert is sent again at its next notification", "alert", a.Labels.Get(labels.AlertName))
		}
	}
}

// run delivers until the queue is closed and empty.
func (s *incidentSender) run(ctx context.Context) {
	defer close(s.done)
	for body := range s.queue {
		callCtx, cancel := context.WithTimeout(ctx, incidentTimeout)
		err := s.intake.Alerts(callCtx, body)
		cancel()
		switch {
		case err == nil:
			s.sent.WithLabelValues("delivered").Inc()
		case delivery.IsPermanent(err):
			s.sent.WithLabelValues("refused").Inc()
			s.logger.Warn("the incident intake refused an alert", "err", err)
		default:
			s.sent.WithLabelValues("failed").Inc()
			s.logger.Error("the incident intake failed to take an alert; it is sent again at its next notification", "err", err)
		}
	}
}

// close stops taking notifications; run delivers those queued and ends.
func (s *incidentSender) close() { s.closing.Do(func() { close(s.queue) }) }

// fingerprint is Alertmanager's fingerprint of an alert's labels.
func fingerprint(ls map[string]string) string {
	set := make(model.LabelSet, len(ls))
	for k, v := range ls {
		set[model.LabelName(k)] = model.LabelValue(v)
	}
	return set.Fingerprint().String()
}
