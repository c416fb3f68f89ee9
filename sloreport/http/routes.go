// Package slohttp serves the SLOs' statuses over HTTP: the collector target
// mounts it on its API port.
package slohttp

import (
	"errors"
	"log/slog"

	"github.com/go-chi/chi/v5"

	"github.com/estatehq/estate/sloreport"
)

// Options are what the API is built from.
type Options struct {
	// Evaluator computes the statuses. Required.
	Evaluator *sloreport.Evaluator
	// Logger logs the failures the client is not shown; nil discards.
	Logger *slog.Logger
}

// Routes mounts the whole API on r:
//
//	GET /v1/slos          every SLO's status
//	GET /v1/slos/{name}   one SLO's status; 404 for an unknown name
//
// It fails only for options that cannot work.
func Routes(r chi.Router, o Options) error {
	if o.Evaluator == nil {
		return errors.New("slo API: evaluator is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r.Get("/v1/slos", handleList(o))
	r.Get("/v1/slos/{name}", handleGet(o))
	return nil
}
