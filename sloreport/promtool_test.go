package sloreport

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/estatehq/estate/internal/testenv"
)

// The generated rules are checked and run by promtool, Prometheus's own
// rule tester: the same evaluation a Prometheus server does. The scenarios
// are series of one sample a minute, evaluated every minute; a test asks
// when an alert first fired with
//
//	min(min_over_time(timestamp(ALERTS{alertstate="firing", ...})[R:1m]))
//
// and that it never fired with count_over_time(ALERTS{...}[R]) answering
// nothing.

func promtool(t *testing.T) string {
	t.Helper()
	return testenv.Binary(t, "promtool", "ESTATE_PROMTOOL_BIN", "apt-get install prometheus (it ships promtool)")
}

// runPromtool runs promtool with args in dir and fails the test, with
// promtool's report, unless it succeeds.
func runPromtool(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "promtool %s:\n%s", strings.Join(args, " "), out)
}

// writeRules writes the rules of slos to dir/name.
func writeRules(t *testing.T, dir, name string, slos []SLO, o RuleOptions) {
	t.Helper()
	g, err := Generate(slos, o)
	require.NoError(t, err)
	f, err := os.Create(filepath.Join(dir, name))
	require.NoError(t, err)
	require.NoError(t, WriteRules(f, g))
	require.NoError(t, f.Close())
}

// The unit test file of `promtool test rules`.
type (
	ruleTestFile struct {
		RuleFiles          []string `yaml:"rule_files"`
		EvaluationInterval string   `yaml:"evaluation_interval"`
		// GroupEvalOrder is the order in which promtool evaluates the
		// groups at each evaluation; without it, the order of a map.
		GroupEvalOrder []string        `yaml:"group_eval_order,omitempty"`
		Tests          []ruleTestGroup `yaml:"tests"`
	}
	ruleTestGroup struct {
		Interval    string        `yaml:"interval"`
		InputSeries []inputSeries `yaml:"input_series"`
		PromQLTests []promqlTest  `yaml:"promql_expr_test"`
	}
	inputSeries struct {
		Series string `yaml:"series"`
		Values string `yaml:"values"`
	}
	promqlTest struct {
		Expr       string      `yaml:"expr"`
		EvalTime   string      `yaml:"eval_time"`
		ExpSamples []expSample `yaml:"exp_samples"`
	}
	expSample struct {
		Labels string  `yaml:"labels"`
		Value  float64 `yaml:"value"`
	}
)

// testRules runs promtool's unit tests of groups over rule files in dir,
// the rules evaluated every interval.
func testRules(t *testing.T, dir string, interval time.Duration, ruleFiles, order []string, groups ...ruleTestGroup) {
	t.Helper()
	b, err := yaml.Marshal(ruleTestFile{RuleFiles: ruleFiles, EvaluationInterval: FormatDuration(interval), GroupEvalOrder: order, Tests: groups})
	require.NoError(t, err)
	f, err := os.CreateTemp(dir, "test-*.yaml")
	require.NoError(t, err)
	_, err = f.Write(b)
	require.NoError(t, errors.Join(err, f.Close()))
	runPromtool(t, dir, "test", "rules", filepath.Base(f.Name()))
}

// run is n consecutive samples of a counter, each inc above the one
// before.
type run struct {
	n   int
	inc float64
}

// counterValues writes runs in promtool's expanding notation; the first
// sample is 0.
func counterValues(runs ...run) string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	var parts []string
	v := 0.0
	for i, r := range runs {
		start := v + r.inc
		if i == 0 {
			start = 0
		}
		parts = append(parts, fmt.Sprintf("%s+%sx%d", f(start), f(r.inc), r.n-1))
		v = start + r.inc*float64(r.n-1)
	}
	return strings.Join(parts, " ")
}

// steps is how many times step goes in d.
func steps(d, step time.Duration) int { return int(d / step) }

// firstFiring asks when the alerts that matchers select first fired,
// looking back over r from at; want is the time, from the start of the
// series.
func firstFiring(matchers string, at, r, step, want time.Duration) promqlTest {
	return promqlTest{
		Expr:       fmt.Sprintf(`min(min_over_time(timestamp(ALERTS{alertstate="firing", %s})[%s:%s]))`, matchers, FormatDuration(r), FormatDuration(step)),
		EvalTime:   FormatDuration(at),
		ExpSamples: []expSample{{Labels: "{}", Value: want.Seconds()}},
	}
}

