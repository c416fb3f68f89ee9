// Package rollouthttp serves the post-deploy analyses over HTTP; the
// collector target mounts it on its API port.
package rollouthttp

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/estatehq/estate/internal/problem"
	"github.com/estatehq/estate/internal/timebound"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/rollout"
)

// Analyses is what the API reads: a *rollout.Analyser.
type Analyses interface {
	Analyses(ctx context.Context, f rollout.Filter) ([]rollout.Status, error)
	Analysis(ctx context.Context, deploymentID string) (rollout.Status, error)
}

// List is the body of GET /v1/analyses.
type List struct {
	Analyses []rollout.Status `json:"analyses"`
}

// states are the values of ?state=.
var states = []string{rollout.Running, string(rollout.Passed), string(rollout.Failed), string(rollout.Inconclusive)}

// Routes mounts the API on r:
//
//	GET /v1/analyses                    the analyses, latest deployment
//	                                    first; ?service= ?environment=
//	                                    ?state= (running, passed, failed,
//	                                    inconclusive) ?from= ?to= (the
//	                                    deployment's time in production)
//	GET /v1/analyses/{deployment_id}    one analysis with its evidence:
//	                                    the numbers, the tests, the
//	                                    queries; 404 when there is none
func Routes(r chi.Router, a Analyses, logger *slog.Logger) error {
	if a == nil {
		return errors.New("rollouthttp: the analyses are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r.Get("/v1/analyses", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f := rollout.Filter{Service: q.Get("service"), Environment: q.Get("environment"), State: q.Get("state")}
		var bad []problem.FieldError
		if f.State != "" && !slices.Contains(states, f.State) {
			bad = append(bad, problem.FieldError{Location: "query.state", Message: "must be running, passed, failed or inconclusive", Value: f.State})
		}
		for name, to := range map[string]*time.Time{"from": &f.From, "to": &f.To} {
			if v := q.Get(name); v != "" {
				t, err := timebound.Parse(v)
				if err != nil {
					bad = append(bad, problem.FieldError{Location: "query." + name, Message: err.Error(), Value: v})
					continue
				}
				*to = t
			}
		}
		slices.SortFunc(bad, func(x, y problem.FieldError) int { return strings.Compare(x.Location, y.Location) })
		if len(bad) > 0 {
			problem.Write(w, r, problem.New(http.StatusBadRequest, "the filter is not valid", bad...))
			return
		}
		list, err := a.Analyses(r.Context(), f)
		if err != nil {
			fail(w, r, logger, err)
			return
		}
		if list == nil {
			list = []rollout.Status{}
		}
		write(w, List{Analyses: list})
	})
	r.Get("/v1/analyses/{deployment_id}", func(w http.ResponseWriter, r *http.Request) {
		id, ok := problem.PathParam(w, r, "deployment_id", "the deployment id")
		if !ok {
			return
		}
		s, err := a.Analysis(r.Context(), id)
		if err != nil {
			fail(w, r, logger, err)
			return
		}
		write(w, s)
	})
	return nil
}

func write(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	if errors.Is(err, metrics.ErrNotFound) {
		problem.Write(w, r, problem.New(http.StatusNotFound, err.Error()))
		return
	}
	logger.Error("reading analyses", "err", err)
	problem.Write(w, r, problem.New(http.StatusServiceUnavailable, "the event store did not answer; ask again"))
}
