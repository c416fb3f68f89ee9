package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/estatehq/estate/internal/promquery"
)

// SLOStatus is what the SLO API answers about one SLO.
type SLOStatus struct {
	Name       string
	Status     string
	Attainment float64
	// BudgetRemaining is the share of the error budget left.
	BudgetRemaining float64
	// BurnRates by window ("5m", "1h").
	BurnRates map[string]float64
}

// SLOSource answers the SLO API.
type SLOSource interface {
	// SLO returns an SLO's status. Errors: ErrNoSuchSLO for an unknown
	// name; any other error when the API cannot answer.
	SLO(ctx context.Context, name string) (SLOStatus, error)
}

// ErrNoSuchSLO is returned by an SLOSource for an unknown SLO.
var ErrNoSuchSLO = errors.New("no such SLO")

// Prober evaluates probes.
type Prober struct {
	// SLOs answers SLO probes; nil fails them.
	SLOs SLOSource
	// Query answers PromQL probes; nil fails them.
	Query promquery.Querier
	// HTTP sends HTTP probes.
	HTTP *http.Client
	// Services resolves a service name to its base URL for HTTP probes.
	Services func(name string) (string, bool)
	Now      func() time.Time
}

// Result is a probe's answer.
type Result struct {
	Probe string
	// OK is whether the probe holds.
	OK bool
	// Err is set when the probe could not be evaluated: no answer, not
	// whether it holds.
	Err     error
	Value   *float64
	Message string
}

// Eval evaluates one probe.
func (p *Prober) Eval(ctx context.Context, pr Probe) Result {
	var r Result
	switch {
	case pr.SLO != nil:
		r = p.evalSLO(ctx, *pr.SLO)
	case pr.PromQL != nil:
		r = p.evalPromQL(ctx, *pr.PromQL)
	case pr.HTTP != nil:
		r = p.evalHTTP(ctx, *pr.HTTP)
	default:
		r = Result{Err: errors.New("the probe has no kind")}
	}
	r.Probe = pr.Name
	if r.Err != nil {
		r.OK = false
		if r.Message == "" {
			r.Message = r.Err.Error()
		}
	}
	return r
}

func (p *Prober) evalSLO(ctx context.Context, pr SLOProbe) Result {
	if p.SLOs == nil {
		return Result{Err: errors.New("no SLO API is configured")}
	}
	st, err := p.SLOs.SLO(ctx, pr.SLO)
	if err != nil {
		return Result{Err: fmt.Errorf("SLO %s: %w", pr.SLO, err)}
	}
	rate, ok := st.BurnRates[pr.Window]
	if !ok {
		return Result{Err: fmt.Errorf("SLO %s has no burn rate over %s", pr.SLO, pr.Window)}
	}
	v := rate
	return Result{OK: rate < pr.MaxBurnRate, Value: &v,
		Message: fmt.Sprintf("burn rate over %s is %.3g (bound %.3g)", pr.Window, rate, pr.MaxBurnRate)}
}

func (p *Prober) evalPromQL(ctx context.Context, pr PromQLProbe) Result {
	if p.Query == nil {
		return Result{Err: errors.New("no PromQL backend is configured")}
	}
	v, err := p.Query.Query(ctx, pr.Query, p.Now())
	if err != nil {
		return Result{Err: fmt.Errorf("query: %w", err)}
	}
	var values []float64
	switch v := v.(type) {
	case model.Vector:
		for _, s := range v {
			values = append(values, float64(s.Value))
		}
	case *model.Scalar:
		values = append(values, float64(v.Value))
	default:
		return Result{Err: fmt.Errorf("the query must give a vector or a scalar, not %s", v.Type())}
	}
	if len(values) == 0 {
		return Result{OK: pr.AllowEmpty, Message: "no data"}
	}
	worst := values[0]
	for _, x := range values {
		if (pr.Max != nil && (x > *pr.Max || math.IsNaN(x))) || (pr.Min != nil && x < *pr.Min) {
			return Result{OK: false, Value: &x, Message: fmt.Sprintf("%.4g is out of bounds", x)}
		}
		worst = max(worst, x)
	}
	return Result{OK: true, Value: &worst, Message: fmt.Sprintf("%d samples within bounds", len(values))}
}

func (p *Prober) evalHTTP(ctx context.Context, pr HTTPProbe) Result {
	target := pr.URL
	if target == "" {
		base, ok := p.Services(pr.Service)
		if !ok {
			return Result{Err: fmt.Errorf("unknown service %q", pr.Service)}
		}
		target = strings.TrimSuffix(base, "/") + pr.Path
	}
	timeout := pr.Timeout.D()
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	want := pr.Status
	if want == 0 {
		want = http.StatusOK
	}
	method := pr.Method
	if method == "" {
		method = http.MethodGet
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, strings.ToUpper(method), target, nil)
	if err != nil {
		return Result{Err: fmt.Errorf("probe request: %w", err)}
	}
	for k, v := range pr.Headers {
		req.Header.Set(k, v)
	}
	start := p.Now()
	resp, err := p.HTTP.Do(req)
	if err != nil {
		// No answer in time, or none at all, is the probe failing: that
		// is what a latency or reset fault does to a client.
		return Result{OK: false, Message: fmt.Sprintf("no answer within %s: %v", timeout, err)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	secs := p.Now().Sub(start).Seconds()
	if resp.StatusCode != want {
		return Result{OK: false, Value: &secs, Message: fmt.Sprintf("answered %d, not %d", resp.StatusCode, want)}
	}
	return Result{OK: true, Value: &secs, Message: fmt.Sprintf("answered %d in %.3fs", resp.StatusCode, secs)}
}
