// Package dashboards holds Estate's Grafana dashboards and Prometheus alerting
// and recording rules as Go code, and writes the generated JSON and YAML that
// are checked in beside it and shipped by the Helm chart.
//
// It only describes what to show and when to page, from the metric names the
// services, the collector and the metrics package expose; it runs nothing.
package dashboards
