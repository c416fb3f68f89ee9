package sloreport

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/metrics"
)

// analysesEvents are a week (fixtureWeek) of ledger deployments with
// their post-deploy analyses, and one the week before:
//
//   - led-1: failed, rollback recommended, then rolled back: decided
//     automatically;
//   - led-2: rolled back with no analysis;
//   - led-3: passed; led-4: inconclusive, decided at the week's first
//     instant;
//   - led-5: rolled back, then an analysis recommended it: not decided
//     automatically;
//   - led-6: analysed at the week's end: the next week's; led-7: the
//     next week, neither analysed nor rolled back;
//   - led-prev: the week before, failed, recommended and rolled back;
//   - led-stg-1: in staging, failed, recommended and rolled back.
func analysesEvents() []metrics.Event {
	f := &fixture{}
	from, to := fixtureWeek.Start(), fixtureWeek.End()
	day := 24 * time.Hour
	deploy := func(id, env string, at time.Time) {
		f.add(id+"-started", at.Add(-10*time.Minute), metrics.DeploymentStarted{
			DeploymentID: id, Service: "ledger", Environment: env, Version: "2.0." + id[len(id)-1:],
			Commits: []metrics.Commit{{SHA: strings.Repeat("a", 40), CommittedAt: at.Add(-time.Hour)}},
		})
		f.add(id+"-succeeded", at, metrics.DeploymentSucceeded{DeploymentID: id})
	}
	recommend := func(id string, at time.Time) {
		f.add(id+"-recommended", at, metrics.DeploymentRollbackRecommended{DeploymentID: id, Reason: "error ratio above the objective"})
	}
	rollBack := func(id string, at time.Time) {
		f.add(id+"-rolled-back", at, metrics.DeploymentRolledBack{DeploymentID: id, ToVersion: "2.0.0"})
	}

	deploy("led-1", "production", from.Add(10*time.Hour))
	f.analysis("led-1", from.Add(11*time.Hour), metrics.VerdictFailed, "error ratio 5% | *objective* 1%")
	recommend("led-1", from.Add(11*time.Hour))
	rollBack("led-1", from.Add(11*time.Hour+5*time.Minute))

	deploy("led-2", "production", from.Add(day+10*time.Hour))
	rollBack("led-2", from.Add(day+12*time.Hour))

	deploy("led-3", "production", from.Add(2*day+10*time.Hour))
	f.analysis("led-3", from.Add(2*day+11*time.Hour), metrics.VerdictPassed, "within the SLOs")

	deploy("led-4", "production", from.Add(-30*time.Minute))
	f.analysis("led-4", from, metrics.VerdictInconclusive, "too few requests")

	deploy("led-5", "production", from.Add(3*day+10*time.Hour))
	rollBack("led-5", from.Add(3*day+10*time.Hour+20*time.Minute))
	f.analysis("led-5", from.Add(3*day+10*time.Hour+30*time.Minute), metrics.VerdictFailed, "latency p99 above 1s")
	recommend("led-5", from.Add(3*day+10*time.Hour+30*time.Minute))

	deploy("led-6", "production", to.Add(-time.Hour))
	f.analysis("led-6", to, metrics.VerdictPassed, "within the SLOs")

	deploy("led-7", "production", to.Add(day))

	deploy("led-prev", "production", from.Add(-2*day))
	f.analysis("led-prev", from.Add(-2*day+time.Hour), metrics.VerdictFailed, "error ratio 9%")
	recommend("led-prev", from.Add(-2*day+time.Hour))
	rollBack("led-prev", from.Add(-2*day+2*time.Hour))

	deploy("led-stg-1", "staging", from.Add(4*day+10*time.Hour))
	f.analysis("led-stg-1", from.Add(4*day+11*time.Hour), metrics.VerdictFailed, "error ratio 7%")
	recommend("led-stg-1", from.Add(4*day+11*time.Hour))
	rollBack("led-stg-1", from.Add(4*day+11*time.Hour+time.Minute))
	return f.events
}

func scopeOf(t *testing.T, r *Report, service, environment string) ServiceReport {
	t.Helper()
	for _, s := range r.Services {
		if s.Service == service && s.Environment == environment {
			return s
		}
	}
	t.Fatalf("no %s in the report", ScopeName(service, environment))
	return ServiceReport{}
}

func ptr[T any](v T) *T { return &v }

