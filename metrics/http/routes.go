package metricshttp

import (
	"github.com/go-chi/chi/v5"
)

// Routes mounts the whole API on r, such as the collector's API router:
//
//	POST /v1/events                CloudEvents: structured, binary or batch mode
//	POST /v1/events/cdevents       CDEvents
//	POST /v1/events/alertmanager   Alertmanager webhook
//	POST /v1/events/github         GitHub deployment_status webhook (signed; JSON or form-encoded)
//	POST /v1/events/circleci       CircleCI workflow-completed webhook (signed)
//	GET  /v1/dora                  the DORA report of a window
//
// It fails for options that cannot work, and when the intakes' series
// cannot be registered.
func Routes(r chi.Router, o Options) error {
	o, err := o.withDefaults()
	if err != nil {
		return err
	}
	rec, err := newRecorder(o)
	if err != nil {
		return err
	}
	r.Post("/v1/events", handleEvents(o, rec))
	r.Post("/v1/events/cdevents", handleCDEvents(o, rec))
	r.Post("/v1/events/alertmanager", handleAlertmanager(o, rec))
	r.Post("/v1/events/github", handleGitHub(o, rec))
	r.Post("/v1/events/circleci", handleCircleCI(o, rec))
	r.Get("/v1/dora", handleDORA(o))
	return nil
}
