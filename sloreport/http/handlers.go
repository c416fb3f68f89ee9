package slohttp

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/estatehq/estate/internal/problem"
	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/sloreport"
)

// The JSON of a status. Counts are events; ratios are fractions of 1;
// windows are in OpenSLO's shorthand (5m, 30d).
type (
	statusJSON struct {
		Name        string            `json:"name"`
		DisplayName string            `json:"display_name,omitempty"`
		Service     string            `json:"service"`
		Description string            `json:"description,omitempty"`
		Labels      map[string]string `json:"labels,omitempty"`
		Objective   float64           `json:"objective"`
		Window      windowJSON        `json:"window"`
		At          time.Time         `json:"at"`
		State       sloreport.State   `json:"state"`
		Events      eventsJSON        `json:"events"`
		// Attainment is null without events.
		Attainment  *float64   `json:"attainment"`
		ErrorBudget budgetJSON `json:"error_budget"`
		BurnRates   []burnJSON `json:"burn_rates"`
		// Burning are the burn alerts whose condition holds.
		Burning []alertJSON `json:"burning"`
	}
	windowJSON struct {
		Kind sloreport.WindowKind `json:"kind"`
		// Length is the rolling length (30d) or the calendar unit (month).
		Length string    `json:"length"`
		Start  time.Time `json:"start"`
		End    time.Time `json:"end"`
	}
	eventsJSON struct {
		Total float64 `json:"total"`
		Good  float64 `json:"good"`
		Bad   float64 `json:"bad"`
	}
	budgetJSON struct {
		AllowedEvents   float64 `json:"allowed_events"`
		RemainingEvents float64 `json:"remaining_events"`
		RemainingRatio  float64 `json:"remaining_ratio"`
		// TimeLeftSeconds is null when the budget is not running out.
		TimeLeftSeconds *float64 `json:"time_left_seconds"`
	}
	burnJSON struct {
		Window string `json:"window"`
		// Rate is null when the window holds no event.
		Rate   *float64   `json:"rate"`
		Events eventsJSON `json:"events"`
		// Counted says whether the window holds enough events for the rate
		// to count (the low-traffic guard).
		Counted bool `json:"counted"`
	}
	alertJSON struct {
		Severity    sloreport.Severity `json:"severity"`
		LongWindow  string             `json:"long_window"`
		ShortWindow string             `json:"short_window"`
		Threshold   float64            `json:"threshold"`
	}
)

func toJSON(st sloreport.Status) statusJSON {
	s := st.SLO
	length := sloreport.FormatDuration(s.Window.Length)
	if s.Window.Kind == sloreport.Calendar {
		length = string(s.Window.Unit)
	}
	events := func(e sloreport.Events) eventsJSON { return eventsJSON{Total: e.Total, Good: e.Good, Bad: e.Bad} }
	out := statusJSON{
		Name: s.Name, DisplayName: s.DisplayName, Service: s.Service, Description: s.Description, Labels: s.Labels,
		Objective:  s.Objective,
		Window:     windowJSON{Kind: s.Window.Kind, Length: length, Start: st.Start.UTC(), End: st.End.UTC()},
		At:         st.At.UTC(),
		State:      st.State,
		Events:     events(st.Events),
		Attainment: st.Attainment,
		ErrorBudget: budgetJSON{
			AllowedEvents: st.Budget.Allowed, RemainingEvents: st.Budget.Remaining, RemainingRatio: st.Budget.RemainingRatio,
		},
		BurnRates: []burnJSON{},
		Burning:   []alertJSON{},
	}
	if left := st.Budget.TimeLeft; left != nil {
		secs := left.Seconds()
		out.ErrorBudget.TimeLeftSeconds = &secs
	}
	for _, br := range st.BurnRates {
		out.BurnRates = append(out.BurnRates, burnJSON{Window: sloreport.FormatDuration(br.Window), Rate: br.Rate, Events: events(br.Events), Counted: br.Counted})
	}
	for _, a := range st.Burning {
		out.Burning = append(out.Burning, alertJSON{Severity: a.Severity, LongWindow: sloreport.FormatDuration(a.Long), ShortWindow: sloreport.FormatDuration(a.Short), Threshold: a.Threshold})
	}
	return out
}

// handleList answers GET /v1/slos with every SLO's status, by name.
func handleList(o Options) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		all, err := o.Evaluator.Statuses(r.Context())
		if err != nil {
			fail(w, r, o, err)
			return
		}
		slices.SortFunc(all, func(a, b sloreport.Status) int { return strings.Compare(a.SLO.Name, b.SLO.Name) })
		out := struct {
			SLOs []statusJSON `json:"slos"`
		}{SLOs: []statusJSON{}}
		for _, st := range all {
			out.SLOs = append(out.SLOs, toJSON(st))
		}
		writeJSON(w, out)
	}
}

// handleGet answers GET /v1/slos/{name} with the SLO's status.
func handleGet(o Options) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		st, err := o.Evaluator.Status(r.Context(), chi.URLParam(r, "name"))
		if err != nil {
			fail(w, r, o, err)
			return
		}
		writeJSON(w, toJSON(st))
	}
}

// fail answers err with the status that tells the client what to do: the
// one table from errors to statuses. The metrics store's words are logged,
// not shown.
func fail(w http.ResponseWriter, r *http.Request, o Options, err error) {
	var qe *promquery.Error
	switch {
	case errors.Is(err, sloreport.ErrNotFound):
		problem.Write(w, r, problem.New(http.StatusNotFound, "no SLO is named "+chi.URLParam(r, "name")+"; GET /v1/slos lists them"))
	case errors.As(err, &qe) && (qe.Type == promquery.ErrUnavailable || qe.Type == promquery.ErrTimeout || qe.Type == promquery.ErrCanceled):
		o.Logger.Warn("computing SLOs", "path", r.URL.Path, "err", err)
		problem.Write(w, r, problem.New(http.StatusServiceUnavailable, "the metrics store did not answer in time; ask again"))
	default:
		o.Logger.Error("computing SLOs", "path", r.URL.Path, "err", err)
		problem.Write(w, r, problem.New(http.StatusInternalServerError, "the SLOs could not be computed"))
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
