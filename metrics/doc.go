// Package metrics turns reliability events into the numbers leadership
// decides on: deployments, rollback rate, change failure rate, deployment
// frequency, lead time for changes, incidents, downtime, MTTR and MTBF.
//
// The input is a log of CloudEvents 1.0 (see [Type] for the eight event
// types). [Fold] folds a log into [Deployment]s and [Incident]s; it ignores
// repeated ids and does not depend on the order of the log, so events may
// arrive late, twice, or before the event that opens what they refer to.
// [Compute] is a pure function from the folded state and a [Window] to a
// [Report]. The exact definitions, with worked examples, are in
// docs/metrics.md; the tests in this package pin every edge of them.
//
// The package holds the domain only. Storage ([Store]) is implemented by the
// sqlite and postgres subpackages; the http subpackage serves the ingest and
// query API; the prometheus subpackage exposes the figures as metrics; the
// cdevents, alertmanager, github and circleci subpackages map those sources'
// payloads onto events.
package metrics
