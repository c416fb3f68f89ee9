package rollout

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/metrics"
)

// Defaults of Config.
const (
	DefaultWindow          = 15 * time.Minute
	DefaultMinRequests     = 100
	DefaultAlpha           = 0.01
	DefaultMinErrorRatio   = 2
	DefaultMinErrorRate    = 0.001
	DefaultMinLatencyShift = 0.64
	// DefaultFastBurn is the burn rate that spends 2% of a 30-day budget
	// in an hour, the fast-burn page of the Google SRE workbook (ch. 5).
	DefaultFastBurn = 14.4
)

// Verdict is what an analysis decided.
type Verdict string

// The verdicts.
const (
	Passed       Verdict = metrics.VerdictPassed
	Failed       Verdict = metrics.VerdictFailed
	Inconclusive Verdict = metrics.VerdictInconclusive
)

// Analysis is one deployment to analyse.
type Analysis struct {
	Service, DeploymentID string
	// Version is the version the deployment shipped. When the RED series
	// carry a version label and, after the deploy, both this version and
	// others served at least MinRequests, the analysis compares them over
	// the same window: the canary against the stable versions.
	Version string
	// DeployedAt is when the deployment reached production.
	DeployedAt time.Time
	// Objective is the target of the service's availability SLO (0.995
	// for 99.5%); zero when it has none, and then no burn rate is judged.
	Objective float64
}

// Config is how analyses decide; the zero value of a field takes its
// default (WithDefaults).
type Config struct {
	// Window is how long after the deploy is analysed (default 15m).
	Window time.Duration
	// Baseline is how long before the deploy is the baseline (default
	// Window).
	Baseline time.Duration
	// MinRequests is the fewest requests after the deploy, and in the
	// baseline, on which a test decides (default 100).
	MinRequests float64
	// Alpha is the significance level of the tests (default 0.01).
	Alpha float64
	// MinErrorRatio and MinErrorRate are how much worse errors must be to
	// fail, besides significant: the rate after at least MinErrorRatio
	// times the rate before (default 2), and the error ratio after at
	// least MinErrorRate (default 0.001).
	MinErrorRatio, MinErrorRate float64
	// MinLatencyShift is the least probability that a request after is
	// slower than one before (Vargha and Delaney's A; 0.5 is no change)
	// for the latency test to fail (default 0.64, a medium effect).
	MinLatencyShift float64
	// FastBurn is the burn rate of the SLO's error budget above which the
	// analysis fails whatever the tests say (default 14.4).
	FastBurn float64
}

// WithDefaults is c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	set := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.Baseline == 0 {
		c.Baseline = c.Window
	}
	set(&c.MinRequests, DefaultMinRequests)
	set(&c.Alpha, DefaultAlpha)
	set(&c.MinErrorRatio, DefaultMinErrorRatio)
	set(&c.MinErrorRate, DefaultMinErrorRate)
	set(&c.MinLatencyShift, DefaultMinLatencyShift)
	set(&c.FastBurn, DefaultFastBurn)
	return c
}

// Validate names every field at fault.
func (c Config) Validate() error {
	var errs []error
	if c.Window <= 0 || c.Window%time.Second != 0 {
		errs = append(errs, errors.New("window must be a positive whole number of seconds"))
	}
	if c.Baseline <= 0 || c.Baseline%time.Second != 0 {
		errs = append(errs, errors.New("baseline must be a positive whole number of seconds"))
	}
	if !(c.MinRequests >= 1) {
		errs = append(errs, errors.New("min_requests must be at least 1"))
	}
	if !(c.Alpha > 0 && c.Alpha < 1) {
		errs = append(errs, errors.New("alpha must be between 0 and 1"))
	}
	if !(c.MinErrorRatio >= 1) {
		errs = append(errs, errors.New("min_error_ratio must be at least 1"))
	}
	if !(c.MinErrorRate >= 0 && c.MinErrorRate < 1) {
		errs = append(errs, errors.New("min_error_rate must be in [0, 1)"))
	}
	if !(c.MinLatencyShift >= 0.5 && c.MinLatencyShift < 1) {
		errs = append(errs, errors.New("min_latency_shift must be in [0.5, 1)"))
	}
	if !(c.FastBurn > 0) || math.IsInf(c.FastBurn, 0) {
		errs = append(errs, errors.New("fast_burn must be positive"))
	}
	return errors.Join(errs...)
}

// Period is what the RED series say of one window.
type Period struct {
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Requests float64   `json:"requests"`
	Errors   float64   `json:"errors"`
	// ErrorRatio is Errors over Requests, zero without requests.
	ErrorRatio float64 `json:"error_ratio"`
	// Buckets is the histogram of request durations.
	Buckets []Bucket `json:"buckets"`
}

