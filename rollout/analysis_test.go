package rollout_test

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/internal/promquery/promquerytest"
	"github.com/estatehq/estate/rollout"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// deployedAt is when the synthetic deployment reached production.
var deployedAt = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

// scrape is the interval of the series, as the collector scrapes its own
// RED counters.
const scrape = 15 * time.Second

// les are the bucket bounds of estate_red_request_duration_seconds.
var les = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, math.Inf(1)}

// phase is the traffic of one side of the deploy: per scrape, a number
// of requests drawn uniformly from [minReq, maxReq], each failing with
// probability errRate and taking a duration in bucket i with probability
// latency[i] (the rest in the first bucket).
type phase struct {
	minReq, maxReq int
	errRate        float64
	latency        map[int]float64
	// errorsAt are scrapes, counted from the phase's start, that add one
	// error whatever errRate draws.
	errorsAt []int
}

// fast is a service answering 90% of requests within 100 ms, the rest
// within 250 ms.
var fast = map[int]float64{4: 0.9, 5: 0.1}

// series are the estate_red_* counters of service for the half hour before
// deployedAt, by before, and the half hour after, by after (a nil phase: no
// samples at all, as before a new service's first deploy or after a
// service is gone).
func series(seed uint64, service string, before, after *phase) []promquerytest.Series {
	rnd := rand.New(rand.NewPCG(seed, 1))
	labels := func(extra ...string) map[string]string {
		m := map[string]string{"service": service, "route": "GET /v1/invoices", "status_class": "2xx"}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	reqs := promquerytest.Series{Family: "estate_red_requests", Type: "counter", Name: "estate_red_requests_total", Labels: labels()}
	errs := promquerytest.Series{Family: "estate_red_errors", Type: "counter", Name: "estate_red_errors_total", Labels: labels()}
	buckets := make([]promquerytest.Series, len(les))
	for i, le := range les {
		buckets[i] = promquerytest.Series{Family: "estate_red_request_duration_seconds", Type: "histogram",
			Name: "estate_red_request_duration_seconds_bucket", Labels: labels("le", strconv.FormatFloat(le, 'g', -1, 64))}
	}
	var nReq, nErr float64
	perBucket := make([]float64, len(les))
	start, end := deployedAt.Add(-30*time.Minute), deployedAt.Add(30*time.Minute)
	for i, at := 0, start; !at.After(end); i, at = i+1, at.Add(scrape) {
		ph, n := before, i
		if at.After(deployedAt) {
			ph, n = after, i-int(30*time.Minute/scrape)-1
		}
		if ph == nil {
			continue
		}
		if i > 0 {
			k := ph.minReq + rnd.IntN(ph.maxReq-ph.minReq+1)
			for range k {
				nReq++
				if rnd.Float64() < ph.errRate {
					nErr++
				}
				b, u := 0, rnd.Float64()
				for j := range les {
					if u < ph.latency[j] {
						b = j
						break
					}
					u -= ph.latency[j]
				}
				perBucket[b]++
			}
			for _, e := range ph.errorsAt {
				if e == n {
					nErr++
				}
			}
		}
		reqs.Points = append(reqs.Points, promquerytest.Point{T: at, V: nReq})
		errs.Points = append(errs.Points, promquerytest.Point{T: at, V: nErr})
		var cum float64
		for j := range les {
			cum += perBucket[j]
			buckets[j].Points = append(buckets[j].Points, promquerytest.Point{T: at, V: cum})
		}
	}
	return append([]promquerytest.Series{reqs, errs}, buckets...)
}

// querier is the embedded PromQL engine over ss in a Prometheus TSDB.
func querier(t *testing.T, ss []promquerytest.Series) promquery.Querier {
	t.Helper()
	st := teststorage.New(t)
	require.NoError(t, promquerytest.Append(context.Background(), st, ss))
	return promquery.NewEngine(promqltest.NewTestEngine(t, false, 5*time.Minute, 100_000_000), st)
}

func TestEvaluate(t *testing.T) {
	// Moderate traffic: 3 to 7 requests a scrape, about 300 in 15 minutes.
	moderate := func(errRate float64, latency map[int]float64) *phase {
		return &phase{minReq: 3, maxReq: 7, errRate: errRate, latency: latency}
	}
	// Low traffic: 0 to 5 requests a scrape, about 10 a minute.
	low := func(errorsAt ...int) *phase {
		return &phase{minReq: 0, maxReq: 5, latency: fast, errorsAt: errorsAt}
	}
	// Very low traffic: 0 to 2 requests a scrape, about 4 a minute.
	veryLow := func(errorsAt ...int) *phase {
		return &phase{minReq: 0, maxReq: 2, latency: fast, errorsAt: errorsAt}
	}
	cases := []struct {
		name          string
		before, after *phase
		objective     float64
		want          rollout.Verdict
		check         func(t *testing.T, r rollout.Result)
	}{
		{
			// The error rate ×10, an SLO loose enough (99%) that the burn
			// rate (about 10) stays below 14.4: the error test catches it.
			name: "bad deploy", before: moderate(0.01, fast), after: moderate(0.10, fast), objective: 0.99,
			want: rollout.Failed,
			check: func(t *testing.T, r rollout.Result) {
				require.Less(t, r.ErrorTest.P, 1e-4)
				require.Greater(t, r.ErrorTest.Ratio, 5.0)
				require.Less(t, r.BurnRate, rollout.DefaultFastBurn)
				require.Contains(t, r.Reason, "errors rose")
				require.NotContains(t, r.Reason, "burns")
			},
		},
		{
			name: "bad deploy burning a tight SLO", before: moderate(0.01, fast), after: moderate(0.10, fast), objective: 0.995,
			want: rollout.Failed,
			check: func(t *testing.T, r rollout.Result) {
				require.Greater(t, r.BurnRate, rollout.DefaultFastBurn)
				require.Contains(t, r.Reason, "burns")
				require.Contains(t, r.Reason, "errors rose")
			},
		},
		{
			// No baseline to test against, but 5% errors against a 99.9%
			// objective burn the budget 50 times too fast.
			name: "fast burn without a baseline", before: nil, after: moderate(0.05, fast), objective: 0.999,
			want: rollout.Failed,
			check: func(t *testing.T, r rollout.Result) {
				require.Nil(t, r.ErrorTest)
				require.Greater(t, r.BurnRate, 30.0)
				require.Contains(t, r.Reason, "burns")
			},
		},
		{
			name: "good deploy, noisy low traffic, one error", before: low(), after: low(20), objective: 0.995,
			want: rollout.Passed,
			check: func(t *testing.T, r rollout.Result) {
				require.GreaterOrEqual(t, r.After.Requests, 100.0)
				require.Less(t, r.After.Requests, 250.0)
				require.InDelta(t, 1, r.After.Errors, 0.1)
				require.Greater(t, r.ErrorTest.P, 0.1)
			},
		},
		{
			name: "good deploy, too few requests to decide", before: veryLow(), after: veryLow(20), objective: 0.995,
			want: rollout.Inconclusive,
			check: func(t *testing.T, r rollout.Result) {
				require.Less(t, r.After.Requests, 100.0)
				require.Greater(t, r.After.Requests, 0.0)
				require.Contains(t, r.Reason, "fewer than the 100")
			},
		},
		{
			name: "no traffic after the deploy", before: moderate(0.01, fast), after: &phase{latency: fast}, objective: 0.995,
			want: rollout.Inconclusive,
			check: func(t *testing.T, r rollout.Result) {
				require.Zero(t, r.After.Requests)
			},
		},
		{
			name: "no samples after the deploy", before: moderate(0.01, fast), after: nil, objective: 0.995,
			want: rollout.Inconclusive,
			check: func(t *testing.T, r rollout.Result) {
				require.Zero(t, r.After.Requests)
			},
		},
		{
			// After the deploy most requests take 250 to 500 ms instead of
			// under 100 ms; errors are unchanged.
			name: "latency regression", before: moderate(0, fast), after: moderate(0, map[int]float64{4: 0.2, 6: 0.8}), objective: 0.995,
			want: rollout.Failed,
			check: func(t *testing.T, r rollout.Result) {
				require.Less(t, r.LatencyTest.P, 1e-6)
				require.Greater(t, r.LatencyTest.Effect, 0.64)
				require.Contains(t, r.Reason, "slower")
				require.NotContains(t, r.Reason, "errors rose")
			},
		},
		{
			name: "unchanged", before: moderate(0.01, fast), after: moderate(0.01, fast), objective: 0.99,
			want: rollout.Passed,
			check: func(t *testing.T, r rollout.Result) {
				require.Greater(t, r.LatencyTest.P, 0.01)
				require.InDelta(t, 0.5, r.LatencyTest.Effect, 0.05)
			},
		},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ss := series(uint64(i+1), "invoicing", c.before, c.after)
			// Another service's failures must not count.
			ss = append(ss, series(99, "credit", moderate(0.5, fast), moderate(0.5, fast))...)
			q := querier(t, ss)
			a := rollout.Analysis{Service: "invoicing", DeploymentID: "dep-1", DeployedAt: deployedAt, Objective: c.objective}
			r, err := rollout.Evaluate(t.Context(), q, a, rollout.Config{})
			require.NoError(t, err)
			require.Equal(t, c.want, r.Verdict, r.Reason)
			require.Equal(t, "invoicing", r.Service)
			require.Equal(t, "dep-1", r.DeploymentID)
			require.Equal(t, deployedAt, r.After.From)
			require.Equal(t, deployedAt.Add(rollout.DefaultWindow), r.After.To)
			require.Equal(t, deployedAt.Add(-rollout.DefaultWindow), r.Before.From)
			c.check(t, r)
		})
	}
}

