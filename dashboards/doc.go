// Package dashboards holds Estate's Grafana dashboards, Prometheus alerting
// rules, Alertmanager routing and Grafana provisioning as Go code, and writes
// the files generated from it (Generate), which are checked in under
// dashboards/generated and shipped by the Helm chart.
//
// The dashboards are built with the Grafana Foundation SDK; every PromQL
// query in them reads the series the services, the collector, the chaos
// controller and the event store expose, through a data source variable of
// type Prometheus, so one JSON serves the collector's embedded PromQL API
// and a Prometheus server alike. The SLOs' rules are sloreport's own
// (sloreport.RuleFile); the collector's and the services' alerts are
// defined here, each with a runbook section in docs/runbooks.md and a
// promtool unit test generated beside it.
//
// It only describes what to show and when to page; Expressions and Verify
// prove, against a running estate, that every query it wrote returns data.
package dashboards