// neverFiring asks that the alerts that matchers select did not fire in
// the r before at.
func neverFiring(matchers string, at, r time.Duration) promqlTest {
	return promqlTest{
		Expr:     fmt.Sprintf(`count_over_time(ALERTS{alertstate="firing", %s}[%s])`, matchers, FormatDuration(r)),
		EvalTime: FormatDuration(at),
	}
}

func TestGeneratedRulesPassPromtoolCheck(t *testing.T) {
	slos, err := ParseFiles("testdata/sloth/estate.yaml")
	require.NoError(t, err)
	dir := t.TempDir()
	writeRules(t, dir, "rules.yaml", slos, RuleOptions{MinEvents: DefaultMinEvents})
	runPromtool(t, dir, "check", "rules", "rules.yaml")
}

// TestBurnAlertsFireAtTheirRate: after as long a healthy time as its long
// window L, each alert's burn begins. Just above its threshold (1.3
// times), the alert fires when the long window's bad events cross the
// threshold (the first evaluation after L/1.3 into the burn), after its
// for; just below (0.98 times), it never fires, not even once both windows
// hold nothing but the burn. The pages are evaluated every minute, the
// tickets every five (a three-day window evaluated every minute for six
// days takes promtool minutes).
func TestBurnAlertsFireAtTheirRate(t *testing.T) {
	dir := t.TempDir()
	above, below := ratioSLO(rolling(30*24*time.Hour)), ratioSLO(rolling(30*24*time.Hour))
	above.Name, above.Service = "above", "above"
	below.Name, below.Service = "below", "below"
	for _, s := range []*SLO{&above, &below} {
		s.Indicator.Bad = fmt.Sprintf("errors_total{service=%q}", s.Service)
		s.Indicator.Total = fmt.Sprintf("requests_total{service=%q}", s.Service)
	}
	writeRules(t, dir, "rules.yaml", []SLO{above, below}, RuleOptions{MinEvents: DefaultMinEvents})

	const perMinute = 600
	for _, a := range BurnAlerts() {
		t.Run(fmt.Sprintf("%s over %s and %s", a.Severity, FormatDuration(a.Long), FormatDuration(a.Short)), func(t *testing.T) {
			t.Parallel()
			step := time.Minute
			if a.Severity == Ticket {
				step = 5 * time.Minute
			}
			ceil := func(d time.Duration) time.Duration { return (d + step - 1) / step * step }
			onset := a.Long
			pending := onset + ceil(a.Long*10/13+1)
			fires := pending + ceil(a.For)
			end := onset + a.Long + ceil(a.For) + step
			n := steps(end, step) + 1
			series := func(s SLO, burn float64) []inputSeries {
				perStep := perMinute * step.Minutes()
				return []inputSeries{
					{fmt.Sprintf("requests_total{service=%q}", s.Service), counterValues(run{n, perStep})},
					{fmt.Sprintf("errors_total{service=%q}", s.Service), counterValues(run{steps(onset, step) + 1, 0}, run{n - steps(onset, step) - 1, perStep * s.Budget() * burn})},
				}
			}
			sel := func(s SLO) string {
				return fmt.Sprintf(`alertname=%q, slo=%q, long_window=%q`, BurnAlertName, s.Name, FormatDuration(a.Long))
			}
			testRules(t, dir, step, []string{"rules.yaml"}, nil, ruleTestGroup{
				Interval:    FormatDuration(step),
				InputSeries: append(series(above, 1.3*a.Threshold), series(below, 0.98*a.Threshold)...),
				PromQLTests: []promqlTest{
					firstFiring(sel(above), end, end-onset, step, fires),
					neverFiring(sel(below), end, end),
				},
			})
		})
	}
}

