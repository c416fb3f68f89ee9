// Package sloreport is the home of service level objectives, error budgets and
// the weekly reliability report that leadership reads (MTBF, MTTR, rollback
// rate, the DORA keys, SLOs and the trend against the week before), rendered
// as Markdown, HTML and JSON.
//
// It computes nothing about deployments or incidents itself: those numbers
// come from package metrics; this package turns them, with the span-derived
// RED rollups, into objectives and a report.
package sloreport
