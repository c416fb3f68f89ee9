package metricshttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/estatehq/estate/internal/problem"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/intake"
	"github.com/estatehq/estate/metrics/intake/alertmanager"
	"github.com/estatehq/estate/metrics/intake/cdevents"
	"github.com/estatehq/estate/metrics/intake/circleci"
	"github.com/estatehq/estate/metrics/intake/github"
)

// IngestResult is the answer to an ingest that took what it could.
type IngestResult struct {
	// Accepted counts the events stored by this request.
	Accepted int `json:"accepted"`
	// Duplicates counts the events whose id was stored already (a retry,
	// a redelivery): they changed nothing.
	Duplicates int `json:"duplicates"`
	// Rejected counts the items of the request (events of a batch, alerts
	// of a notification) that could not be taken; Errors names them and
	// what is wrong with each, as problem details do.
	Rejected int                  `json:"rejected"`
	Errors   []problem.FieldError `json:"errors,omitempty"`
}

// readBody reads the whole body, bounded by o.MaxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request, o Options) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, o.MaxBodyBytes))
	if err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	return body, nil
}

// store appends events and answers with the counts.
func store(w http.ResponseWriter, r *http.Request, o Options, events []metrics.Event) {
	added, err := o.Store.Append(r.Context(), events)
	if err != nil {
		fail(w, r, o.Logger, err, under("body"))
		return
	}
	o.Logger.Debug("events ingested", "path", r.URL.Path, "accepted", added, "duplicates", len(events)-added)
	writeJSON(w, http.StatusOK, IngestResult{Accepted: added, Duplicates: len(events) - added})
}

func mediaType(r *http.Request) string {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return mt
}

// handleEvents ingests CloudEvents: one in structured mode
// (application/cloudevents+json), a batch (application/cloudevents-batch+json),
// or one in binary mode (ce-* headers, data in the body).
func handleEvents(o Options, rec *recorder) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(w, r, o)
		if err != nil {
			rec.refuse(w, r, o, intakeCloudEvents, err, under("body"), nil)
			return
		}
		switch mt := mediaType(r); {
		case mt == cloudevents.ApplicationCloudEventsBatchJSON:
			b, err := parseBatch(body)
			if err != nil {
				rec.refuse(w, r, o, intakeCloudEvents, err, under("body"), body)
				return
			}
			rec.ingest(w, r, o, b)
		case mt == cloudevents.ApplicationCloudEventsJSON:
			e, err := parsePosted(body)
			if err != nil {
				rec.refuse(w, r, o, intakeCloudEvents, err, under("body"), body)
				return
			}
			store(w, r, o, []metrics.Event{e})
		case r.Header.Get("Ce-Specversion") != "":
			e, err := parseBinary(r, body)
			if err == nil {
				err = checkSource(e)
			}
			if err != nil {
				rec.refuse(w, r, o, intakeCloudEvents, err, binaryMode, body)
				return
			}
			store(w, r, o, []metrics.Event{e})
		default:
			err := metrics.Invalid("", "is not a CloudEvent: the content type is none of CloudEvents' and there is no ce-specversion header")
			if rerr := rec.record(r, intakeCloudEvents, []rejection{{reason: reasonInvalid, location: "body", item: body,
				errors: fieldErrors(err, under("body"))}}); rerr != nil {
				fail(w, r, o.Logger, rerr, nil)
				return
			}
			problem.Write(w, r, problem.New(http.StatusUnsupportedMediaType,
				"send CloudEvents as application/cloudevents+json, application/cloudevents-batch+json, or in binary mode with ce-* headers",
				problem.FieldError{Message: fmt.Sprintf("%q is not a CloudEvents content type", r.Header.Get("Content-Type")), Location: "header.Content-Type"}))
		}
	}
}

