// Package e2e holds end-to-end tests of the estate binary against real
// backends where they run here (Jaeger v2, Prometheus) and the Elasticsearch
// protocol double where they do not: the zero-loss harness, which streams
// logs and spans through `estate collector` while the collector is killed
// and its backends fail, a real Prometheus scraping the collector, and the
// services' crash test, which kills `estate invoicing` and `estate credit`
// while clients retry keyed requests, and counts every key's effects; and
// the fault tests of docs/resilience.md: the services under load through a
// restart of their PostgreSQL, and through a crash of the collector their
// telemetry goes to.
package e2e
