// Package review gathers what the estate already knows of one incident,
// for a blameless review in the Google SRE manner: its timeline (the
// service's deployments and rollbacks before and during it, the alerts
// that opened and resolved it, the chaos runs that overlapped it, the SLO
// burn and the request error rate around it, its resolution), the
// candidate causes, and a postmortem draft on the SRE book's template.
//
// Timeline reads the event store (metrics.Store) and, when it is given a
// promquery.Querier, the metrics store: the ALERTS series, the SLOs'
// indicators (counted exactly by sloreport's Evaluator) and the
// collector's RED series. It writes nothing and decides nothing: the root
// causes, the lessons and the action items are left for people to fill.
// Findings render as text, JSON and Markdown; the http subpackage serves
// them. docs/incidents.md says what each part of a review is read from.
package review
