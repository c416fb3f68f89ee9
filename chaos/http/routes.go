// Package chaoshttp is the chaos controller's HTTP API (port 8089) and its
// client, which `estate chaos` uses:
//
//	POST /v1/experiments                 start an experiment (YAML or JSON); ?dry_run=true says what would be injected where, and injects nothing
//	GET  /v1/experiments                 runs, newest first (?state=, ?parent=, ?limit=)
//	GET  /v1/experiments/{id}            a run: status, verdict and journal
//	GET  /v1/experiments/{id}/journal    a run's journal after ?after=SEQ, for following a run live
//	POST /v1/experiments/{id}/abort      abort a run or a schedule
//	POST /v1/halt                        the kill switch: abort every run, refuse new ones
//	POST /v1/resume                      allow runs again
//	GET  /v1/halt                        the kill switch's state
package chaoshttp

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/estatehq/estate/chaos"
	"github.com/estatehq/estate/internal/problem"
)

// Options are what the API is built from.
type Options struct {
	Controller *chaos.Controller
	Logger     *slog.Logger
}

// NewServer returns the API's handler.
func NewServer(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := chi.NewRouter()
	problem.Route(r)
	r.Post("/v1/experiments", handleSubmit(o))
	r.Get("/v1/experiments", handleList(o))
	r.Get("/v1/experiments/{id}", handleGet(o))
	r.Get("/v1/experiments/{id}/journal", handleJournal(o))
	r.Post("/v1/experiments/{id}/abort", handleAbort(o))
	r.Post("/v1/halt", handleHalt(o))
	r.Get("/v1/halt", handleHaltState(o))
	r.Post("/v1/resume", handleResume(o))
	return r
}