// The modes of an analysis.
const (
	// ModeBeforeAfter compares the window after the deploy with the
	// baseline before it.
	ModeBeforeAfter = "before_after"
	// ModeCanary compares the deployment's version with the other
	// versions of the service over the same window after the deploy: a
	// control that shares the window's traffic and its weather.
	ModeCanary = "canary"
)

// Result is an analysis' verdict and its evidence.
type Result struct {
	Service      string  `json:"service"`
	DeploymentID string  `json:"deployment_id"`
	Verdict      Verdict `json:"verdict"`
	// Reason says why, in a sentence.
	Reason string `json:"reason"`
	// Mode is before_after or canary. In canary mode Before is the stable
	// versions and After the canary, both over the window after the
	// deploy.
	Mode   string `json:"mode"`
	Before Period `json:"before"`
	After  Period `json:"after"`
	// ErrorTest and LatencyTest are the tests' outcomes; nil when there
	// were too few requests to run them.
	ErrorTest   *RateTest    `json:"error_test,omitempty"`
	LatencyTest *LatencyTest `json:"latency_test,omitempty"`
	// BurnRate is the error ratio after the deploy over the SLO's error
	// budget (1 - objective); zero without an objective.
	BurnRate float64 `json:"burn_rate"`
	// Alpha is the significance level the tests were judged at.
	Alpha float64 `json:"alpha"`
	// Queries are the PromQL expressions that produced the numbers; each
	// pins its evaluation time with @, so it gives the same answer
	// whenever it is asked again.
	Queries []string `json:"queries"`
}

// Evaluate analyses a over q: the window after a.DeployedAt against the
// baseline before it. It is meant to be called once the window is over.
// Errors: a configuration or analysis that cannot work, or the querier's
// *promquery.Error.
func Evaluate(ctx context.Context, q promquery.Querier, a Analysis, cfg Config) (Result, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return Result{}, fmt.Errorf("config: %w", err)
	}
	if a.Service == "" {
		return Result{}, errors.New("service is required")
	}
	if a.DeployedAt.IsZero() {
		return Result{}, errors.New("deployed_at is required")
	}
	if !(a.Objective >= 0 && a.Objective < 1) {
		return Result{}, errors.New("objective must be in [0, 1)")
	}
	r := Result{Service: a.Service, DeploymentID: a.DeploymentID, Alpha: cfg.Alpha, Mode: ModeBeforeAfter}
	svc := "service=" + strconv.Quote(a.Service)
	end := a.DeployedAt.Add(cfg.Window)
	canary, err := canaryServes(ctx, q, svc, a, end, cfg)
	if err != nil {
		return Result{}, err
	}
	if canary {
		r.Mode = ModeCanary
		v := strconv.Quote(a.Version)
		if r.Before, err = period(ctx, q, "{"+svc+",version!="+v+"}", a.DeployedAt, end, &r.Queries); err != nil {
			return Result{}, fmt.Errorf("the stable versions: %w", err)
		}
		if r.After, err = period(ctx, q, "{"+svc+",version="+v+"}", a.DeployedAt, end, &r.Queries); err != nil {
			return Result{}, fmt.Errorf("the canary: %w", err)
		}
	} else {
		if r.Before, err = period(ctx, q, "{"+svc+"}", a.DeployedAt.Add(-cfg.Baseline), a.DeployedAt, &r.Queries); err != nil {
			return Result{}, fmt.Errorf("baseline: %w", err)
		}
		if r.After, err = period(ctx, q, "{"+svc+"}", a.DeployedAt, end, &r.Queries); err != nil {
			return Result{}, fmt.Errorf("after the deploy: %w", err)
		}
	}
	if err := decide(&r, a, cfg); err != nil {
		return Result{}, err
	}
	return r, nil
}

