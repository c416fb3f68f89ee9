// Package services groups the products that Estate watches and the kit they
// share. Each service is a subpackage with its domain at its root and its
// adapters beneath it (invoicing, credit); the shared service kit (server
// bootstrap, auth, telemetry, fault-injection middleware) lives in kit, and
// the names both services must spell alike (scopes, a path, the provenances
// of payments) in contracts, where the Pact contracts guard them.
//
// Nothing here knows about the collector's internals or the reliability maths:
// the services only emit telemetry and domain events over documented
// protocols (OTLP, CloudEvents, Prometheus exposition).
package services
