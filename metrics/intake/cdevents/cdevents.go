// Package cdevents maps CDEvents (spec v0.4; v0.3 payloads read the same)
// onto Estate events:
//
//   - service.deployed and service.upgraded: a deployment that started and
//     succeeded at the event's timestamp. Its id is
//     "cdevents/<context.source>/<context.id>"; the service is subject.id,
//     the environment subject.content.environment.id, the version
//     subject.content.artifactId. CDEvents carry no commits, so these
//     deployments add no lead time sample.
//   - service.rolledback: the deployment of that service and environment
//     that was live at the timestamp is rolled back to artifactId. CDEvents
//     do not say which deployment that is, so Options.LiveDeployment finds
//     it (metrics.LiveDeployment over the stored deployments).
//   - incident.detected and incident.reported: an incident opened at the
//     timestamp, id subject.id, service subject.content.service.id; its
//     severity is customData.severity when that is a string, else "unknown".
//   - incident.resolved: that incident resolved.
//
// Other CDEvents map to nothing. Event ids derive from context.source and
// context.id, so a redelivered CDEvent is a duplicate.
package cdevents

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/intake"
)

// Options configure Decode.
type Options struct {
	// LiveDeployment returns the id of the deployment of service in
	// environment that was in production at time at, or an error wrapping
	// metrics.ErrNotFound. It is needed for service.rolledback only.
	LiveDeployment func(ctx context.Context, service, environment string, at time.Time) (string, error)
}

// CDEvent is the part of a CDEvent that Estate reads.
type CDEvent struct {
	Context struct {
		Version   string    `json:"version"`
		ID        string    `json:"id"`
		Source    string    `json:"source"`
		Type      string    `json:"type"`
		Timestamp time.Time `json:"timestamp"`
	} `json:"context"`
	Subject struct {
		ID      string  `json:"id"`
		Source  string  `json:"source"`
		Type    string  `json:"type"`
		Content Content `json:"content"`
	} `json:"subject"`
	CustomData json.RawMessage `json:"customData"`
}

// Content is the union of the subject contents that Estate reads.
type Content struct {
	Environment struct {
		ID     string `json:"id"`
		Source string `json:"source"`
	} `json:"environment"`
	Service struct {
		ID     string `json:"id"`
		Source string `json:"source"`
	} `json:"service"`
	ArtifactID  string `json:"artifactId"`
	Description string `json:"description"`
	TicketURI   string `json:"ticketURI"`
}

// Kind returns "<subject>.<predicate>" of a CDEvents type such as
// "dev.cdevents.service.deployed.0.2.0", or "" when t is not one.
func Kind(t string) string {
	rest, ok := strings.CutPrefix(t, "dev.cdevents.")
	if !ok {
		return ""
	}
	parts := strings.SplitN(rest, ".", 3)
	if len(parts) < 3 || parts[0] == "" || parts[1] == "" {
		return ""
	}
	return parts[0] + "." + parts[1]
}

// Decode maps one CDEvent in JSON. Problems are *metrics.InvalidError
// naming the payload field; a rollback of a service with no live
// deployment is an error wrapping metrics.ErrNotFound.
func Decode(ctx context.Context, body []byte, o Options) ([]metrics.Event, error) {
	var ev CDEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, metrics.JSONProblem(err, "a CDEvent")
	}
	c := ev.Context
	switch {
	case c.Type == "":
		return nil, metrics.Invalid("context.type", "is required")
	case Kind(c.Type) == "":
		return nil, metrics.Invalid("context.type", fmt.Sprintf("%q is not a CDEvents type", c.Type))
	}
	kind := Kind(c.Type)
	switch kind {
	case "service.deployed", "service.upgraded", "service.rolledback",
		"incident.detected", "incident.reported", "incident.resolved":
	default:
		return nil, nil
	}
	switch {
	case c.ID == "":
		return nil, metrics.Invalid("context.id", "is required")
	case c.Source == "":
		return nil, metrics.Invalid("context.source", "is required")
	case c.Timestamp.IsZero():
		return nil, metrics.Invalid("context.timestamp", "is required")
	case ev.Subject.ID == "":
		return nil, metrics.Invalid("subject.id", "is required")
	}
	s, content := ev.Subject, ev.Subject.Content
	at := c.Timestamp.UTC()
	id := "cdevents/" + c.Source + "/" + c.ID
	source := intake.Source("cdevents", c.Source)
	var events []metrics.Event
	switch kind {
	case "service.deployed", "service.upgraded":
		if content.Environment.ID == "" {
			return nil, metrics.Invalid("subject.content.environment.id", "is required")
		}
		if content.ArtifactID == "" {
			return nil, metrics.Invalid("subject.content.artifactId", "is required")
		}
		events = []metrics.Event{
			{ID: id + "/started", Source: source, Time: at, Data: metrics.DeploymentStarted{
				DeploymentID: id, Service: s.ID, Environment: content.Environment.ID, Version: content.ArtifactID}},
			{ID: id + "/succeeded", Source: source, Time: at, Data: metrics.DeploymentSucceeded{DeploymentID: id}},
		}
	case "service.rolledback":
		if content.Environment.ID == "" {
			return nil, metrics.Invalid("subject.content.environment.id", "is required")
		}
		if content.ArtifactID == "" {
			return nil, metrics.Invalid("subject.content.artifactId", "is required")
		}
		if o.LiveDeployment == nil {
			return nil, &metrics.NotFoundError{What: "the live deployment that " + c.Type + " rolls back"}
		}
		deployment, err := o.LiveDeployment(ctx, s.ID, content.Environment.ID, at)
		if err != nil {
			return nil, fmt.Errorf("mapping %s: %w", c.Type, err)
		}
		events = []metrics.Event{{ID: id, Source: source, Time: at, Data: metrics.DeploymentRolledBack{
			DeploymentID: deployment, ToVersion: content.ArtifactID}}}
	case "incident.detected", "incident.reported":
		switch {
		case content.Service.ID == "":
			return nil, metrics.Invalid("subject.content.service.id", "is required to attribute the incident")
		case content.Environment.ID == "":
			return nil, metrics.Invalid("subject.content.environment.id", "is required")
		}
		events = []metrics.Event{{ID: id, Source: source, Time: at, Data: metrics.IncidentOpened{
			IncidentID: s.ID, Service: content.Service.ID, Environment: content.Environment.ID,
			Severity: severity(ev.CustomData)}}}
	case "incident.resolved":
		events = []metrics.Event{{ID: id, Source: source, Time: at, Data: metrics.IncidentResolved{IncidentID: s.ID}}}
	}
	if err := metrics.CheckMapped("subject", events...); err != nil {
		return nil, err
	}
	return events, nil
}

// severity reads customData.severity: CDEvents have no severity of their
// own.
func severity(custom json.RawMessage) string {
	var c struct {
		Severity any `json:"severity"`
	}
	if err := json.Unmarshal(custom, &c); err == nil {
		if s, ok := c.Severity.(string); ok && strings.TrimSpace(s) == s && s != "" {
			return s
		}
	}
	return "unknown"
}
