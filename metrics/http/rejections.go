package metricshttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/estatehq/estate/internal/deadletter"
	"github.com/estatehq/estate/internal/problem"
	"github.com/estatehq/estate/metrics"
)

// The intakes, as the intake label names them.
const (
	intakeCloudEvents  = "cloudevents"
	intakeCDEvents     = "cdevents"
	intakeAlertmanager = "alertmanager"
	intakeGitHub       = "github"
	intakeCircleCI     = "circleci"
)

// The reasons an item is rejected for, as the reason label names them.
const (
	// reasonInvalid: the item is not what the intake takes, or lacks what
	// an event needs. It is dead-lettered.
	reasonInvalid = "invalid"
	// reasonSignature: the webhook's signature does not verify. Nothing
	// of it can be trusted, so it is not dead-lettered.
	reasonSignature = "signature"
	// reasonTooLarge: the body is over the limit; it was not read whole.
	reasonTooLarge = "too_large"
)

// reasons lists the reasons each intake can reject for, so that every
// series exists, at 0, from the start: an increase from nothing to the
// first rejection is then seen by rate() and increase().
var reasons = map[string][]string{
	intakeCloudEvents:  {reasonInvalid, reasonTooLarge},
	intakeCDEvents:     {reasonInvalid, reasonTooLarge},
	intakeAlertmanager: {reasonInvalid, reasonTooLarge},
	intakeGitHub:       {reasonInvalid, reasonSignature, reasonTooLarge},
	intakeCircleCI:     {reasonInvalid, reasonSignature, reasonTooLarge},
}

// deadLetterPrefix names the intakes' dead-letter files:
// intake-<YYYY-MM-DD>.jsonl.
const deadLetterPrefix = "intake"

// deadLetter is one rejected item, as the dead-letter file keeps it: with
// what is needed to see why and to send it again once it is fixed.
type deadLetter struct {
	Time   string `json:"time"`
	Intake string `json:"intake"`
	Reason string `json:"reason"`
	// Path is the request's path ("/v1/events/alertmanager").
	Path string `json:"path"`
	// Location is where the item is in the request ("body.alerts[2]").
	Location string               `json:"location"`
	Errors   []problem.FieldError `json:"errors"`
	// Headers are the request's headers that say what the body is
	// (Content-Type, ce-*, X-GitHub-Event).
	Headers map[string]string `json:"headers,omitempty"`
	// Item is the item as it was sent, when it is JSON; ItemText when it
	// is not.
	Item     json.RawMessage `json:"item,omitempty"`
	ItemText string          `json:"item_text,omitempty"`
}

// rejection is an item that an intake could not take.
type rejection struct {
	reason string
	// location is where the item is in the request: "body[2]",
	// "body.alerts[1]", "body".
	location string
	errors   []problem.FieldError
	// item is the item as sent; nil when it is not kept.
	item []byte
}

// recorder records rejected items: counted, logged, and written to the
// dead-letter file, so that nothing sent is dropped without a trace.
type recorder struct {
	rejected *prometheus.CounterVec
	file     *deadletter.File[deadLetter] // nil: no dead-letter file
	logger   *slog.Logger
	now      func() time.Time
}

func newRecorder(o Options) (*recorder, error) {
	rec := &recorder{
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "estate_intake_rejected_total",
			Help: "Items the events API's intakes could not take, by intake and reason; the invalid ones are in the dead-letter file.",
		}, []string{"intake", "reason"}),
		logger: o.Logger,
		now:    o.Now,
	}
	for intake, rs := range reasons {
		for _, reason := range rs {
			rec.rejected.WithLabelValues(intake, reason)
		}
	}
	if err := o.Registerer.Register(rec.rejected); err != nil {
		return nil, fmt.Errorf("registering the intakes' series: %w", err)
	}
	if o.DeadLetterDir != "" {
		rec.file = deadletter.New[deadLetter](o.DeadLetterDir, deadLetterPrefix, o.Now)
	}
	return rec, nil
}

// record writes rejected to the dead-letter file, then counts and logs
// them. Errors: the dead-letter file's; then nothing is counted, and the
// request must fail so that the sender sends it again.
func (rec *recorder) record(r *http.Request, intake string, rejected []rejection) error {
	if len(rejected) == 0 {
		return nil
	}
	if rec.file != nil {
		now := rec.now().UTC().Format(time.RFC3339Nano)
		headers := describingHeaders(r)
		letters := make([]deadLetter, 0, len(rejected))
		for _, rj := range rejected {
			if rj.reason != reasonInvalid {
				continue
			}
			dl := deadLetter{Time: now, Intake: intake, Reason: rj.reason, Path: r.URL.Path,
				Location: rj.location, Errors: rj.errors, Headers: headers}
			if json.Valid(rj.item) {
				dl.Item = rj.item
			} else {
				dl.ItemText = string(rj.item)
			}
			letters = append(letters, dl)
		}
		if err := rec.file.Write(letters...); err != nil {
			return fmt.Errorf("dead-lettering rejected items: %w", err)
		}
	}
	for _, rj := range rejected {
		rec.rejected.WithLabelValues(intake, rj.reason).Inc()
		var first string
		if len(rj.errors) > 0 {
			first = rj.errors[0].Location + ": " + rj.errors[0].Message
		}
		rec.logger.Warn("intake item rejected", "intake", intake, "reason", rj.reason, "path", r.URL.Path,
			"location", rj.location, "problem", first, "problems", len(rj.errors))
	}
	return nil
}

