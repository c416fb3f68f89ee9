// Package http is the collector's query API on the API port: logs and
// traces from the embedded store, as JSON, with RFC 9457 problem details
// for bad input.
package http

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/estatehq/estate/collector"
)

// Routes mounts the whole query API on r:
//
//	GET /v1/logs?service=&level=&q=&trace_id=&from=&to=&limit=
//	GET /v1/traces?service=&min_duration=&from=&to=&limit=
//	GET /v1/traces/{trace_id}
func Routes(r chi.Router, store collector.QueryStore, logger *slog.Logger) {
	r.Method(http.MethodGet, "/v1/logs", handleLogs(store, logger))
	r.Method(http.MethodGet, "/v1/traces", handleTraces(store, logger))
	r.Method(http.MethodGet, "/v1/traces/{trace_id}", handleTrace(store, logger))
}