// TestAgainstSloth runs the rules of one 99.9% SLO, as Estate generates
// them and as Sloth v0.16.0 does (testdata/sloth: its rules are Sloth's own
// output, which `go generate` regenerates with tools/sloth), over the same
// series in one promtool run: three healthy days of traffic, then
//
//   - a burn of 20 times the budget (2% errors): the last hour's error
//     ratio crosses 14.4 times the budget 43.2 minutes in, and both page
//     at the evaluation after, 44 minutes in;
//   - on a service that gets one request every five minutes, that
//     request failing once: Sloth pages at once (one error in the one
//     request of five minutes, and in twelve over the hour); Estate's
//     rules never page, nor open a ticket, the low-traffic guard holding.
func TestAgainstSloth(t *testing.T) {
	const (
		slothFirstPage      = 3*24*time.Hour + 44*time.Minute
		estateFirstPage     = 3*24*time.Hour + 44*time.Minute
		slothLowTrafficPage = 3*24*time.Hour + 5*time.Minute
	)
	require.LessOrEqual(t, estateFirstPage, slothFirstPage, "Estate pages no later than Sloth")

	slos, err := ParseFiles("testdata/sloth/estate.yaml")
	require.NoError(t, err)
	dir := t.TempDir()
	writeRules(t, dir, "estate.yaml", slos, RuleOptions{MinEvents: DefaultMinEvents})
	sloth, err := os.ReadFile("testdata/sloth/rules.sloth.yaml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sloth.yaml"), sloth, 0o600))

	// Sloth's recordings are evaluated before its alerts, which read them,
	// as Estate's are in their one group: the order most favourable to
	// Sloth. (A server evaluates each group at its own offset in the
	// interval: Sloth's alerts may read the recordings of the evaluation
	// before, and page a minute later.)
	order := []string{
		"sloth-slo-sli-recordings-invoicing-requests-availability",
		"sloth-slo-meta-recordings-invoicing-requests-availability",
		"sloth-slo-alerts-invoicing-requests-availability",
		"slo-invoicing-availability",
	}
	for _, g := range order[:3] {
		require.Contains(t, string(sloth), "name: "+g)
	}

	healthy := 3 * 24 * time.Hour
	estatePage := fmt.Sprintf(`alertname=%q, severity="page"`, BurnAlertName)
	slothPage := `alertname="SlothInvoicingAvailability", sloth_severity="page"`
	requests, errs := `estate_red_requests_total{service="invoicing"}`, `estate_red_errors_total{service="invoicing"}`

	burnEnd := healthy + 2*time.Hour
	n := steps(burnEnd, time.Minute) + 1
	h := steps(healthy, time.Minute) + 1
	burn := ruleTestGroup{
		Interval: "1m",
		InputSeries: []inputSeries{
			{requests, counterValues(run{n, 600})},
			{errs, counterValues(run{h, 0}, run{n - h, 600 * 0.02})},
		},
		PromQLTests: []promqlTest{
			firstFiring(slothPage, burnEnd, burnEnd-healthy, time.Minute, slothFirstPage),
			firstFiring(estatePage, burnEnd, burnEnd-healthy, time.Minute, estateFirstPage),
		},
	}

	quietEnd := healthy + 7*time.Hour // the error is out of every page's windows
	n = steps(quietEnd, time.Minute) + 1
	// A request every five minutes: at minutes 5, 10, and so on.
	quietRequests := []run{{1, 0}}
	for i := 1; i < n; i += 5 {
		quietRequests = append(quietRequests, run{min(4, n-i), 0})
		if i+4 < n {
			quietRequests = append(quietRequests, run{1, 1})
		}
	}
	failed := steps(healthy+5*time.Minute, time.Minute)
	quiet := ruleTestGroup{
		Interval: "1m",
		InputSeries: []inputSeries{
			{requests, counterValues(quietRequests...)},
			{errs, counterValues(run{failed, 0}, run{1, 1}, run{n - failed - 1, 0})},
		},
		PromQLTests: []promqlTest{
			firstFiring(slothPage, quietEnd, quietEnd-healthy, time.Minute, slothLowTrafficPage),
			neverFiring(estatePage, quietEnd, quietEnd),
			// Nor a ticket: the 2h and 6h windows hold 24 and 72 events.
			neverFiring(fmt.Sprintf(`alertname=%q`, BurnAlertName), quietEnd, quietEnd),
		},
	}
	// Two runs of promtool at once: each takes a minute or so.
	for name, g := range map[string]ruleTestGroup{"a 20x burn": burn, "one error at one request every five minutes": quiet} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testRules(t, dir, time.Minute, []string{"estate.yaml", "sloth.yaml"}, order, g)
		})
	}
}

