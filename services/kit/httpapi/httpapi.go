// Package httpapi builds a service's HTTP handler the way every Estate
// service serves its API: huma operations on a chi router behind the kit's
// middleware, in this order: tracing, RED metrics, access log, recovery,
// in-flight limit; then, once routed, the chaos controller's faults when
// the service has an injector; then, on the authenticated API: auth,
// per-tenant rate limit, idempotency keys. Unknown paths and methods answer RFC 9457
// problems, and the OpenAPI 3.1 document of the operations is served at
// GET /openapi.json. The document names every status an operation can
// answer: the service declares its own, Config adds those of the kit's
// middleware and of huma (400, 401, 409, 413, 415, 422, 429, 500, 503 as
// they apply), each as problem+json; httpapitest checks responses against
// it.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humachi"
	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/problem"
	"github.com/estatehq/estate/internal/ratelimit"
	"github.com/estatehq/estate/internal/sqldb"
	"github.com/estatehq/estate/services/kit/fault"
	"github.com/estatehq/estate/services/kit/idempotency"
	"github.com/estatehq/estate/services/kit/telemetry"
)

// Options are what the handler is built from.
type Options struct {
	// API is the huma configuration of the document (title, version,
	// security schemes).
	API      huma.Config
	Verifier *auth.Verifier
	// Idempotency keeps Idempotency-Key records.
	Idempotency idempotency.Store
	// Telemetry traces requests; nil leaves them untraced.
	Telemetry *telemetry.Telemetry
	// Registry gets the RED and limit metrics; a new registry when nil.
	Registry prometheus.Registerer
	Logger   *slog.Logger
	Now      func() time.Time
	// RateLimit is the sustained requests per second of one tenant; 0
	// disables the limit. RateBurst is the burst.
	RateLimit float64
	RateBurst int
	// MaxInFlight bounds the requests served at once; beyond it the API
	// answers 503. 0 means 512.
	MaxInFlight int
	// Unauthenticated adds routes outside the authenticated API, behind
	// the outer middleware only (an event receiver, for instance).
	Unauthenticated func(r chi.Router)
	// Faults injects the chaos controller's faults into the routes, after
	// routing and before auth, so RED metrics and traces show them; nil
	// injects none.
	Faults *fault.Injector
}

// New returns the handler: register adds the operations.
func New(opts Options, register func(huma.API)) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
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
	problem.Route(r)
	if opts.Unauthenticated != nil {
		if opts.Faults != nil {
			opts.Unauthenticated(r.With(opts.Faults.Middleware))
		} else {
			opts.Unauthenticated(r)
		}
	}

	var api huma.API
	r.Group(func(r chi.Router) {
		tenant := func(r *http.Request) (string, bool) {
			p, ok := auth.FromContext(r.Context())
			return p.Tenant(), ok
		}
		if opts.Faults != nil {
			r.Use(opts.Faults.Middleware)
		}
		r.Use(auth.Middleware(opts.Verifier, opts.Logger))
		if opts.RateLimit > 0 {
			r.Use(ratelimit.New(ratelimit.Options{Rate: opts.RateLimit, Burst: max(opts.RateBurst, 1), Key: tenant, Now: opts.Now, Registerer: opts.Registry}).Middleware)
		}
		// Keys are the subject's within its tenant: a token that names a
		// business its subject is not a member of is refused, and that
		// refusal must not be what a member's request with the same key
		// replays.
		subject := func(r *http.Request) (string, bool) {
			p, ok := auth.FromContext(r.Context())
			return p.Tenant() + "|" + p.Issuer + "|" + p.Subject, ok
		}
		r.Use(idempotency.Middleware(idempotency.Options{Store: opts.Idempotency, Scope: subject, MaxBody: MaxBodyBytes, Now: opts.Now, Logger: opts.Logger}))
		api = humachi.New(r, opts.API)
		register(api)
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

// OpenAPI returns the document of the operations register adds, without
// serving them.
func OpenAPI(cfg huma.Config, register func(huma.API)) *huma.OpenAPI {
	api := humachi.New(chi.NewRouter(), cfg)
	register(api)
	return api.OpenAPI()
}

// DatabaseRetryAfter is the Retry-After of a 503 answered because the
// service's database is unavailable: about how long a restarting
// PostgreSQL takes to accept connections again.
const DatabaseRetryAfter = 2 * time.Second

// InternalError is the problem of an error with no domain code: 499 when
// the client went away; 503 with Retry-After when the database could not
// be reached or is going away (sqldb.Unavailable), which passes by itself;
// else 500 with a generic text. The error itself is logged and never shown.
func InternalError(ctx context.Context, logger *slog.Logger, err error) error {
	if errors.Is(err, context.Canceled) {
		return huma.NewError(499, "the client closed the request")
	}
	if sqldb.Unavailable(err) {
		logger.WarnContext(ctx, "database unavailable", "err", err)
		return huma.ErrorWithHeaders(huma.Error503ServiceUnavailable("the database is unavailable; retry after Retry-After"),
			http.Header{"Retry-After": {strconv.Itoa(int(DatabaseRetryAfter / time.Second))}})
	}
	logger.ErrorContext(ctx, "internal error", "err", err)
	return huma.Error500InternalServerError("internal error")
}
