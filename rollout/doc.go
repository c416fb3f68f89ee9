// Package rollout decides whether a deployment made a service worse: it
// compares the service's error rate and latency in a window after the
// deploy with a baseline window before it, through PromQL on the estate's
// RED series, and returns a verdict (passed, failed or inconclusive) with
// the numbers and the queries that produced them.
//
// The tests are exact or rank-based, so they hold at low traffic, and no
// verdict other than inconclusive is reached on fewer than a minimum
// number of requests after the deploy. See docs/rollout.md.
package rollout
