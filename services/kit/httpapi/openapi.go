package httpapi

import (
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/estatehq/estate/internal/problem"
)

// Document is what a service's OpenAPI document says besides its
// operations.
type Document struct {
	Title string
	// Version is the version of the API, not of the build: the document a
	// service serves is the one checked in beside it.
	Version     string
	Description string
	// Tags describe the groups of operations, in the order readers see
	// them; every tag an operation names must be here.
	Tags []*huma.Tag
}

// ProjectURL is the contact of every Estate API.
const ProjectURL = "https://github.com/estatehq/estate"

// MaxBodyBytes bounds the request body the API reads: the idempotency
// middleware's limit, and huma's default; the answer beyond it is 413.
const MaxBodyBytes = 1 << 20

// Config returns the huma configuration shared by the services: the
// document is served by hand outside the auth group (no docs UI, no $schema
// links in bodies), every operation needs a bearer JWT unless it says
// otherwise, and every operation documents the statuses the kit's
// middleware and huma answer besides those it declares (documentResponses).
func Config(d Document) huma.Config {
	if d.Version == "" {
		d.Version = "1.0.0"
	}
	cfg := huma.DefaultConfig(d.Title, d.Version)
	cfg.OpenAPIPath, cfg.DocsPath, cfg.SchemasPath = "", "", ""
	cfg.CreateHooks = nil
	cfg.Info.Description = d.Description
	cfg.Info.Contact = &huma.Contact{Name: "Estate", URL: ProjectURL}
	// No licence has been granted for the APIs: their terms are the
	// operator's.
	cfg.Info.License = &huma.License{Name: "Proprietary", URL: ProjectURL}
	// Relative: the API is where its document is served from, whatever
	// the deployment (a port on one machine, a Service, a gateway).
	cfg.Servers = []*huma.Server{{URL: "/", Description: "The origin that serves this document at /openapi.json."}}
	cfg.Tags = d.Tags
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		BearerScheme: {Type: "http", Scheme: "bearer", BearerFormat: "JWT",
			Description: "An access token of the OIDC issuer; the business is in the custom:business_id claim. " +
				"An operation that lists scopes in " + ScopesExtension + " needs a token carrying each of them (the space-separated scope claim)."},
	}
	cfg.Security = []map[string][]string{{BearerScheme: {}}}
	cfg.OnAddOperation = append(cfg.OnAddOperation, documentResponses)
	return cfg
}

// BearerScheme names the security scheme of the bearer JWT.
const BearerScheme = "bearer"

// ScopesExtension names the operation extension that lists the scopes a
// token must carry, each of them, for the operation to answer anything but
// 403. They are not written in the security requirement: OpenAPI 3.1 allows
// role names there for an http scheme, but linters only know the scopes of
// OAuth 2 flows, whose URLs depend on the deployment's issuer.
const ScopesExtension = "x-required-scopes"

// RequireScopes is the Extensions of an operation that needs a token
// carrying each of scopes.
func RequireScopes(scopes ...string) map[string]any {
	return map[string]any{ScopesExtension: scopes}
}

// Public is the security requirement of an operation outside the
// bearer-token API (it authenticates its requests by other means).
func Public() []map[string][]string {
	return []map[string][]string{{}}
}