// TestEvaluateQueriesAreEvidence asks the recorded queries again, at
// another time: being pinned with @, they give the numbers of the result.
func TestEvaluateQueriesAreEvidence(t *testing.T) {
	ph := &phase{minReq: 3, maxReq: 7, errRate: 0.05, latency: fast}
	q := querier(t, series(7, "invoicing", ph, ph))
	r, err := rollout.Evaluate(t.Context(), q, rollout.Analysis{Service: "invoicing", DeployedAt: deployedAt}, rollout.Config{})
	require.NoError(t, err)
	require.Equal(t, []string{
		`sum(increase(estate_red_requests_total{service="invoicing"}[15m] @ 1796212800))`,
		`sum(increase(estate_red_errors_total{service="invoicing"}[15m] @ 1796212800))`,
		`sum by (le) (increase(estate_red_request_duration_seconds_bucket{service="invoicing"}[15m] @ 1796212800))`,
		`sum(increase(estate_red_requests_total{service="invoicing"}[15m] @ 1796213700))`,
		`sum(increase(estate_red_errors_total{service="invoicing"}[15m] @ 1796213700))`,
		`sum by (le) (increase(estate_red_request_duration_seconds_bucket{service="invoicing"}[15m] @ 1796213700))`,
	}, r.Queries)
	for i, want := range []float64{r.Before.Requests, r.Before.Errors, 0, r.After.Requests, r.After.Errors} {
		if i == 2 {
			continue
		}
		v, err := q.Query(t.Context(), r.Queries[i], deployedAt.Add(time.Hour))
		require.NoError(t, err)
		require.InDelta(t, want, float64(v.(model.Vector)[0].Value), 1e-9, r.Queries[i])
	}
	require.Greater(t, r.Before.Requests, 200.0)
	require.Zero(t, r.BurnRate, "no objective, no burn rate")
}

