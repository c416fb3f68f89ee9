package metricshttp

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/estatehq/estate/internal/problem"
	"github.com/estatehq/estate/internal/timebound"
	"github.com/estatehq/estate/metrics"
)

// DefaultWindow is the query window when from is not given: the last week.
const DefaultWindow = 7 * 24 * time.Hour

var queryParams = []string{"service", "environment", "from", "to", "include_chaos", "format"}

// handleDORA answers GET /v1/dora?service=&environment=&from=&to=&include_chaos=&format=
// with the report of the selected services over [from, to): by default the
// last seven days up to now, every service, chaos incidents apart, JSON.
// format=text gives the table for people.
func handleDORA(o Options) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var errs []problem.FieldError
		bad := func(param, msg string) {
			errs = append(errs, problem.FieldError{Message: msg, Location: "query." + param})
		}
		for _, k := range sortedParams(q) {
			if !slices.Contains(queryParams, k) {
				bad(k, fmt.Sprintf("is not a known parameter (known: %v)", queryParams))
			}
		}
		parseTime := func(param string, def time.Time) time.Time {
			s := q.Get(param)
			if s == "" {
				return def
			}
			t, err := timebound.Parse(s)
			if err != nil {
				bad(param, err.Error())
				return def
			}
			return t
		}
		to := parseTime("to", o.Now().UTC())
		from := parseTime("from", to.Add(-DefaultWindow))
		opts := metrics.Options{}
		if s := q.Get("include_chaos"); s != "" {
			v, err := strconv.ParseBool(s)
			if err != nil {
				bad("include_chaos", "must be true or false")
			}
			opts.IncludeChaos = v
		}
		format := q.Get("format")
		if format != "" && format != "json" && format != "text" {
			bad("format", "must be json or text")
		}
		w0 := metrics.Window{From: from, To: to}
		if len(errs) == 0 {
			if err := w0.Validate(); err != nil {
				errs = append(errs, fieldErrors(err, func(field string) string { return "query." + field })...)
			}
		}
		if len(errs) > 0 {
			problem.Write(w, r, problem.New(http.StatusBadRequest, "the query is invalid", errs...))
			return
		}
		report, err := metrics.ReportFromStore(r.Context(), o.Store,
			metrics.Filter{Service: q.Get("service"), Environment: q.Get("environment")}, w0, opts)
		if err != nil {
			fail(w, r, o.Logger, err, nil)
			return
		}
		if format == "text" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_ = report.WriteText(w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = report.WriteJSON(w)
	}
}

func sortedParams(q map[string][]string) []string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
