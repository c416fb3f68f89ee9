package sloreport

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/metrics"
)

// fixtureReport is the report of the fixed dataset's week.
func fixtureReport(t *testing.T) *Report {
	t.Helper()
	r, err := Compute(context.Background(), Inputs{
		Events: fixtureEvents(), SLOs: fixtureSLOs(t), Week: fixtureWeek, Now: fixtureNow, ReviewURL: reviewURL,
	})
	require.NoError(t, err)
	return r
}

// TestReportGolden: the four formats of the fixed dataset's report, as
// the golden files under testdata/report hold them (-update rewrites
// them).
func TestReportGolden(t *testing.T) {
	r := fixtureReport(t)
	for _, f := range Formats() {
		t.Run(string(f), func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, r.Render(&buf, f))
			path := filepath.Join("testdata", "report", "week."+f.Extension())
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o750))
				require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, string(want), buf.String())
		})
	}
}

// jsonFigures walks a decoded report's JSON and calls f with the path and
// object of every figure: an object with a "unit" and a "value".
func jsonFigures(v any, path string, f func(path string, m map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["unit"]; ok {
			if _, ok := x["value"]; ok {
				f(path, x)
			}
		}
		for k, e := range x {
			jsonFigures(e, path+"."+k, f)
		}
	case []any:
		for i, e := range x {
			jsonFigures(e, fmt.Sprintf("%s[%d]", path, i), f)
		}
	}
}

// measureOf reads a figure of the JSON back into a Measure.
func measureOf(m map[string]any) Measure {
	opt := func(k string) *float64 {
		if v, ok := m[k].(float64); ok {
			return &v
		}
		return nil
	}
	return Measure{
		Value: opt("value"), Unit: Unit(m["unit"].(string)), Numerator: opt("numerator"), Denominator: opt("denominator"),
		SampleSize: m["sample_size"].(float64), SampleOf: m["sample_of"].(string),
	}
}