func TestEvaluateRefuses(t *testing.T) {
	q := querier(t, nil)
	ok := rollout.Analysis{Service: "invoicing", DeployedAt: deployedAt}
	cases := []struct {
		name string
		a    rollout.Analysis
		cfg  rollout.Config
		want string
	}{
		{"no service", rollout.Analysis{DeployedAt: deployedAt}, rollout.Config{}, "service"},
		{"no deploy time", rollout.Analysis{Service: "invoicing"}, rollout.Config{}, "deployed_at"},
		{"objective of 1", rollout.Analysis{Service: "invoicing", DeployedAt: deployedAt, Objective: 1}, rollout.Config{}, "objective"},
		{"negative window", ok, rollout.Config{Window: -time.Minute}, "window"},
		{"fractional window", ok, rollout.Config{Window: 1500 * time.Millisecond}, "window"},
		{"alpha of 1", ok, rollout.Config{Alpha: 1}, "alpha"},
		{"min latency shift below a half", ok, rollout.Config{MinLatencyShift: 0.4}, "min_latency_shift"},
		{"min error ratio below 1", ok, rollout.Config{MinErrorRatio: 0.5}, "min_error_ratio"},
		{"negative fast burn", ok, rollout.Config{FastBurn: -1}, "fast_burn"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := rollout.Evaluate(t.Context(), q, c.a, c.cfg)
			require.ErrorContains(t, err, c.want)
		})
	}
}

