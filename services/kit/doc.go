// Package kit is the service kit the Estate services (invoicing, credit)
// share; each part is a subpackage a service wires in its own handler:
//
//   - auth: bearer JWT verification against an OIDC issuer's JWKS
//     (Cognito-compatible claims, keys cached and fetched again on an unknown
//     kid), the Principal in the request context, and the development issuer
//     behind `estate token`.
//   - telemetry: OTel tracer and logger providers (OTLP gRPC export only when
//     an endpoint is configured), slog lines stamped with trace_id and
//     span_id, and HTTP middleware for route-named server spans, RED metrics
//     (classic and native histograms), access logs and panic recovery.
//   - idempotency: Idempotency-Key middleware over a Store the service's
//     database implements, which writes each key with its response in the
//     transaction of the change it guards, and the Purger that deletes keys
//     past their retention; idempotency/sqlkeys is that Store in SQL, for
//     SQLite and PostgreSQL (through internal/sqldb, the storage kit every
//     SQL store of Estate opens and migrates its database with, whose
//     units of work carry a request's transaction to the store), and
//     idempotency/idempotencytest the suite every such Store runs.
//   - httpapi: the handler every service serves: huma operations on chi
//     behind the middleware stack below, problems for unknown routes, and
//     the OpenAPI document at /openapi.json, which names every status an
//     operation can answer (the service's own, and those the kit's
//     middleware and huma add); httpapi/httpapitest checks responses
//     against that document in tests.
//   - ratelimit: per-tenant token buckets (429 with Retry-After) and an
//     in-flight limit (503) that keeps memory bounded under overload.
//   - outbox: delivery of a transactional outbox to subscribers as CloudEvents
//     over HTTP, at least once, with backoff and W3C trace context.
//   - periodic: a task run every interval in a goroutine that Shutdown stops,
//     the lifecycle of the services' background jobs.
//   - currency: the ISO 4217 codes requests may carry, in either case, kept
//     in upper case; codes nobody can invoice in (XAU, XDR, XTS...) refused.
//   - webhook: Stripe-style signatures of the webhooks other parties send a
//     service (HMAC-SHA256 over a timestamp and the raw body, with a
//     tolerance against replay).
//
// Errors reach clients as RFC 9457 problems (internal/problem for plain
// handlers, huma's error model for huma operations; both have one shape).
//
// A service's middleware order, as the invoicing API uses it: tracing, RED
// metrics, access log, recovery, in-flight limit; then, on authenticated
// routes: auth, per-tenant rate limit, idempotency.
package kit
