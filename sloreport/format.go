package sloreport

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// NoDataText is what every format writes for a figure without data.
const NoDataText = "no data"

// The words of every format: each writes a number as these functions do,
// so the four formats show the same numbers.

// FormatValue writes a measure's value: "20.0%", "1h 30m", "1.43 a day",
// "12", or NoDataText.
func FormatValue(m Measure) string {
	if m.Value == nil {
		return NoDataText
	}
	return formatUnit(m.Unit, *m.Value)
}

func formatUnit(u Unit, v float64) string {
	switch u {
	case Ratio:
		return FormatPercent(v)
	case Seconds:
		return FormatSeconds(v)
	case PerDay:
		return strconv.FormatFloat(v, 'f', 2, 64) + " a day"
	}
	return FormatCount(v)
}

// FormatSample writes what a measure rests on: "2 of 14 deployments" for
// a ratio, "3 resolved incidents" for the others; "" for a count, which
// is its own sample.
func FormatSample(m Measure) string {
	switch {
	case m.Unit == Ratio && m.Numerator != nil && m.Denominator != nil:
		return FormatCount(*m.Numerator) + " of " + FormatCount(*m.Denominator) + " " + noun(m.SampleOf, *m.Denominator)
	case m.Unit == Count:
		return ""
	}
	return FormatCount(m.SampleSize) + " " + noun(m.SampleOf, m.SampleSize)
}

// singular holds the singular of the samples' plural nouns.
var singular = map[string]string{
	"deployments": "deployment", "failed deployments": "failed deployment", "commits": "commit",
	"incidents": "incident", "chaos incidents": "chaos incident", "incidents open": "incident open",
	"resolved incidents": "resolved incident", "events": "event", "bad events allowed": "bad event allowed",
	"changes": "change", "rollbacks": "rollback",
}

// noun is plural, or its singular for a count of one.
func noun(plural string, n float64) string {
	if s, ok := singular[plural]; ok && n == 1 {
		return s
	}
	return plural
}

// FormatMeasure is the value with its sample: "20.0% (2 of 10
// deployments)".
func FormatMeasure(m Measure) string {
	if s := FormatSample(m); s != "" {
		return FormatValue(m) + " (" + s + ")"
	}
	return FormatValue(m)
}

// FormatChange writes a figure's change: "up 10.0 pp, worse", "down 45m,
// better", "no change", or "no comparison" when either period has no
// data.
func FormatChange(f Figure) string {
	if f.Change == nil {
		return "no comparison"
	}
	if f.Direction == Flat {
		return "no change"
	}
	mag := math.Abs(*f.Change)
	var amount string
	switch f.Unit {
	case Ratio:
		amount = strconv.FormatFloat(mag*100, 'f', 1, 64) + " pp"
	default:
		amount = formatUnit(f.Unit, mag)
	}
	return fmt.Sprintf("%s %s, %s", f.Direction, amount, f.Assessment)
}

// FormatPercent writes a ratio as a percentage with one decimal: "31.0%".
// From 99% to 100%, with two, and more while they would round to 100
// ("99.995%"): SLO attainments differ there.
func FormatPercent(r float64) string {
	p := r * 100
	digits := 1
	if p >= 99 && p < 100 {
		digits = 2
		for digits < 6 && strconv.FormatFloat(p, 'f', digits, 64) == "100."+strings.Repeat("0", digits) {
			digits++
		}
	}
	return strconv.FormatFloat(p, 'f', digits, 64) + "%"
}

// FormatCount writes a count: whole numbers without decimals, others
// rounded to three (an SLO's allowed bad events are a product of floats).
func FormatCount(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}

// FormatSeconds writes a duration in its three largest units that are not
// zero, rounded to the second: "3d 11h 15m", "45m", "1h 5s"; under a
// second, in milliseconds: "250ms"; and "0s".
func FormatSeconds(secs float64) string {
	if secs > 0 && secs < 1 {
		return strconv.FormatFloat(secs*1000, 'f', 0, 64) + "ms"
	}
	total := int64(math.Round(secs))
	if total == 0 {
		return "0s"
	}
	var parts []string
	for _, u := range []struct {
		n    int64
		unit string
	}{{total / 86400, "d"}, {total % 86400 / 3600, "h"}, {total % 3600 / 60, "m"}, {total % 60, "s"}} {
		if u.n != 0 && len(parts) < 3 {
			parts = append(parts, strconv.FormatInt(u.n, 10)+u.unit)
		}
	}
	return strings.Join(parts, " ")
}

// FormatTime writes an instant of the report: "Wed 4 Nov 17:00 UTC".
func FormatTime(t time.Time) string { return t.UTC().Format("Mon 2 Jan 15:04 UTC") }

// FormatDay writes a day of the report: "Mon 2 Nov".
func FormatDay(t time.Time) string { return t.UTC().Format("Mon 2 Jan") }

// ScopeName names a service's scope in words: "invoicing (production)",
// or "All services" for the overall figures.
func ScopeName(service, environment string) string {
	switch {
	case service == "" && environment == "":
		return "All services"
	case environment == "":
		return service
	}
	return service + " (" + environment + ")"
}

// FormatCause writes an incident's cause: "deployment invoicing-d05",
// "chaos experiment exp-1", "unknown".
func FormatCause(c Cause) string {
	switch c.Kind {
	case CauseDeployment:
		return "deployment " + c.ID
	case CauseChaos:
		return "chaos experiment " + c.ID
	}
	return "unknown"
}

// FormatIncidentDuration writes an incident's duration, or "open".
func FormatIncidentDuration(e IncidentEntry) string {
	if e.DurationSeconds == nil {
		return "open"
	}
	return FormatSeconds(*e.DurationSeconds)
}

// FormatRollback writes what followed an analysis: "recommended; rolled
// back Wed 4 Nov 12:00 UTC; decided automatically", "not recommended; not
// rolled back".
func FormatRollback(a AnalysisEntry) string {
	parts := []string{"not recommended"}
	if a.RollbackRecommended {
		parts[0] = "recommended"
	}
	if a.RolledBackAt == nil {
		return strings.Join(append(parts, "not rolled back"), "; ")
	}
	parts = append(parts, "rolled back "+FormatTime(*a.RolledBackAt))
	if a.RollbackDecidedAutomatically {
		return strings.Join(append(parts, "decided automatically"), "; ")
	}
	return strings.Join(append(parts, "not decided automatically"), "; ")
}

// FormatOptTime writes an optional instant, or "-".
func FormatOptTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return FormatTime(*t)
}

// FormatOptPercent writes an optional ratio, or NoDataText.
func FormatOptPercent(r *float64) string {
	if r == nil {
		return NoDataText
	}
	return FormatPercent(*r)
}