// kitResponses says, for each status the kit or huma may answer, when an
// operation can get it and what it means there. Statuses a service answers
// for its own reasons (403, 404, 409, 412, 422) it declares on the
// operation.
var kitResponses = []struct {
	status int
	when   func(o opTraits) bool
	desc   func(o opTraits) string
	// retryAfter: the answer may carry Retry-After.
	retryAfter bool
}{
	{http.StatusBadRequest, func(o opTraits) bool { return o.body || o.idempotent }, func(o opTraits) string {
		var why []string
		if o.body {
			why = append(why, "the body is not well-formed JSON")
		}
		if o.idempotent {
			why = append(why, "the Idempotency-Key is longer than 255 characters")
		}
		return "The request is malformed: " + strings.Join(why, ", or ") + "."
	}, false},
	{http.StatusUnauthorized, func(o opTraits) bool { return o.secured }, func(opTraits) string {
		return "The bearer token is missing, malformed, expired, or not signed by a trusted issuer for this audience."
	}, false},
	{http.StatusConflict, func(o opTraits) bool { return o.idempotent }, func(opTraits) string {
		return "The request conflicts with the state of the resource, or its Idempotency-Key was used for another request " +
			"or is held by a request still in progress (retry after Retry-After)."
	}, true},
	// The idempotency middleware reads the body of every POST it keys, even
	// of an operation that takes none.
	{http.StatusRequestEntityTooLarge, func(o opTraits) bool { return o.body || o.idempotent }, func(opTraits) string {
		return fmt.Sprintf("The request body exceeds the limit of %d bytes.", MaxBodyBytes)
	}, false},
	{http.StatusUnsupportedMediaType, func(o opTraits) bool { return o.body }, func(opTraits) string {
		return "The request body is not application/json."
	}, false},
	{http.StatusUnprocessableEntity, func(o opTraits) bool { return o.body || o.params }, func(opTraits) string {
		return "A parameter or a field of the body is invalid; errors[] names each one at fault."
	}, false},
	{http.StatusTooManyRequests, func(o opTraits) bool { return o.secured }, func(opTraits) string {
		return "Too many requests for this business; retry after Retry-After."
	}, true},
	{http.StatusInternalServerError, func(opTraits) bool { return true }, func(opTraits) string {
		return "An internal error; the problem tells nothing of it."
	}, false},
	{http.StatusServiceUnavailable, func(opTraits) bool { return true }, func(opTraits) string {
		return "The service is overloaded, or a service it depends on is unavailable; retry after Retry-After. Nothing was written."
	}, true},
}

// opTraits is what decides the statuses the kit documents on an operation.
type opTraits struct {
	// secured: behind auth, the per-tenant rate limit and idempotency keys.
	secured bool
	// idempotent: a POST behind the idempotency middleware.
	idempotent bool
	body       bool
	params     bool
}

func traitsOf(oapi *huma.OpenAPI, op *huma.Operation) opTraits {
	security := op.Security
	if security == nil {
		security = oapi.Security
	}
	secured := len(security) > 0
	for _, req := range security {
		if len(req) == 0 {
			secured = false // anonymous access is allowed
		}
	}
	return opTraits{
		secured:    secured,
		idempotent: secured && op.Method == http.MethodPost,
		body:       op.RequestBody != nil,
		params:     len(op.Parameters) > 0,
	}
}

// documentResponses adds to op every status the kit's middleware and huma
// may answer to it (see kitResponses), as problem+json, and gives the
// statuses huma only named their meaning there. The tests check every
// response against the document, so a status left out fails them.
func documentResponses(oapi *huma.OpenAPI, op *huma.Operation) {
	if op.Responses == nil {
		op.Responses = map[string]*huma.Response{}
	}
	// huma adds a catch-all when an operation declares no error; every
	// status is named instead.
	if d := op.Responses["default"]; d != nil && d.Description == "Error" {
		delete(op.Responses, "default")
	}
	errSchema := oapi.Components.Schemas.Schema(reflect.TypeOf(huma.ErrorModel{}), true, "Error")
	o := traitsOf(oapi, op)
	for _, k := range kitResponses {
		if !k.when(o) {
			continue
		}
		code := strconv.Itoa(k.status)
		r := op.Responses[code]
		if r == nil {
			r = &huma.Response{Content: map[string]*huma.MediaType{problem.ContentType: {Schema: errSchema}}}
			op.Responses[code] = r
		}
		if r.Description == "" || r.Description == http.StatusText(k.status) {
			r.Description = k.desc(o)
		}
		if k.retryAfter {
			if r.Headers == nil {
				r.Headers = map[string]*huma.Param{}
			}
			if r.Headers["Retry-After"] == nil {
				r.Headers["Retry-After"] = &huma.Param{Description: "Seconds to wait before retrying.",
					Schema: &huma.Schema{Type: huma.TypeInteger, Minimum: ptr(1.0)}}
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }
