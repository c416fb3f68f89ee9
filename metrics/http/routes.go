package metricshttp

import (
	"github.com/go-chi/chi/v5"
)

// routes lists the whole API surface.
func routes(r chi.Router, o Options) {
	r.Post("/v1/events", handleEvents(o))
	r.Post("/v1/events/cdevents", handleCDEvents(o))
	r.Post("/v1/events/alertmanager", handleAlertmanager(o))
	r.Post("/v1/events/github", handleGitHub(o))
	r.Post("/v1/events/circleci", handleCircleCI(o))
	r.Get("/v1/dora", handleDORA(o))
}
