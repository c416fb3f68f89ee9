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
//
// Every route needs a role (Access), and every action is audit-logged:
// who, what, when, from where.
package chaoshttp

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/estatehq/estate/chaos"
	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/problem"
)

// Options are what the API is built from.
type Options struct {
	Controller *chaos.Controller
	// Authenticator checks every request's credentials against Access.
	Authenticator *auth.Authenticator
	// Logger receives the audit log of every action.
	Logger *slog.Logger
	// Events, when set, receives every action as a
	// dev.estate.chaos.action event: the collector's events API.
	Events chaos.EventSink
	Now    func() time.Time
}

// Access is what each route requires: starting chaos needs chaos.operate;
// stopping it is open to chaos.halt too; reading it to either, and to
// observability.read.
var Access = auth.RouteTable{
	"POST /v1/experiments":             auth.Need(auth.RoleChaosOperate),
	"POST /v1/experiments/{id}/abort":  auth.Need(auth.RoleChaosOperate),
	"POST /v1/resume":                  auth.Need(auth.RoleChaosOperate),
	"POST /v1/halt":                    auth.Need(auth.RoleChaosHalt, auth.RoleChaosOperate),
	"GET /v1/experiments":              reader,
	"GET /v1/experiments/{id}":         reader,
	"GET /v1/experiments/{id}/journal": reader,
	"GET /v1/halt":                     reader,
}

var reader = auth.Need(auth.RoleChaosOperate, auth.RoleChaosHalt, auth.RoleObservabilityRead)

// NewServer returns the API's handler, which requires of each route what
// Access says.
func NewServer(o Options) http.Handler {
	r := NewRouter(o)
	return o.Authenticator.Guard(r, Access)(r)
}

// NewRouter returns the API's routes without their guard, for listing them
// (auth.Walk); serve NewServer.
func NewRouter(o Options) chi.Router {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := chi.NewRouter()
	problem.Route(r)
	r.Post("/v1/experiments", audited(o, "submit", handleSubmit(o)))
	r.Get("/v1/experiments", handleList(o))
	r.Get("/v1/experiments/{id}", handleGet(o))
	r.Get("/v1/experiments/{id}/journal", handleJournal(o))
	r.Post("/v1/experiments/{id}/abort", audited(o, "abort", handleAbort(o)))
	r.Post("/v1/halt", audited(o, "halt", handleHalt(o)))
	r.Get("/v1/halt", handleHaltState(o))
	r.Post("/v1/resume", audited(o, "resume", handleResume(o)))
	return r
}
