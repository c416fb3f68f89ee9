// Package http is the HTTP edge of the invoicing service: huma operations on
// a chi router (the whole API surface in routes.go), the wire format, the
// mapping of domain errors onto RFC 9457 problems, and the middleware stack
// of the service kit (tracing, RED metrics, access logs, auth, per-tenant
// rate limit, idempotency keys). The OpenAPI 3.1 document is generated from
// the operations and served at GET /openapi.json.
package http

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humachi"
	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/estatehq/estate/internal/problem"
	"github.com/estatehq/estate/services/invoicing"
	"github.com/estatehq/estate/services/kit/auth"
	"github.com/estatehq/estate/services/kit/idempotency"
	"github.com/estatehq/estate/services/kit/ratelimit"
	"github.com/estatehq/estate/services/kit/telemetry"
)

// HistoryScope is the scope a machine token needs to read invoice history.
const HistoryScope = "invoicing/history.read"

// Options are what the handler is built from.
type Options struct {
	Service  *invoicing.Service
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
	// MaxInFlight bounds the requests served at once; beyond it the API
	// answers 503. 0 means 512.
	MaxInFlight int
	// OnEvents is called after a change wrote outbox events, to wake the
	// relay.
	OnEvents func()
	// Version is the API version in the OpenAPI document.
	Version string
}

// NewServer returns the handler of the invoicing API.
func NewServer(opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.OnEvents == nil {
		opts.OnEvents = func() {}
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 512
	}
	r := chi.NewRouter()
	if opts.Telemetry != nil {
		r.Use(opts.Telemetry.Tracing)
	}
	r.Use(telemetry.NewMetrics(opts.Registry).Middleware, telemetry.AccessLog(opts.Logger), telemetry.Recover(opts.Logger),
		ratelimit.MaxInFlight(opts.MaxInFlight, opts.Registry))
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, r, problem.New(http.StatusNotFound, "no such resource"))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, r, problem.New(http.StatusMethodNotAllowed, "method not allowed on this resource"))
	})

	var api huma.API
	r.Group(func(r chi.Router) {
		tenant := func(r *http.Request) (string, bool) {
			p, ok := auth.FromContext(r.Context())
			return p.Tenant(), ok
		}
		r.Use(auth.Middleware(opts.Verifier, opts.Logger))
		if opts.RateLimit > 0 {
			r.Use(ratelimit.New(ratelimit.Options{Rate: opts.RateLimit, Burst: max(opts.RateBurst, 1), Key: tenant, Now: opts.Now, Registerer: opts.Registry}).Middleware)
		}
		r.Use(idempotency.Middleware(idempotency.Options{Store: opts.Idempotency, Scope: tenant, Now: opts.Now, Logger: opts.Logger}))
		api = humachi.New(r, apiConfig(opts.Version))
		addRoutes(api, &handlers{svc: opts.Service, logger: opts.Logger, now: opts.Now, onEvents: opts.OnEvents})
	})
	doc, err := json.Marshal(api.OpenAPI())
	r.Get("/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		if err != nil {
			problem.Write(w, r, problem.New(http.StatusInternalServerError, "internal error"))
			return
		}
		w.Header().Set("Content-Type", "application/openapi+json")
		_, _ = w.Write(doc)
	})
	return r
}

// OpenAPI returns the API's OpenAPI 3.1 document.
func OpenAPI() *huma.OpenAPI {
	api := humachi.New(chi.NewRouter(), apiConfig(""))
	addRoutes(api, &handlers{})
	return api.OpenAPI()
}

func apiConfig(version string) huma.Config {
	if version == "" {
		version = "1.0.0"
	}
	cfg := huma.DefaultConfig("Estate invoicing API", version)
	// The document is served by hand outside the auth group; no docs UI, no
	// $schema links in bodies.
	cfg.OpenAPIPath, cfg.DocsPath, cfg.SchemasPath = "", "", ""
	cfg.CreateHooks = nil
	cfg.Info.Description = "Invoices between businesses registered on Estate. Money is integer minor units; " +
		"every POST takes an Idempotency-Key; PATCH and transitions take If-Match with the ETag of the last read."
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", BearerFormat: "JWT",
			Description: "An access token of the OIDC issuer; the business is in the custom:business_id claim."},
	}
	cfg.Security = []map[string][]string{{"bearer": {}}}
	return cfg
}

// codeStatus maps domain error codes onto HTTP statuses: the one table of
// the edge.
var codeStatus = map[string]int{
	invoicing.EINVALID:      http.StatusUnprocessableEntity,
	invoicing.ENOTFOUND:     http.StatusNotFound,
	invoicing.ECONFLICT:     http.StatusConflict,
	invoicing.EPRECONDITION: http.StatusPreconditionFailed,
	invoicing.EFORBIDDEN:    http.StatusForbidden,
}

// problemFor turns a domain error into a huma problem; loc prefixes field
// names ("body", "query"). Internal errors are logged and never shown.
func (h *handlers) problemFor(ctx context.Context, err error, loc string) error {
	status, ok := codeStatus[invoicing.ErrorCode(err)]
	if !ok {
		if errors.Is(err, context.Canceled) {
			return huma.NewError(499, "the client closed the request")
		}
		h.logger.ErrorContext(ctx, "internal error", "err", err)
		return huma.Error500InternalServerError("internal error")
	}
	var de *invoicing.Error
	errors.As(err, &de)
	details := make([]error, 0, len(de.Fields))
	for _, f := range de.Fields {
		details = append(details, &huma.ErrorDetail{Location: loc + "." + f.Field, Message: f.Message, Value: f.Value})
	}
	return huma.NewError(status, de.Message, details...)
}