// parseBatch parses every event of a batch on its own: the valid ones are
// the batch's events, the invalid ones its rejections, by index. The
// error is for a body that is not a JSON array.
func parseBatch(body []byte) (batch, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return batch{}, metrics.Invalid("", notAnArray(err))
	}
	b := batch{intake: intakeCloudEvents, item: "event", items: "events", container: "batch",
		count: len(raws), events: make([]metrics.Event, 0, len(raws))}
	for i, raw := range raws {
		e, err := parsePosted(raw)
		if err != nil {
			at := fmt.Sprintf("body[%d]", i)
			b.rejected = append(b.rejected, rejection{reason: reasonInvalid, location: at, item: raw, errors: fieldErrors(err, under(at))})
			continue
		}
		b.events = append(b.events, e)
	}
	return b, nil
}

// parsePosted parses an event posted to the events API: a CloudEvent
// whose source is not an intake's.
func parsePosted(body []byte) (metrics.Event, error) {
	e, err := metrics.ParseEvent(body)
	if err != nil {
		return metrics.Event{}, err
	}
	return e, checkSource(e)
}

// checkSource refuses an event posted to the events API that claims an
// intake's source: events are identified by source and id, and only the
// intake may write its source, so that no sender can take the identity of
// an intake's event and make the real one a duplicate.
func checkSource(e metrics.Event) error {
	if intake.Reserved(e.Source) {
		return metrics.Invalid("source", fmt.Sprintf("%q is an intake's source (%s...): send such events to their intake", e.Source, intake.SourcePrefix))
	}
	return nil
}

// notAnArray says what is wrong with a batch that did not decode, from the
// decoder's typed error and never its text.
func notAnArray(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("is not valid JSON (at byte %d)", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("is a JSON %s, not an array", typ.Value)
	}
	return "is not a JSON array"
}

// parseBinary reads an event in binary mode with the CloudEvents SDK.
func parseBinary(r *http.Request, body []byte) (metrics.Event, error) {
	req := r.Clone(r.Context())
	req.Body = io.NopCloser(bytes.NewReader(body))
	ce, err := binaryEvent(req)
	if err != nil {
		// The SDK's errors do not name the header at fault; the usual
		// suspects are checked again here.
		if sv := r.Header.Get("Ce-Specversion"); sv != "1.0" {
			return metrics.Event{}, metrics.Invalid("specversion", fmt.Sprintf("must be \"1.0\", not %q", sv))
		}
		if ts := r.Header.Get("Ce-Time"); ts != "" {
			if _, perr := time.Parse(time.RFC3339Nano, ts); perr != nil {
				return metrics.Event{}, metrics.Invalid("time", "must be an RFC 3339 timestamp")
			}
		}
		return metrics.Event{}, metrics.Invalid("", "is not a CloudEvent in binary mode: the ce-specversion, ce-id, ce-source, ce-type and ce-time headers must be present and valid")
	}
	return metrics.FromCloudEvent(*ce)
}

// binaryEvent runs the SDK's binary-mode decoder, turning a panic into an
// error as metrics.ParseEvent does for structured mode.
func binaryEvent(req *http.Request) (ce *cloudevents.Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			ce, err = nil, fmt.Errorf("the CloudEvents decoder failed: %v", r)
		}
	}()
	return cehttp.NewEventFromHTTPRequest(req)
}

// handleCDEvents ingests one CDEvent: plain JSON, or carried by a
// CloudEvent in structured mode (the data is the CDEvent) or binary mode
// (the body is the CDEvent).
func handleCDEvents(o Options, rec *recorder) http.HandlerFunc {
	opts := cdevents.Options{LiveDeployment: func(ctx context.Context, service, env string, at time.Time) (string, error) {
		deps, _, err := metrics.Load(ctx, o.Store, metrics.Filter{Service: service, Environment: env})
		if err != nil {
			return "", err
		}
		d, err := metrics.LiveDeployment(deps, service, env, at)
		return d.ID, err
	}}
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(w, r, o)
		if err != nil {
			rec.refuse(w, r, o, intakeCDEvents, err, under("body"), nil)
			return
		}
		sent, locate := body, under("body")
		if mediaType(r) == cloudevents.ApplicationCloudEventsJSON {
			ce, err := metrics.ParseCloudEvent(body)
			if err != nil {
				rec.refuse(w, r, o, intakeCDEvents, err, locate, sent)
				return
			}
			body, locate = ce.Data(), under("body.data")
		}
		events, err := cdevents.Decode(r.Context(), body, opts)
		if err != nil {
			rec.refuse(w, r, o, intakeCDEvents, err, locate, sent)
			return
		}
		store(w, r, o, events)
	}
}