func TestEvaluateReportsQueryErrors(t *testing.T) {
	q := querier(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := rollout.Evaluate(ctx, q, rollout.Analysis{Service: "invoicing", DeployedAt: deployedAt}, rollout.Config{})
	var qe *promquery.Error
	require.ErrorAs(t, err, &qe)
	require.Equal(t, promquery.ErrCanceled, qe.Type)
}

// TestEvaluateRefusesBadHistograms: a histogram with one bound twice
// ("+Inf" and "Inf") is an error of the evidence, not a verdict.
func TestEvaluateRefusesBadHistograms(t *testing.T) {
	ph := &phase{minReq: 3, maxReq: 7, latency: fast}
	ss := series(3, "invoicing", ph, ph)
	dup := ss[len(ss)-1] // the +Inf bucket
	dup.Labels = map[string]string{"service": "invoicing", "route": "GET /v1/invoices", "status_class": "2xx", "le": "Inf"}
	q := querier(t, append(ss, dup))
	_, err := rollout.Evaluate(t.Context(), q, rollout.Analysis{Service: "invoicing", DeployedAt: deployedAt}, rollout.Config{})
	require.ErrorContains(t, err, "appears twice")
}

// versioned is ss with the label version=v on every series.
func versioned(v string, ss []promquerytest.Series) []promquerytest.Series {
	for i := range ss {
		labels := map[string]string{"version": v}
		for k, l := range ss[i].Labels {
			labels[k] = l
		}
		ss[i].Labels = labels
	}
	return ss
}

// TestEvaluateCanary: when the series carry versions and both the new one
// and the old serve enough after the deploy, the canary is judged against
// the stable versions over the same window; otherwise before against
// after.
func TestEvaluateCanary(t *testing.T) {
	moderate := func(errRate float64) *phase { return &phase{minReq: 3, maxReq: 7, errRate: errRate, latency: fast} }
	a := rollout.Analysis{Service: "api", DeploymentID: "d2", Version: "v2", DeployedAt: deployedAt}

	t.Run("a bad canary fails against the stable version", func(t *testing.T) {
		stable := versioned("v1", series(1, "api", moderate(0.01), moderate(0.01)))
		canary := versioned("v2", series(2, "api", nil, moderate(0.10)))
		r, err := rollout.Evaluate(t.Context(), querier(t, append(stable, canary...)), a, rollout.Config{})
		require.NoError(t, err)
		require.Equal(t, rollout.ModeCanary, r.Mode)
		require.Equal(t, rollout.Failed, r.Verdict, r.Reason)
		require.Contains(t, r.Reason, "the canary's errors")
		require.Equal(t, deployedAt, r.Before.From.UTC(), "the stable versions over the same window")
		require.Contains(t, r.Queries[0], `version!="v2"`)
		require.Contains(t, r.Queries[3], `version="v2"`)
	})
	t.Run("a good canary passes though errors rose everywhere", func(t *testing.T) {
		// Both versions fail more after the deploy (a dependency's bad
		// day): before against after would blame the deploy.
		stable := versioned("v1", series(1, "api", moderate(0.01), moderate(0.10)))
		canary := versioned("v2", series(2, "api", nil, moderate(0.10)))
		r, err := rollout.Evaluate(t.Context(), querier(t, append(stable, canary...)), a, rollout.Config{})
		require.NoError(t, err)
		require.Equal(t, rollout.ModeCanary, r.Mode)
		require.Equal(t, rollout.Passed, r.Verdict, r.Reason)
	})
	t.Run("a whole rollout is judged before against after", func(t *testing.T) {
		ss := append(versioned("v1", series(1, "api", moderate(0.01), nil)), versioned("v2", series(2, "api", nil, moderate(0.10)))...)
		r, err := rollout.Evaluate(t.Context(), querier(t, ss), a, rollout.Config{})
		require.NoError(t, err)
		require.Equal(t, rollout.ModeBeforeAfter, r.Mode)
		require.Equal(t, rollout.Failed, r.Verdict, r.Reason)
		require.Contains(t, r.Reason, "errors rose")
	})
}