// decide sets r's tests and verdict from its periods. Its errors are
// numbers the tests refuse (a histogram with a bound twice), never a
// verdict: a defect in the evidence does not fail a deploy.
func decide(r *Result, a Analysis, cfg Config) error {
	if r.After.Requests < cfg.MinRequests {
		r.Verdict = Inconclusive
		r.Reason = fmt.Sprintf("%.0f requests after the deploy, fewer than the %.0f needed to decide", r.After.Requests, cfg.MinRequests)
		return nil
	}
	var failures []string
	if a.Objective > 0 {
		r.BurnRate = r.After.ErrorRatio / (1 - a.Objective)
		if r.BurnRate > cfg.FastBurn {
			failures = append(failures, fmt.Sprintf("the error budget burns at %.1f times its rate, above %.1f", r.BurnRate, cfg.FastBurn))
		}
	}
	baseline := r.Before.Requests >= cfg.MinRequests
	if baseline {
		et, err := ErrorRateTest(r.Before.Errors, r.Before.Requests, r.After.Errors, r.After.Requests)
		if err != nil {
			return fmt.Errorf("error test: %w", err)
		}
		r.ErrorTest = &et
		if et.P < cfg.Alpha && et.Ratio >= cfg.MinErrorRatio && r.After.ErrorRatio >= cfg.MinErrorRate {
			if r.Mode == ModeCanary {
				failures = append(failures, fmt.Sprintf("the canary's errors are %.3g%%, the stable versions' %.3g%% (p = %.2g)", 100*r.After.ErrorRatio, 100*r.Before.ErrorRatio, et.P))
			} else {
				failures = append(failures, fmt.Sprintf("errors rose from %.3g%% to %.3g%% (p = %.2g)", 100*r.Before.ErrorRatio, 100*r.After.ErrorRatio, et.P))
			}
		}
		lt, err := MannWhitney(r.Before.Buckets, r.After.Buckets)
		if err != nil {
			return fmt.Errorf("latency test: %w", err)
		}
		if lt.Before >= cfg.MinRequests && lt.After >= cfg.MinRequests {
			r.LatencyTest = &lt
			if lt.P < cfg.Alpha && lt.Effect >= cfg.MinLatencyShift {
				failures = append(failures, fmt.Sprintf("requests got slower: one after is slower than one before with probability %.2f (p = %.2g)", lt.Effect, lt.P))
			}
		}
	}
	switch {
	case len(failures) > 0:
		r.Verdict = Failed
		r.Reason = strings.Join(failures, "; ")
	case !baseline:
		r.Verdict = Inconclusive
		r.Reason = fmt.Sprintf("%.0f requests before the deploy, too few for a baseline", r.Before.Requests)
	default:
		r.Verdict = Passed
		r.Reason = "neither errors nor latency are worse than before the deploy"
	}
	return nil
}

// canaryServes reports whether, over the window after the deploy, the
// RED series of the service svc carry versions and both a's version and
// the others served at least MinRequests requests.
func canaryServes(ctx context.Context, q promquery.Querier, svc string, a Analysis, end time.Time, cfg Config) (bool, error) {
	if a.Version == "" {
		return false, nil
	}
	expr := fmt.Sprintf("sum by (version) (increase(estate_red_requests_total{%s}[%s] @ %d))", svc, model.Duration(end.Sub(a.DeployedAt)), end.Unix())
	v, err := q.Query(ctx, expr, end)
	if err != nil {
		return false, err
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return false, fmt.Errorf("%s: a %s, not a vector", expr, v.Type())
	}
	var canary, stable float64
	for _, s := range vec {
		switch string(s.Metric["version"]) {
		case "":
			return false, nil // requests of no known version: no stable to trust
		case a.Version:
			canary += float64(s.Value)
		default:
			stable += float64(s.Value)
		}
	}
	return canary >= cfg.MinRequests && stable >= cfg.MinRequests, nil
}

// period reads the RED series that sel selects over (from, to],
// appending the queries it asks to queries.
func period(ctx context.Context, q promquery.Querier, sel string, from, to time.Time, queries *[]string) (Period, error) {
	p := Period{From: from, To: to}
	rng := fmt.Sprintf("[%s] @ %d", model.Duration(to.Sub(from)), to.Unix())
	scalar := func(name string) (float64, error) {
		expr := "sum(increase(" + name + sel + rng + "))"
		*queries = append(*queries, expr)
		v, err := q.Query(ctx, expr, to)
		if err != nil {
			return 0, err
		}
		vec, ok := v.(model.Vector)
		if !ok {
			return 0, fmt.Errorf("%s: a %s, not a vector", expr, v.Type())
		}
		if len(vec) == 0 {
			return 0, nil // no series: no traffic
		}
		return count(expr, float64(vec[0].Value))
	}
	var err error
	if p.Requests, err = scalar("estate_red_requests_total"); err != nil {
		return Period{}, err
	}
	if p.Errors, err = scalar("estate_red_errors_total"); err != nil {
		return Period{}, err
	}
	// increase() extrapolates each series alone, so errors may read a
	// hair above requests.
	p.Errors = math.Min(p.Errors, p.Requests)
	if p.Requests > 0 {
		p.ErrorRatio = p.Errors / p.Requests
	}

	expr := "sum by (le) (increase(estate_red_request_duration_seconds_bucket" + sel + rng + "))"
	*queries = append(*queries, expr)
	v, err := q.Query(ctx, expr, to)
	if err != nil {
		return Period{}, err
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return Period{}, fmt.Errorf("%s: a %s, not a vector", expr, v.Type())
	}
	for _, s := range vec {
		le, err := strconv.ParseFloat(string(s.Metric["le"]), 64)
		if err != nil {
			return Period{}, fmt.Errorf("%s: bucket bound %q: %w", expr, s.Metric["le"], err)
		}
		c, err := count(expr, float64(s.Value))
		if err != nil {
			return Period{}, err
		}
		p.Buckets = append(p.Buckets, Bucket{Le: le, Count: c})
	}
	return p, nil
}

// count checks that v, an increase() of counters, is a count.
func count(expr string, v float64) (float64, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, fmt.Errorf("%s: %v is not a count", expr, v)
	}
	return v, nil
}