// TestReportAnalyses: the analyses decided in the week are listed by
// decision time, and the rollbacks decided automatically are those of the
// rollback rate that followed a recommendation.
func TestReportAnalyses(t *testing.T) {
	r := reportOf(t, analysesEvents(), fixtureWeek)
	from := fixtureWeek.Start()
	day := 24 * time.Hour
	want := []AnalysisEntry{
		{
			DeploymentID: "led-4", Service: "ledger", Environment: "production", Version: "2.0.4",
			DeployedAt: ptr(from.Add(-30 * time.Minute)), DecidedAt: from, Verdict: "inconclusive", Reason: "too few requests",
		},
		{
			DeploymentID: "led-1", Service: "ledger", Environment: "production", Version: "2.0.1",
			DeployedAt: ptr(from.Add(10 * time.Hour)), DecidedAt: from.Add(11 * time.Hour), Verdict: "failed", Reason: "error ratio 5% | *objective* 1%",
			RollbackRecommended: true, RolledBackAt: ptr(from.Add(11*time.Hour + 5*time.Minute)), RollbackDecidedAutomatically: true,
		},
		{
			DeploymentID: "led-3", Service: "ledger", Environment: "production", Version: "2.0.3",
			DeployedAt: ptr(from.Add(2*day + 10*time.Hour)), DecidedAt: from.Add(2*day + 11*time.Hour), Verdict: "passed", Reason: "within the SLOs",
		},
		{
			DeploymentID: "led-5", Service: "ledger", Environment: "production", Version: "2.0.5",
			DeployedAt: ptr(from.Add(3*day + 10*time.Hour)), DecidedAt: from.Add(3*day + 10*time.Hour + 30*time.Minute), Verdict: "failed", Reason: "latency p99 above 1s",
			RollbackRecommended: true, RolledBackAt: ptr(from.Add(3*day + 10*time.Hour + 20*time.Minute)),
		},
		{
			DeploymentID: "led-stg-1", Service: "ledger", Environment: "staging", Version: "2.0.1",
			DeployedAt: ptr(from.Add(4*day + 10*time.Hour)), DecidedAt: from.Add(4*day + 11*time.Hour), Verdict: "failed", Reason: "error ratio 7%",
			RollbackRecommended: true, RolledBackAt: ptr(from.Add(4*day + 11*time.Hour + time.Minute)), RollbackDecidedAutomatically: true,
		},
	}
	if d := cmp.Diff(want, r.Analyses); d != "" {
		t.Fatalf("analyses (-want +got):\n%s", d)
	}

	ratio := func(v *float64, num, den float64, prev *float64, change *float64, dir Direction, a Assessment) Figure {
		return Figure{
			Measure:  Measure{Value: v, Unit: Ratio, Numerator: &num, Denominator: &den, SampleSize: den, SampleOf: "rollbacks"},
			Previous: prev, Change: change, Direction: dir, Assessment: a,
		}
	}
	for name, c := range map[string]struct {
		got  Figure
		want Figure
	}{
		// led-1 of led-1, led-2 and led-5; the week before, led-prev of
		// itself.
		"production": {
			scopeOf(t, r, "ledger", "production").Figures.RollbacksDecidedAutomatically,
			ratio(ptr(0.3333333), 1, 3, ptr(1.0), ptr(-0.6666667), Down, Worse),
		},
		"staging": {scopeOf(t, r, "ledger", "staging").Figures.RollbacksDecidedAutomatically, ratio(ptr(1.0), 1, 1, nil, nil, "", "")},
		"overall": {r.Overall.Figures.RollbacksDecidedAutomatically, ratio(ptr(0.5), 2, 4, ptr(1.0), ptr(-0.5), Down, Worse)},
	} {
		t.Run(name, func(t *testing.T) {
			if d := cmp.Diff(c.want, c.got); d != "" {
				t.Fatalf("rollbacks decided automatically (-want +got):\n%s", d)
			}
		})
	}
	// The denominator is the rollback rate's numerator.
	require.Equal(t, *r.Overall.Figures.RollbackRate.Numerator, *r.Overall.Figures.RollbacksDecidedAutomatically.Denominator)

	// Deployments but no rollback in the week: no value, a sample of
	// none.
	next := reportOf(t, analysesEvents(), fixtureWeek.Add(1))
	f := scopeOf(t, next, "ledger", "production").Figures.RollbacksDecidedAutomatically
	require.Nil(t, f.Value)
	require.Equal(t, 0.0, *f.Denominator)
	require.Equal(t, 0.0, *scopeOf(t, next, "ledger", "production").Figures.RollbackRate.Value)
	require.Equal(t, []string{"led-6"}, analysisIDs(next.Analyses), "decided at the week's end")
}

