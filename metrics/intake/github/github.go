// Package github maps GitHub deployment_status webhook deliveries onto
// deployment events, after checking their X-Hub-Signature-256.
//
// Every delivery carries the whole deployment, so each one yields the
// deployment's started event (at the deployment's created_at; a duplicate
// after the first) and, for a final state, its outcome: success is
// succeeded, failure and error are failed. The deployment id is
// "github/<owner>/<repo>/<deployment id>"; event ids come from GitHub's
// deployment and status ids, so a redelivery is a duplicate.
//
// A webhook sends its payload as JSON (application/json) or as the form
// field "payload" (application/x-www-form-urlencoded); GitHub signs the
// body as it is sent, so Verify takes the body and Payload then gives the
// JSON that Decode reads.
package github

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/intake"
)

// SignatureHeader is the header that carries the payload's signature.
const SignatureHeader = "X-Hub-Signature-256"

// EventHeader is the header that names the webhook event.
const EventHeader = "X-GitHub-Event"

// FormContentType is the content type of the deliveries of a webhook set
// to send its payload form-encoded.
const FormContentType = "application/x-www-form-urlencoded"

// payloadField is the form field that carries a form-encoded delivery's
// JSON payload.
const payloadField = "payload"

// Payload returns the JSON payload of a delivery whose media type
// (Content-Type without its parameters) is mediaType: the body itself, or
// for FormContentType the body's one "payload" field, decoded. Problems
// are *metrics.InvalidError naming the field.
func Payload(mediaType string, body []byte) ([]byte, error) {
	if mediaType != FormContentType {
		return body, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, metrics.Invalid("", "is not a valid "+FormContentType+" body")
	}
	switch values := form[payloadField]; len(values) {
	case 0:
		return nil, metrics.Invalid(payloadField, "is required in a form-encoded delivery")
	case 1:
		return []byte(values[0]), nil
	default:
		return nil, metrics.Invalid(payloadField, fmt.Sprintf("must be sent once, not %d times", len(values)))
	}
}

// Verify checks header, the value of X-Hub-Signature-256
// ("sha256=<hex HMAC-SHA256 of body>"), against secret in constant time.
// Errors are *metrics.SignatureError (errors.Is metrics.ErrSignature).
func Verify(body []byte, header, secret string) error {
	if secret == "" {
		return &metrics.SignatureError{Reason: "no webhook secret configured"}
	}
	if header == "" {
		return &metrics.SignatureError{Reason: fmt.Sprintf("%s is missing", SignatureHeader)}
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return &metrics.SignatureError{Reason: fmt.Sprintf("%s must start with sha256=", SignatureHeader)}
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return &metrics.SignatureError{Reason: fmt.Sprintf("%s is not hexadecimal", SignatureHeader)}
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return &metrics.SignatureError{Reason: fmt.Sprintf("%s does not match the payload", SignatureHeader)}
	}
	return nil
}

// Sign returns the X-Hub-Signature-256 value of body under secret, as
// GitHub computes it.
func Sign(body []byte, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// DeploymentStatusEvent is the part of a deployment_status delivery that
// Estate reads.
type DeploymentStatusEvent struct {
	Action           string `json:"action"`
	DeploymentStatus struct {
		ID        int64     `json:"id"`
		State     string    `json:"state"`
		CreatedAt time.Time `json:"created_at"`
	} `json:"deployment_status"`
	Deployment struct {
		ID          int64           `json:"id"`
		SHA         string          `json:"sha"`
		Ref         string          `json:"ref"`
		Environment string          `json:"environment"`
		CreatedAt   time.Time       `json:"created_at"`
		Payload     json.RawMessage `json:"payload"`
	} `json:"deployment"`
	Repository struct {
		Name     string `json:"name"`
		FullName string `json:"full_name"`
	} `json:"repository"`
}

// Decode maps a delivery of the webhook event named by X-GitHub-Event.
// Events other than deployment_status (ping, say) map to nothing. The
// service is the repository's name, unless the deployment's payload has a
// "service" string (one repository deploying several services). Problems
// are *metrics.InvalidError naming the payload field.
func Decode(event string, body []byte) ([]metrics.Event, error) {
	if event != "deployment_status" {
		return nil, nil
	}
	var p DeploymentStatusEvent
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, metrics.JSONProblem(err, "a deployment_status payload")
	}
	d, s, repo := p.Deployment, p.DeploymentStatus, p.Repository
	switch {
	case d.ID == 0:
		return nil, metrics.Invalid("deployment.id", "is required")
	case s.ID == 0:
		return nil, metrics.Invalid("deployment_status.id", "is required")
	case repo.FullName == "" || repo.Name == "":
		return nil, metrics.Invalid("repository.full_name", "is required")
	case d.Environment == "":
		return nil, metrics.Invalid("deployment.environment", "is required")
	case d.CreatedAt.IsZero():
		return nil, metrics.Invalid("deployment.created_at", "is required")
	case s.CreatedAt.IsZero():
		return nil, metrics.Invalid("deployment_status.created_at", "is required")
	}
	service := repo.Name
	if len(d.Payload) > 0 {
		var extra struct {
			Service string `json:"service"`
		}
		// The payload is free-form: an object without a usable service
		// field, or not an object at all, simply names no service.
		if err := json.Unmarshal(d.Payload, &extra); err == nil && extra.Service != "" {
			service = extra.Service
		}
	}
	version := d.SHA
	if version == "" {
		version = d.Ref
	}
	if version == "" {
		return nil, metrics.Invalid("deployment.sha", "is required")
	}
	deployment := "github/" + repo.FullName + "/" + strconv.FormatInt(d.ID, 10)
	source := intake.Source("github", "https://github.com/"+repo.FullName)
	events := []metrics.Event{{
		ID: deployment + "/started", Source: source, Time: d.CreatedAt.UTC(),
		Data: metrics.DeploymentStarted{DeploymentID: deployment, Service: service, Environment: d.Environment, Version: version},
	}}
	statusID := deployment + "/statuses/" + strconv.FormatInt(s.ID, 10)
	switch s.State {
	case "success":
		events = append(events, metrics.Event{ID: statusID, Source: source, Time: s.CreatedAt.UTC(),
			Data: metrics.DeploymentSucceeded{DeploymentID: deployment}})
	case "failure", "error":
		events = append(events, metrics.Event{ID: statusID, Source: source, Time: s.CreatedAt.UTC(),
			Data: metrics.DeploymentFailed{DeploymentID: deployment}})
	case "queued", "pending", "in_progress", "inactive":
		// The deployment has started (or, inactive, been superseded): the
		// started event says all there is.
	default:
		return nil, metrics.Invalid("deployment_status.state", fmt.Sprintf("%q is not a GitHub deployment state", s.State))
	}
	if err := metrics.CheckMapped("deployment", events...); err != nil {
		return nil, err
	}
	return events, nil
}
