// Package http is the HTTP edge of the invoicing service: huma operations on
// a chi router (the whole API surface in routes.go), the wire format, the
// mapping of domain errors onto RFC 9457 problems, and the middleware stack
// of the service kit (tracing, RED metrics, access logs, auth, per-tenant
// rate limit, idempotency keys). The OpenAPI 3.1 document is generated from
// the operations and served at GET /openapi.json.
package http

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/services/invoicing"
	"github.com/estatehq/estate/services/kit/fault"
	"github.com/estatehq/estate/services/kit/httpapi"
	"github.com/estatehq/estate/services/kit/idempotency"
	"github.com/estatehq/estate/services/kit/telemetry"
	"github.com/estatehq/estate/services/kit/webhook"
)

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
	// Faults injects the chaos controller's faults; nil injects none.
	Faults *fault.Injector
	// OnEvents is called once a change that wrote outbox events has
	// committed, to wake the relay.
	OnEvents func()
	// PaymentWebhookSecret is the secret payment providers sign their
	// reports with; empty leaves the payment webhook unserved.
	PaymentWebhookSecret string
	// MachineClients are the client ids of the machine clients trusted to
	// read any business's invoice history and memberships, and to act for
	// the business their token names (the credit service's client): a
	// token of theirs must come from the client-credentials grant.
	MachineClients []string
	// PaymentWebhookTolerance is how far a report's signature time may be
	// from the clock; webhook.DefaultTolerance when 0.
	PaymentWebhookTolerance time.Duration
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
	if opts.PaymentWebhookTolerance <= 0 {
		opts.PaymentWebhookTolerance = webhook.DefaultTolerance
	}
	h := &handlers{svc: opts.Service, logger: opts.Logger, now: opts.Now, onEvents: opts.OnEvents, machines: opts.MachineClients}
	var unauthenticated func(chi.Router)
	if opts.PaymentWebhookSecret != "" {
		unauthenticated = func(r chi.Router) {
			r.Post(PaymentWebhookPath, h.handlePaymentWebhook(opts.PaymentWebhookSecret, opts.PaymentWebhookTolerance))
		}
	}
	return httpapi.New(httpapi.Options{
		API: apiConfig(), Verifier: opts.Verifier, Idempotency: opts.Idempotency, Telemetry: opts.Telemetry,
		Registry: opts.Registry, Logger: opts.Logger, Now: opts.Now, RateLimit: opts.RateLimit, RateBurst: opts.RateBurst,
		MaxInFlight: opts.MaxInFlight, Unauthenticated: unauthenticated, Faults: opts.Faults,
	}, func(api huma.API) { addRoutes(api, h) })
}

// OpenAPI returns the API's OpenAPI 3.1 document: the one NewServer serves,
// checked in as services/invoicing/openapi.json.
func OpenAPI() *huma.OpenAPI {
	return httpapi.OpenAPI(apiConfig(), func(api huma.API) { addRoutes(api, &handlers{}) })
}

// APIVersion is the version of the API in its document; it changes with
// the API, not with every build.
const APIVersion = "1.0.0"

func apiConfig() huma.Config {
	return httpapi.Config(httpapi.Document{Title: "Estate invoicing API", Version: APIVersion, Tags: tags,
		Description: "Invoices between businesses registered on Estate. Money is integer minor units; " +
			"every POST takes an Idempotency-Key; PATCH and transitions take If-Match with the ETag of the last read. " +
			"Errors are RFC 9457 problems (application/problem+json)."})
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
		return httpapi.InternalError(ctx, h.logger, err)
	}
	var de *invoicing.Error
	errors.As(err, &de)
	details := make([]error, 0, len(de.Fields))
	for _, f := range de.Fields {
		details = append(details, &huma.ErrorDetail{Location: loc + "." + f.Field, Message: f.Message, Value: f.Value})
	}
	return huma.NewError(status, de.Message, details...)
}