func analysisIDs(entries []AnalysisEntry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.DeploymentID)
	}
	return out
}

// TestReportAnalysesRendered: every format lists each analysis and the
// figure with its sample; the HTML and the Markdown link the rates to the
// Analyses section and anchor each row.
func TestReportAnalysesRendered(t *testing.T) {
	r := reportOf(t, analysesEvents(), fixtureWeek)
	doc, others := renderAll(t, r)
	analyses := doc["analyses"].([]any)
	require.Len(t, analyses, 5)
	for f, text := range others {
		require.Contains(t, text, "33.3% (1 of 3 rollbacks)", f)
		require.Contains(t, text, "50.0% (2 of 4 rollbacks)", f)
		for _, a := range analyses {
			a := a.(map[string]any)
			for _, k := range []string{"deployment_id", "verdict", "reason", "version"} {
				require.Contains(t, text, a[k].(string), "%s lacks the %s of %s", f, k, a["deployment_id"])
			}
		}
		require.Contains(t, text, "recommended; rolled back Mon 2 Nov 11:05 UTC; decided automatically", f)
		require.Contains(t, text, "recommended; rolled back Thu 5 Nov 10:20 UTC; not decided automatically", f)
		require.Contains(t, text, "not recommended; not rolled back", f)
	}

	var html, md bytes.Buffer
	require.NoError(t, r.WriteHTML(&html))
	require.NoError(t, r.WriteMarkdown(&md))
	require.Contains(t, html.String(), `<section id="analyses">`)
	require.Contains(t, html.String(), `<td id="analysis-led-1">led-1</td>`)
	require.Contains(t, html.String(), `<a href="#analyses">Rollback rate</a>`)
	require.Contains(t, html.String(), `<a href="#analyses">Change failure rate</a>`)
	require.Contains(t, html.String(), `<a href="#analyses">Rollbacks decided automatically</a>`)
	require.Contains(t, md.String(), "\n## Analyses\n")
	require.Contains(t, md.String(), `| <a id="analysis-led-stg-1"></a>led-stg-1 |`)
	require.Contains(t, md.String(), "| [Rollback rate](#analyses) |")
	require.Contains(t, md.String(), "| [Change failure rate](#analyses) |")
	require.Contains(t, md.String(), `error ratio 5% \| \*objective\* 1%`, "the reason is escaped")
	for _, ref := range regexp.MustCompile(`(?:src|href)="([^"#]*)`).FindAllStringSubmatch(html.String(), -1) {
		require.Empty(t, ref[1], "the page fetches nothing")
	}
}

// TestReportNoAnalyses: a week with no analysis says so in one line, and
// its JSON lists none.
func TestReportNoAnalyses(t *testing.T) {
	r := reportOf(t, analysesEvents(), fixtureWeek.Add(-2))
	require.Empty(t, r.Analyses)
	var buf bytes.Buffer
	require.NoError(t, r.WriteJSON(&buf))
	var doc map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(buf.Bytes(), &doc))
	require.JSONEq(t, "[]", string(doc["analyses"]))
	_, others := renderAll(t, r)
	for f, text := range others {
		require.Equal(t, 1, strings.Count(text, "No post-deploy analysis decided in this period."), f)
	}
}

// TestAnalysisID: anchors are safe in HTML, a URL's fragment and
// Markdown, and two ids keep two anchors.
func TestAnalysisID(t *testing.T) {
	safe := regexp.MustCompile(`^analysis-[A-Za-z0-9._-]+$`)
	ids := []string{"inv-2026-W45-01", "v1 2", "v1/2", "v1-2", `"><script>`, "déploiement", "a#b?c"}
	seen := map[string]string{}
	for _, id := range ids {
		a := AnalysisID(id)
		require.Regexp(t, safe, a, id)
		if other, ok := seen[a]; ok {
			t.Fatalf("%q and %q share the anchor %q", id, other, a)
		}
		seen[a] = id
	}
	require.Equal(t, "analysis-inv-2026-W45-01", AnalysisID("inv-2026-W45-01"), "an id that is safe is kept as it is")
}