// handleAlertmanager ingests an Alertmanager notification alert by alert:
// Alertmanager gives up on a whole notification that its receiver
// refuses, so one alert that cannot be mapped must not cost the others.
func handleAlertmanager(o Options, rec *recorder) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(w, r, o)
		if err != nil {
			rec.refuse(w, r, o, intakeAlertmanager, err, under("body"), nil)
			return
		}
		mapped, err := alertmanager.Decode(body, o.Alertmanager)
		if err != nil {
			rec.refuse(w, r, o, intakeAlertmanager, err, under("body"), body)
			return
		}
		b := batch{intake: intakeAlertmanager, item: "alert", items: "alerts", container: "notification",
			count: mapped.Items, events: mapped.Events}
		for _, rj := range mapped.Rejected {
			b.rejected = append(b.rejected, rejection{reason: reasonInvalid, location: "body." + rj.Item, item: rj.Raw,
				errors: fieldErrors(rj.Err, under("body"))})
		}
		rec.ingest(w, r, o, b)
	}
}

// errOff answers a webhook whose secret is not configured: without it no
// payload can be trusted.
func errOff(w http.ResponseWriter, r *http.Request, source string) {
	problem.Write(w, r, problem.New(http.StatusNotFound, source+" webhooks are off: the server has no secret to verify them with"))
}

// handleGitHub ingests a GitHub webhook delivery, its payload sent as JSON
// or form-encoded; the signature is over the body as sent.
func handleGitHub(o Options, rec *recorder) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if o.GitHubSecret == "" {
			errOff(w, r, "GitHub")
			return
		}
		body, err := readBody(w, r, o)
		if err != nil {
			rec.refuse(w, r, o, intakeGitHub, err, under("body"), nil)
			return
		}
		if err := github.Verify(body, r.Header.Get(github.SignatureHeader), o.GitHubSecret); err != nil {
			rec.refuse(w, r, o, intakeGitHub, err, func(string) string { return "header." + github.SignatureHeader }, nil)
			return
		}
		mt := mediaType(r)
		payload, err := github.Payload(mt, body)
		if err != nil {
			rec.refuse(w, r, o, intakeGitHub, err, under("body"), body)
			return
		}
		locate := under("body")
		if mt == github.FormContentType {
			locate = under("body.payload")
		}
		events, err := github.Decode(r.Header.Get(github.EventHeader), payload)
		if err != nil {
			rec.refuse(w, r, o, intakeGitHub, err, locate, payload)
			return
		}
		store(w, r, o, events)
	}
}

func handleCircleCI(o Options, rec *recorder) http.HandlerFunc {
	opts := circleci.Options{DeployPattern: o.CircleCIDeployPattern, Environment: o.CircleCIEnvironment}
	return func(w http.ResponseWriter, r *http.Request) {
		if o.CircleCISecret == "" {
			errOff(w, r, "CircleCI")
			return
		}
		body, err := readBody(w, r, o)
		if err != nil {
			rec.refuse(w, r, o, intakeCircleCI, err, under("body"), nil)
			return
		}
		if err := circleci.Verify(body, r.Header.Get(circleci.SignatureHeader), o.CircleCISecret); err != nil {
			rec.refuse(w, r, o, intakeCircleCI, err, func(string) string { return "header." + circleci.SignatureHeader }, nil)
			return
		}
		events, err := circleci.Decode(body, opts)
		if err != nil {
			rec.refuse(w, r, o, intakeCircleCI, err, under("body"), body)
			return
		}
		store(w, r, o, events)
	}
}