// describingHeaders are the headers of r that say what its body is.
func describingHeaders(r *http.Request) map[string]string {
	out := map[string]string{}
	for name, values := range r.Header {
		lower := strings.ToLower(name)
		if lower == "content-type" || strings.HasPrefix(lower, "ce-") || lower == "x-github-event" || lower == "x-github-delivery" {
			out[name] = strings.Join(values, ", ")
		}
	}
	return out
}

// refuse answers a request of which nothing can be taken: its item (the
// whole body, or what it carries) is invalid, the body is too large, or
// its signature does not verify. The rejection is recorded first; other
// errors (the store's, a rollback of an unknown deployment, which the
// sender is asked to send again) are only answered. item is what is
// dead-lettered for an invalid request.
func (rec *recorder) refuse(w http.ResponseWriter, r *http.Request, o Options, intake string, err error, locate locator, item []byte) {
	var (
		mbe    *http.MaxBytesError
		reason string
	)
	switch {
	case errors.As(err, &mbe):
		reason = reasonTooLarge
	case errors.Is(err, metrics.ErrSignature):
		reason = reasonSignature
	case errors.Is(err, metrics.ErrInvalid):
		reason = reasonInvalid
	}
	if reason != "" {
		rj := rejection{reason: reason, location: locate(""), item: item}
		if reason == reasonInvalid {
			rj.errors = fieldErrors(err, locate)
		}
		if rerr := rec.record(r, intake, []rejection{rj}); rerr != nil {
			fail(w, r, o.Logger, rerr, locate)
			return
		}
	}
	fail(w, r, o.Logger, err, locate)
}

// batch is what a request of several items maps to.
type batch struct {
	intake string
	// item and items name the items ("alert", "alerts"), container what
	// holds them ("notification").
	item, items, container string
	// count is the number of items in the request.
	count    int
	events   []metrics.Event
	rejected []rejection
}

// ingest stores the events of the items that map, then records the
// rejected ones, and answers 200 with the counts and the rejected items
// named, or, when every item was rejected, 400. A store or dead-letter
// failure answers 5xx, so that the sender sends the request again: the
// events are then duplicates, and nothing of the request is lost.
func (rec *recorder) ingest(w http.ResponseWriter, r *http.Request, o Options, b batch) {
	if b.count > 0 && len(b.rejected) == b.count {
		detail := fmt.Sprintf("all %d %s in the %s are invalid; nothing was stored", b.count, b.items, b.container)
		if b.count == 1 {
			detail = fmt.Sprintf("the one %s in the %s is invalid; nothing was stored", b.item, b.container)
		}
		if err := rec.record(r, b.intake, b.rejected); err != nil {
			fail(w, r, o.Logger, err, nil)
			return
		}
		problem.Write(w, r, problem.New(http.StatusBadRequest, detail, capped(rejectedErrors(b.rejected))...))
		return
	}
	added := 0
	if len(b.events) > 0 {
		var err error
		if added, err = o.Store.Append(r.Context(), b.events); err != nil {
			fail(w, r, o.Logger, err, under("body"))
			return
		}
	}
	if err := rec.record(r, b.intake, b.rejected); err != nil {
		fail(w, r, o.Logger, err, nil)
		return
	}
	o.Logger.Debug("events ingested", "path", r.URL.Path, "accepted", added, "duplicates", len(b.events)-added, "rejected", len(b.rejected))
	writeJSON(w, http.StatusOK, IngestResult{Accepted: added, Duplicates: len(b.events) - added,
		Rejected: len(b.rejected), Errors: capped(rejectedErrors(b.rejected))})
}

func rejectedErrors(rejected []rejection) []problem.FieldError {
	var errs []problem.FieldError
	for _, rj := range rejected {
		errs = append(errs, rj.errors...)
	}
	return errs
}

// capped bounds the field errors listed in one answer.
func capped(errs []problem.FieldError) []problem.FieldError {
	if len(errs) > maxProblems {
		return errs[:maxProblems]
	}
	return errs
}
