// Package sloreport is the home of service level objectives, error budgets and
// the weekly reliability report that leadership reads (MTBF, MTTR, rollback
// rate, the DORA keys, SLOs and the trend against the week before).
//
// Compute is the report's one computation: package metrics' figures over
// the period, the period before and the 8 of the trend, each SLO over the
// period through EvaluatePeriod, the incidents, the chaos experiments and
// an executive summary coloured by Thresholds; the Report it returns is
// rendered as text, Markdown, HTML (with SVG charts) and JSON, the same
// numbers in each. Weeks are ISO weeks (ISOWeek). The reportserver
// subpackage serves, archives and posts the report; docs/report.md
// defines every figure.
//
// SLOs are written in an OpenSLO-compatible subset (Parse, ParseFiles,
// ParseFS: apiVersion openslo/v1, kind SLO), decoded strictly with the
// field of every problem named. An Evaluator computes, through the one
// PromQL interface (internal/promquery), each SLO's attainment, error
// budget, burn rates and policy state, counting events exactly from the
// counters' raw samples, or from the steps their rules recorded where
// those add up to the same; Generate writes the Prometheus rules of the
// SLOs: recorded error ratios, multi-window, multi-burn-rate alerts with a
// low-traffic guard, and the exact count of every 5-minute step. The adapters beneath serve the statuses over HTTP
// (sloreport/http) and as Prometheus series (sloreport/prometheus);
// sloreport/examples holds the SLOs of the estate's own services.
//
// It computes nothing about deployments or incidents itself: those numbers
// come from package metrics. docs/slo.md explains the maths.
package sloreport

// The rules that Sloth v0.16.0 generates for the SLO of the comparison
// test, by Sloth itself (tools/sloth pins it).
//go:generate go -C ../tools/sloth run -ldflags=-X=github.com/slok/sloth/internal/info.Version=v0.16.0 github.com/slok/sloth/cmd/sloth generate --no-log -i ../../sloreport/testdata/sloth/sloth.yaml -o ../../sloreport/testdata/sloth/rules.sloth.yaml