// TestLowTrafficGuardHoldsInRules: a service with a request a minute (5
// in five minutes, 30 in thirty: under the guard's 100) fails every
// request for half an hour. No page fires, as neither page's short window
// holds enough events; the day's ticket, whose two-hour window holds 120,
// does, after its 12 minutes.
func TestLowTrafficGuardHoldsInRules(t *testing.T) {
	dir := t.TempDir()
	slo := ratioSLO(rolling(30 * 24 * time.Hour))
	writeRules(t, dir, "rules.yaml", []SLO{slo}, RuleOptions{MinEvents: DefaultMinEvents})
	onset, outage, end := 3*time.Hour, 30*time.Minute, 6*time.Hour
	n, h, o := steps(end, time.Minute)+1, steps(onset, time.Minute)+1, steps(outage, time.Minute)
	testRules(t, dir, time.Minute, []string{"rules.yaml"}, nil, ruleTestGroup{
		Interval: "1m",
		InputSeries: []inputSeries{
			{`requests_total{service="inv"}`, counterValues(run{n, 1})},
			{`errors_total{service="inv"}`, counterValues(run{h, 0}, run{o, 1}, run{n - h - o, 0})},
		},
		PromQLTests: []promqlTest{
			neverFiring(fmt.Sprintf(`alertname=%q, severity="page"`, BurnAlertName), end, end),
			firstFiring(fmt.Sprintf(`alertname=%q, long_window="1d"`, BurnAlertName), end, end, time.Minute, onset+time.Minute+12*time.Minute),
		},
	})
}

// TestCountsRulesInPrometheus2: Prometheus 2 (promtool's engine, whose
// ranges include their start) records the exact increase of a step, and
// nothing for a step with a reset (the requests counter restarts at 31
// minutes) or a series born in it without a sample before (the errors
// counter, at 10 minutes).
// promtool evaluates every group every minute: each evaluation records
// the five minutes before it.
func TestCountsRulesInPrometheus2(t *testing.T) {
	dir := t.TempDir()
	slo := ratioSLO(rolling(30 * 24 * time.Hour))
	writeRules(t, dir, "rules.yaml", []SLO{slo}, RuleOptions{MinEvents: DefaultMinEvents})
	series := func(record, sel string) string {
		return fmt.Sprintf(`%s{%s=%q, service="inv", slo="inv-availability"}`, record, SelectorLabel, sel)
	}
	requests, errs := slo.Indicator.Total, slo.Indicator.Bad
	at := func(m time.Duration, record, sel string, want ...float64) promqlTest {
		p := promqlTest{Expr: series(record, sel), EvalTime: FormatDuration(m * time.Minute), ExpSamples: []expSample{}}
		for _, v := range want {
			p.ExpSamples = append(p.ExpSamples, expSample{Labels: series(record, sel), Value: v})
		}
		return p
	}
	testRules(t, dir, time.Minute, []string{"rules.yaml"}, nil, ruleTestGroup{
		Interval: "1m",
		InputSeries: []inputSeries{
			// 0, 100, ... 3000 at 30 minutes; 5 at 31, then 100 a minute.
			{requests, "0+100x30 5+100x30"},
			// From 10 minutes: 0, 1, 2, ...
			{errs, "_x10 0+1x50"},
		},
		PromQLTests: []promqlTest{
			at(30, StepIncreaseRecord, requests, 500),
			at(30, StepSumRecord, requests, 3000),
			at(31, StepIncreaseRecord, requests),
			at(35, StepIncreaseRecord, requests),
			at(35, StepSumRecord, requests),
			at(36, StepIncreaseRecord, requests, 500), // 505 - 5
			at(36, StepSumRecord, requests, 505),
			at(12, StepIncreaseRecord, errs),
			at(14, StepIncreaseRecord, errs),
			at(15, StepIncreaseRecord, errs, 5), // from its first sample, at 10
			at(16, StepIncreaseRecord, errs, 5),
			at(16, StepSumRecord, errs, 6),
		},
	})
}
