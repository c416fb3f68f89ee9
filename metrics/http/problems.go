package metricshttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/estatehq/estate/internal/problem"
	"github.com/estatehq/estate/metrics"
)

// maxProblems bounds the field errors listed in one answer.
const maxProblems = 50

// locator turns the field of a metrics.FieldError into where it is in the
// request ("body.data.service", "body[3].time", "header.ce-id").
type locator func(field string) string

// under locates fields inside the JSON at prefix ("body", "body[3]",
// "body.data").
func under(prefix string) locator {
	return func(field string) string {
		switch {
		case field == "":
			return prefix
		case strings.HasPrefix(field, "["):
			return prefix + field
		}
		return prefix + "." + field
	}
}

// binaryMode locates the fields of an event sent in binary mode: envelope
// attributes are ce-* headers, data is the body.
func binaryMode(field string) string {
	switch {
	case field == "":
		return "body"
	case field == "data":
		return "body"
	case strings.HasPrefix(field, "data."), strings.HasPrefix(field, "data["):
		return "body" + strings.TrimPrefix(field, "data")
	case field == "datacontenttype":
		return "header.Content-Type"
	}
	return "header.ce-" + field
}

// fieldErrors turns an invalid-event error into problem field errors.
func fieldErrors(err error, locate locator) []problem.FieldError {
	var ie *metrics.InvalidError
	if !errors.As(err, &ie) {
		// Only invalid-event errors carry words meant for the sender.
		return []problem.FieldError{{Message: "is invalid", Location: locate("")}}
	}
	out := make([]problem.FieldError, 0, len(ie.Problems))
	for _, p := range ie.Problems {
		out = append(out, problem.FieldError{Message: p.String(), Location: locate(p.Field)})
	}
	return out
}

// fail answers err with the status that tells the client what to do. It
// is the one table that maps domain errors to HTTP statuses. Internal
// errors are logged and never shown.
func fail(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error, locate locator) {
	if locate == nil {
		locate = under("body")
	}
	var (
		mbe *http.MaxBytesError
		p   *problem.Details
	)
	switch {
	case errors.As(err, &mbe):
		p = problem.New(http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes; send smaller batches", mbe.Limit))
	case errors.Is(err, metrics.ErrInvalid):
		p = problem.New(http.StatusBadRequest, "the request is invalid; nothing was stored", fieldErrors(err, locate)...)
	case errors.Is(err, metrics.ErrSignature):
		p = problem.New(http.StatusUnauthorized, "the payload's signature does not verify; nothing was stored")
		var se *metrics.SignatureError
		if errors.As(err, &se) {
			p.Errors = []problem.FieldError{{Message: se.Reason, Location: locate("")}}
		}
	case errors.Is(err, metrics.ErrNotFound):
		what := "a deployment the event refers to"
		var nf *metrics.NotFoundError
		if errors.As(err, &nf) {
			what = nf.What
		}
		p = problem.New(http.StatusConflict, "not found: "+what+"; nothing was stored, send it again once the deployment is known")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		logger.Warn("request ended before it was served", "path", r.URL.Path, "err", err)
		p = problem.New(http.StatusServiceUnavailable, "the request ended before it was served; send it again")
	default:
		logger.Error("serving metrics request", "path", r.URL.Path, "err", err)
		p = problem.New(http.StatusInternalServerError, "the server could not complete the request; nothing was changed, send it again")
	}
	p.Errors = capped(p.Errors)
	problem.Write(w, r, p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
