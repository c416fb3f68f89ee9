package reviewhttp

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/estatehq/estate/internal/problem"
	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/sloreport/review"
)

// mediaTypes are the media type of each format.
var mediaTypes = map[string]string{
	"json":     "application/json",
	"markdown": "text/markdown; charset=utf-8",
	"text":     "text/plain; charset=utf-8",
}

// handleTimeline answers GET {pattern} with the review of the incident
// {id}, in the format asked for.
func handleTimeline(o Options) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept")
		id, ok := problem.PathParam(w, r, "id", "the incident id")
		if !ok {
			return
		}
		format, ok := negotiate(r)
		if !ok {
			problem.Write(w, r, problem.New(http.StatusBadRequest, "the format is json, markdown or text",
				problem.FieldError{Message: "must be json, markdown or text", Location: "query.format", Value: r.URL.Query().Get("format")}))
			return
		}
		f, err := review.Timeline(r.Context(), review.Inputs{
			Events: o.Events, Querier: o.Querier, SLOs: o.SLOs, IncidentID: id,
			Lookback: o.Lookback, Around: o.Around, Now: o.Now(),
		})
		if err != nil {
			fail(w, r, o, id, err)
			return
		}
		// Rendered whole before the status is written: a failure is then
		// still a problem, not half a document.
		var b bytes.Buffer
		if err := f.Write(&b, format); err != nil {
			fail(w, r, o, id, err)
			return
		}
		w.Header().Set("Content-Type", mediaTypes[format])
		_, _ = w.Write(b.Bytes())
	}
}

// negotiate picks the format: ?format= when given, else the most
// preferred of the formats' media types in Accept, else JSON. ok is false
// for an unknown ?format=.
func negotiate(r *http.Request) (format string, ok bool) {
	if q := r.URL.Query(); q.Has("format") {
		f := q.Get("format")
		_, ok := mediaTypes[f]
		return f, ok
	}
	type choice struct {
		format string
		q      float64
		order  int
	}
	var choices []choice
	for i, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if s, ok := params["q"]; ok {
			if q, err = strconv.ParseFloat(s, 64); err != nil {
				continue
			}
		}
		for f, t := range mediaTypes {
			if base, _, _ := strings.Cut(t, ";"); base == mt && q > 0 {
				choices = append(choices, choice{f, q, i})
			}
		}
	}
	if len(choices) == 0 {
		return "json", true
	}
	best := slices.MinFunc(choices, func(a, b choice) int { return cmp.Or(cmp.Compare(b.q, a.q), cmp.Compare(a.order, b.order)) })
	return best.format, true
}

// fail answers err with the status that tells the client what to do: the
// one table from errors to statuses. The stores' words are logged, not
// shown.
func fail(w http.ResponseWriter, r *http.Request, o Options, id string, err error) {
	var qe *promquery.Error
	switch {
	case errors.Is(err, review.ErrNotFound):
		problem.Write(w, r, problem.New(http.StatusNotFound, fmt.Sprintf("no incident has the id %q", id)))
	case errors.As(err, &qe) && (qe.Type == promquery.ErrUnavailable || qe.Type == promquery.ErrTimeout || qe.Type == promquery.ErrCanceled):
		o.Logger.Warn("reviewing an incident", "incident", id, "err", err)
		problem.Write(w, r, problem.New(http.StatusServiceUnavailable, "the metrics store did not answer in time; ask again"))
	default:
		o.Logger.Error("reviewing an incident", "incident", id, "err", err)
		problem.Write(w, r, problem.New(http.StatusInternalServerError, "the incident's review could not be computed"))
	}
}
