package metricshttp

import (
	"github.com/go-chi/chi/v5"
)

// Routes mounts the whole API on r, such as the collector's API router:
//
//	POST /v1/events                CloudEvents: structured, binary or batch mode
//	POST /v1/events/cdevents       CDEvents
//	POST /v1/events/alertmanager   Alertmanager webhook
//	POST /v1/events/github         GitHub deployment_status webhook (signed)
//	POST /v1/events/circleci       CircleCI workflow-completed webhook (signed)
//	GET  /v1/dora                  the DORA report of a window
//
// It fails only for options that cannot work.
func Routes(r chi.Router, o Options) error {
	o, err := o.withDefaults()
	if err != nil {
		return err
	}
	r.Post("/v1/events", handleEvents(o))
	r.Post("/v1/events/cdevents", handleCDEvents(o))
	r.Post("/v1/events/alertmanager", handleAlertmanager(o))
	r.Post("/v1/events/github", handleGitHub(o))
	r.Post("/v1/events/circleci", handleCircleCI(o))
	r.Get("/v1/dora", handleDORA(o))
	return nil
}