// renderAll renders r in every format; the Markdown with its escapes
// undone and the HTML with its tags' text unescaped, so that the words of
// each can be looked for alike.
func renderAll(t *testing.T, r *Report) (jsonDoc map[string]any, others map[Format]string) {
	t.Helper()
	others = map[Format]string{}
	for _, f := range Formats() {
		var buf bytes.Buffer
		require.NoError(t, r.Render(&buf, f))
		switch f {
		case JSON:
			require.NoError(t, json.Unmarshal(buf.Bytes(), &jsonDoc))
		case Markdown:
			others[f] = strings.NewReplacer(`\`, "").Replace(buf.String())
		case HTML:
			others[f] = html.UnescapeString(buf.String())
		default:
			others[f] = buf.String()
		}
	}
	return jsonDoc, others
}

// TestReportFormatsShowTheSameNumbers decodes the JSON of the fixed
// dataset's report and finds every figure of it (value and sample), every
// summary line, incident, analysis and chaos verdict in the text, Markdown
// and HTML.
func TestReportFormatsShowTheSameNumbers(t *testing.T) {
	doc, others := renderAll(t, fixtureReport(t))
	var want []string
	n := 0
	jsonFigures(doc, "", func(path string, m map[string]any) {
		n++
		want = append(want, FormatMeasure(measureOf(m)))
		if p, ok := m["previous"].(float64); ok && !strings.Contains(path, "attainment") {
			want = append(want, formatUnit(Unit(m["unit"].(string)), p))
		}
	})
	require.Greater(t, n, 100, "the walk found the figures")
	for _, l := range doc["summary"].([]any) {
		want = append(want, l.(map[string]any)["reason"].(string))
	}
	for _, i := range doc["incidents"].([]any) {
		inc := i.(map[string]any)
		want = append(want, inc["id"].(string), inc["review_url"].(string))
		if d, ok := inc["duration_seconds"].(float64); ok {
			want = append(want, FormatSeconds(d))
		}
	}
	for _, a := range doc["analyses"].([]any) {
		a := a.(map[string]any)
		want = append(want, a["deployment_id"].(string), a["verdict"].(string), a["reason"].(string))
	}
	for _, x := range doc["chaos_experiments"].([]any) {
		want = append(want, x.(map[string]any)["verdict"].(string))
	}
	for f, text := range others {
		for _, w := range want {
			require.Contains(t, text, w, "%s lacks %q", f, w)
		}
	}
	// Spot checks against the dataset, by hand.
	inv := doc["services"].([]any)[1].(map[string]any)
	require.Equal(t, "invoicing", inv["service"])
	rr := inv["figures"].(map[string]any)["rollback_rate"].(map[string]any)
	require.Equal(t, map[string]any{
		"value": 0.1666667, "unit": "ratio", "numerator": 1.0, "denominator": 6.0, "sample_size": 6.0, "sample_of": "deployments",
		"previous": 0.0, "change": 0.1666667, "direction": "up", "assessment": "worse",
	}, rr)
	require.Contains(t, others[Text], "16.7% (1 of 6 deployments)")
}

// TestReportEmptyWeek: a week with no event, in the trend's weeks neither,
// and no SLO event. Every figure is null in the JSON and "no data" in
// words, never 0 or NaN; the services of the SLOs are listed.
func TestReportEmptyWeek(t *testing.T) {
	r, err := Compute(context.Background(), Inputs{Events: fixtureEvents(), SLOs: fixtureSLOs(t), Week: fixtureWeek.Add(-TrendPeriods), Now: fixtureNow})
	require.NoError(t, err)
	doc, others := renderAll(t, r)
	n := 0
	jsonFigures(doc, "", func(path string, m map[string]any) {
		n++
		require.Nil(t, m["value"], path)
		require.Nil(t, m["previous"], "%s: the week before is empty too", path)
		require.Nil(t, m["change"], path)
		require.Nil(t, m["direction"], path)
		require.Nil(t, m["assessment"], path)
	})
	require.Greater(t, n, 50)
	require.Len(t, r.Services, 2)
	for _, s := range r.Services {
		require.Equal(t, NoStatus, s.Status, s.Service)
		require.Empty(t, s.Daily)
		for _, o := range s.SLOs {
			require.Nil(t, o.Own.Attainment, "the series end two weeks before")
			for _, p := range o.BurnDown {
				require.Nil(t, p.BudgetRemaining)
			}
		}
	}
	require.Empty(t, r.Incidents)
	require.Empty(t, r.Chaos)
	var buf bytes.Buffer
	require.NoError(t, r.WriteJSON(&buf))
	require.NotContains(t, buf.String(), "NaN")
	for f, text := range others {
		require.NotContains(t, text, "NaN", f)
		require.Contains(t, text, "no deployments, incidents or SLO events in the period", f)
		require.NotContains(t, strings.ReplaceAll(text, " ", ""), "Deployments0", f)
	}
	require.Contains(t, others[Markdown], "| Deployments | no data | no data | no comparison |")

	// No event at all, no SLO: no service, and the overall figures null.
	r, err = Compute(context.Background(), Inputs{Events: []metrics.Event{}, Week: fixtureWeek, Now: fixtureNow})
	require.NoError(t, err)
	require.Empty(t, r.Services)
	require.Nil(t, r.Overall.Figures.Deployments.Value)
	require.Equal(t, NoStatus, r.Overall.Status)
	for _, p := range r.Overall.Trend {
		require.Nil(t, p.MTTRMean.Value)
		require.Nil(t, p.RollbackRate.Value)
	}
}

// reportOf computes the report of a week of events with no SLO.
func reportOf(t *testing.T, events []metrics.Event, w ISOWeek) *Report {
	t.Helper()
	r, err := Compute(context.Background(), Inputs{Events: events, Week: w, Now: w.End()})
	require.NoError(t, err)
	return r
}

func service(t *testing.T, r *Report, name string) ServiceReport {
	t.Helper()
	for _, s := range r.Services {
		if s.Service == name {
			return s
		}
	}
	t.Fatalf("no service %s in the report", name)
	return ServiceReport{}
}

func ids(entries []IncidentEntry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.ID)
	}
	return out
}

// TestReportWeekBoundaries: an event at a week's first instant is the
// week's, one at its end the next week's, across a year end too.
func TestReportWeekBoundaries(t *testing.T) {
	events := fixtureEvents()
	w45 := reportOf(t, events, fixtureWeek)
	require.Equal(t, []string{"inc-boundary", "inc-deploy", "inc-chaos", "inc-open"}, ids(w45.Incidents))
	require.Equal(t, 2.0, *service(t, w45, "credit").Figures.Deployments.Value, "cre-next-00 succeeded at the week's end")
	w46 := reportOf(t, events, fixtureWeek.Add(1))
	require.Equal(t, []string{"inc-open", "inc-next"}, ids(w46.Incidents), "inc-open is still open; inc-next started at the week's start")
	require.Equal(t, 1.0, *service(t, w46, "credit").Figures.Deployments.Value)
	require.Empty(t, w46.Chaos, "exp-disk started the week before and has not finished")

	// 2026-W53: 28 December 2026 to 4 January 2027.
	f := &fixture{}
	at := func(y int, m time.Month, d, h, min, s, ms int) time.Time {
		return time.Date(y, m, d, h, min, s, ms*1e6, time.UTC)
	}
	f.deploy("ledger", "led-w52-99", at(2026, 12, 27, 23, 59, 59, 999), time.Hour, 0)
	f.deploy("ledger", "led-w53-00", at(2026, 12, 28, 0, 0, 0, 0), time.Hour, 0)
	f.deploy("ledger", "led-w53-01", at(2027, 1, 1, 12, 0, 0, 0), time.Hour, 30*time.Minute)
	f.deploy("ledger", "led-w53-99", at(2027, 1, 3, 23, 59, 59, 999), time.Hour, 0)
	f.deploy("ledger", "led-w01-00", at(2027, 1, 4, 0, 0, 0, 0), time.Hour, 0)
	f.incident("ledger", "led-inc", "critical", at(2027, 1, 3, 23, 0, 0, 0), at(2027, 1, 4, 1, 0, 0, 0), "", "")
	w53, err := ParseWeek("2026-W53")
	require.NoError(t, err)
	r := reportOf(t, f.events, w53)
	require.Equal(t, date(2026, 12, 28), r.From)
	require.Equal(t, date(2027, 1, 4), r.To)
	require.Contains(t, r.Title, "2026-W53 (28 December to 3 January 2027)")
	led := service(t, r, "ledger")
	require.Equal(t, 3.0, *led.Figures.Deployments.Value)
	require.Equal(t, 1.0, *led.Figures.RollbackRate.Numerator)
	require.Equal(t, 3600.0, *led.Figures.Downtime.Value, "the open hour before the week's end")
	require.Nil(t, led.Figures.MTTRMean.Value, "resolved in 2027-W01")
	require.Len(t, led.Daily, 7)
	require.Equal(t, date(2027, 1, 3), led.Daily[6].From)
	require.Equal(t, 1, led.Daily[6].Deployments)
	require.Equal(t, 1, led.Daily[0].Deployments)
	require.Equal(t, "2026-W52", led.Trend[6].Week.String())
	require.Equal(t, 1.0, *led.Trend[6].RollbackRate.Denominator, "led-w52-99 is 2026-W52's")
	next := reportOf(t, f.events, w53.Add(1))
	require.Equal(t, "2027-W01", next.Week.String())
	require.Equal(t, 1.0, *service(t, next, "ledger").Figures.Deployments.Value)
	require.Equal(t, 7200.0, *service(t, next, "ledger").Figures.MTTRMean.Value)
}

func TestComputeErrors(t *testing.T) {
	now := fixtureNow
	for name, c := range map[string]struct {
		in  Inputs
		err string
	}{
		"no now":        {Inputs{Events: []metrics.Event{}, Week: fixtureWeek}, "now is required"},
		"no events":     {Inputs{Week: fixtureWeek, Now: now}, "events are required"},
		"week and from": {Inputs{Events: []metrics.Event{}, Week: fixtureWeek, From: now, Now: now}, "not both"},
		"no period":     {Inputs{Events: []metrics.Event{}, Now: now}, "from is required"},
		"reversed":      {Inputs{Events: []metrics.Event{}, From: now, To: now.Add(-time.Hour), Now: now}, "must be before to"},
		"bad thresholds": {Inputs{Events: []metrics.Event{}, Week: fixtureWeek, Now: now, Thresholds: Thresholds{BudgetAmber: 2, MTTRAmber: time.Hour, MTTRRed: time.Hour}},
			"budget_amber: must be between 0 and 1"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Compute(context.Background(), c.in)
			require.ErrorContains(t, err, c.err)
		})
	}
}

// TestReportPeriodNotAWeek: a period of any length compares with the one
// of the same length before it, and its trend has periods of its length.
func TestReportPeriodNotAWeek(t *testing.T) {
	from := fixtureWeek.Start().Add(2 * 24 * time.Hour)
	r, err := Compute(context.Background(), Inputs{Events: fixtureEvents(), From: from, To: from.Add(3 * 24 * time.Hour), Now: fixtureNow})
	require.NoError(t, err)
	require.Nil(t, r.Week)
	require.Equal(t, from.Add(-3*24*time.Hour), r.PreviousFrom)
	require.Len(t, r.Overall.Daily, 3)
	require.Equal(t, from.Add(-21*24*time.Hour), r.Overall.Trend[0].From)
	require.Equal(t, "Reliability report, 2026-11-04T00:00:00Z to 2026-11-07T00:00:00Z", r.Title)
}
