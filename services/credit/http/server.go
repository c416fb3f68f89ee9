// Package http is the HTTP edge of the credit service: huma operations on a
// chi router (the whole API surface in routes.go), the wire format, the
// mapping of domain errors onto RFC 9457 problems (503 with Retry-After when
// the invoicing service is unavailable), the receiver of the invoicing
// service's events, and the service kit's middleware stack. The OpenAPI 3.1
// document is generated from the operations and served at GET /openapi.json.
package http

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/services/credit"
	"github.com/estatehq/estate/services/kit/fault"
	"github.com/estatehq/estate/services/kit/httpapi"
	"github.com/estatehq/estate/services/kit/idempotency"
	"github.com/estatehq/estate/services/kit/telemetry"
)

// Options are what the handler is built from.
type Options struct {
	Service  *credit.Service
	Verifier *auth.Verifier
	// Idempotency keeps Idempotency-Key records.
	Idempotency idempotency.Store
	// Telemetry traces requests; nil leaves them untraced.
	Telemetry *telemetry.Telemetry
	Registry  prometheus.Registerer
	Logger    *slog.Logger
	Now       func() time.Time
	// RateLimit is the sustained requests per second of one tenant; 0
	// disables the limit. RateBurst is the burst.
	RateLimit float64
	RateBurst int
	// MaxInFlight bounds the requests served at once; 512 by default.
	MaxInFlight int
	// Faults injects the chaos controller's faults; nil injects none.
	Faults *fault.Injector
}

// NewServer returns the handler of the credit API.
func NewServer(opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handlers{svc: opts.Service, logger: opts.Logger}
	return httpapi.New(httpapi.Options{
		API: apiConfig(), Verifier: opts.Verifier, Idempotency: opts.Idempotency, Telemetry: opts.Telemetry,
		Registry: opts.Registry, Logger: opts.Logger, Now: opts.Now, RateLimit: opts.RateLimit, RateBurst: opts.RateBurst,
		MaxInFlight:     opts.MaxInFlight,
		Faults:          opts.Faults,
		Unauthenticated: func(r chi.Router) { addEventRoutes(r, h) },
	}, func(api huma.API) { addRoutes(api, h) })
}

// OpenAPI returns the API's OpenAPI 3.1 document: the one NewServer serves,
// checked in as services/credit/openapi.json.
func OpenAPI() *huma.OpenAPI {
	return httpapi.OpenAPI(apiConfig(), func(api huma.API) { addRoutes(api, &handlers{}) })
}

// APIVersion is the version of the API in its document; it changes with
// the API, not with every build.
const APIVersion = "1.0.0"

func apiConfig() huma.Config {
	return httpapi.Config(httpapi.Document{Title: "Estate credit API", Version: APIVersion, Tags: tags,
		Description: "Credit lines decided from a business's invoice history, and drawdowns against the open invoices it issued, " +
			"repaid when the invoice is paid. Money is integer minor units; every POST takes an Idempotency-Key. " +
			"When the invoicing service is unavailable, decisions and drawdowns answer 503 with Retry-After and write nothing. " +
			"Errors are RFC 9457 problems (application/problem+json)."})
}

// codeStatus maps domain error codes onto HTTP statuses: the one table of
// the edge.
var codeStatus = map[string]int{
	credit.EINVALID:     http.StatusUnprocessableEntity,
	credit.ENOTFOUND:    http.StatusNotFound,
	credit.ECONFLICT:    http.StatusConflict,
	credit.EFORBIDDEN:   http.StatusForbidden,
	credit.EUNAVAILABLE: http.StatusServiceUnavailable,
}

// problemFor turns a domain error into a huma problem; loc prefixes field
// names ("body", "query"). Internal errors are logged and never shown.
func (h *handlers) problemFor(ctx context.Context, err error, loc string) error {
	status, ok := codeStatus[credit.ErrorCode(err)]
	if !ok {
		return httpapi.InternalError(ctx, h.logger, err)
	}
	var de *credit.Error
	errors.As(err, &de)
	var details []error
	if de.Field != "" {
		details = append(details, &huma.ErrorDetail{Location: loc + "." + de.Field, Message: de.Message})
	}
	herr := huma.NewError(status, de.Message, details...)
	if status == http.StatusServiceUnavailable {
		h.logger.WarnContext(ctx, "invoicing unavailable", "err", err)
		secs := int((de.RetryAfter + time.Second - 1) / time.Second)
		return huma.ErrorWithHeaders(herr, http.Header{"Retry-After": {strconv.Itoa(max(secs, 1))}})
	}
	return herr
}
