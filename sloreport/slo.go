package sloreport

import (
	"fmt"
	"strconv"
	"time"
)

// SLO is one service level objective, as decoded from its OpenSLO document
// and validated: every SLI is reduced to two counters, the good (or the bad)
// events and all events.
type SLO struct {
	// Name is metadata.name: unique, a DNS label.
	Name        string
	DisplayName string
	// Service is spec.service.
	Service     string
	Description string
	// Labels are metadata.labels, copied onto every generated series and
	// alert (the incident intake reads environment from them).
	Labels map[string]string
	// Annotations are metadata.annotations; runbook_url is read from them.
	Annotations map[string]string
	Indicator   Indicator
	// Objective is the target fraction of good events, in (0, 1).
	Objective float64
	Window    Window
}

// Budget is the fraction of events allowed to be bad: 1 - Objective,
// rounded to the precision an objective is written with (so that 0.999
// gives 0.001, not 0.0010000000000000009).
func (s SLO) Budget() float64 {
	b, _ := strconv.ParseFloat(strconv.FormatFloat(1-s.Objective, 'g', 12, 64), 64)
	return b
}

// Indicator is an SLI as two counter selectors. Exactly one of Good and Bad
// is set.
type Indicator struct {
	// Good selects the counters of good events, such as
	// http_requests_total{code!~"5.."}.
	Good string
	// Bad selects the counters of bad events.
	Bad string
	// Total selects the counters of all events.
	Total string
	// Latency is set for a threshold SLI on a histogram: Good is then the
	// histogram's bucket at Latency.Threshold and Total its count.
	Latency *Latency
}

// Latency is a threshold SLI: an event is good when its observation is at
// most Threshold, a bucket boundary of Histogram.
type Latency struct {
	// Histogram selects the classic histogram by its name, without the
	// _bucket or _count suffix: http_request_duration_seconds{job="x"}.
	Histogram string
	Threshold float64
}

// WindowKind says how a window moves.
type WindowKind string

// The window kinds.
const (
	// Rolling windows end at the time of the computation.
	Rolling WindowKind = "rolling"
	// Calendar windows are the calendar period (week, month) that holds the
	// time of the computation, from its start.
	Calendar WindowKind = "calendar"
)

// CalendarUnit is the period of a calendar window.
type CalendarUnit string

// The calendar units.
const (
	Week  CalendarUnit = "week"
	Month CalendarUnit = "month"
)

// Window is the time window of an objective.
type Window struct {
	Kind WindowKind
	// Length is a rolling window's length.
	Length time.Duration
	// Unit and Anchor are a calendar window's period and the start of one
	// of its periods (in the window's time zone); periods follow each other
	// from it in both directions.
	Unit   CalendarUnit
	Anchor time.Time
}

// String is the window as its document writes it: "30d rolling",
// "calendar month".
func (w Window) String() string {
	if w.Kind == Calendar {
		return "calendar " + string(w.Unit)
	}
	return FormatDuration(w.Length) + " rolling"
}

// Bounds are the period of the window that holds t: events are counted in
// (start, t]; end is when the period ends (t itself for a rolling window).
func (w Window) Bounds(t time.Time) (start, end time.Time) {
	if w.Kind != Calendar {
		return t.Add(-w.Length), t
	}
	next := func(k int) time.Time {
		if w.Unit == Month {
			return w.Anchor.AddDate(0, k, 0)
		}
		return w.Anchor.AddDate(0, 0, 7*k)
	}
	// An estimate of the period's index, then corrected: months and weeks
	// across daylight saving changes are not of equal length.
	avg := 7 * 24 * time.Hour
	if w.Unit == Month {
		avg = 30 * 24 * time.Hour
	}
	k := int(t.Sub(w.Anchor) / avg)
	for next(k).After(t) {
		k--
	}
	for !next(k + 1).After(t) {
		k++
	}
	return next(k), next(k + 1)
}

// Period is the length of the window's period that holds t: the rolling
// length, or the week or month.
func (w Window) Period(t time.Time) time.Duration {
	if w.Kind != Calendar {
		return w.Length
	}
	start, end := w.Bounds(t)
	return end.Sub(start)
}

// FormatDuration writes d in the largest whole unit of OpenSLO's shorthand
// that it is a multiple of (30d, 6h, 5m), which PromQL reads too.
func FormatDuration(d time.Duration) string {
	day := 24 * time.Hour
	switch {
	case d == 0:
		return "0s"
	case d%day == 0:
		return fmt.Sprintf("%dd", d/day)
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}
