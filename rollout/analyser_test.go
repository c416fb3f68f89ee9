package rollout_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/delivery"
	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/sqlite"
	"github.com/estatehq/estate/rollout"
)

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// eventStore is a SQLite event log holding the deployment "d1" of
// service "api", in production from deployedAt.
func eventStore(t *testing.T, extra ...metrics.Event) metrics.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	events := append([]metrics.Event{
		{ID: "d1-started", Source: "ci", Time: deployedAt.Add(-5 * time.Minute),
			Data: metrics.DeploymentStarted{DeploymentID: "d1", Service: "api", Environment: "production", Version: "v2"}},
		{ID: "d1-succeeded", Source: "ci", Time: deployedAt, Data: metrics.DeploymentSucceeded{DeploymentID: "d1"}},
		{ID: "d0-started", Source: "ci", Time: deployedAt.Add(-48 * time.Hour),
			Data: metrics.DeploymentStarted{DeploymentID: "d0", Service: "api", Environment: "production", Version: "v1"}},
		{ID: "d0-succeeded", Source: "ci", Time: deployedAt.Add(-48 * time.Hour), Data: metrics.DeploymentSucceeded{DeploymentID: "d0"}},
	}, extra...)
	_, err = st.Append(t.Context(), events)
	require.NoError(t, err)
	return st
}

// ofType returns the stored events of type typ.
func ofType(t *testing.T, st metrics.Store, typ metrics.Type) []metrics.Event {
	t.Helper()
	all, err := st.Events(t.Context(), metrics.Filter{})
	require.NoError(t, err)
	var out []metrics.Event
	for _, e := range all {
		if e.Type() == typ {
			out = append(out, e)
		}
	}
	return out
}

// analyser is an analyser of st over q on clk, with an SLO of 99.5%.
func analyser(t *testing.T, st metrics.Store, q promquery.Querier, clk *clock, mod func(*rollout.Options)) *rollout.Analyser {
	t.Helper()
	o := rollout.Options{Store: st, Querier: q, Now: clk.Now, Registerer: prometheus.NewRegistry(),
		Objective: func(string) float64 { return 0.995 },
		HookRetry: delivery.Retry{MaxAttempts: 5, Backoff: delivery.Backoff{Initial: time.Second, Max: time.Minute},
			Sleep: func(context.Context, time.Duration) error { return nil }}}
	if mod != nil {
		mod(&o)
	}
	a, err := rollout.NewAnalyser(o)
	require.NoError(t, err)
	return a
}

// passUntil passes every 15 s of the clock from the deploy until a
// verdict is stored or until end, and returns the clock's time then.
func passUntil(t *testing.T, a *rollout.Analyser, st metrics.Store, clk *clock, end time.Time) time.Time {
	t.Helper()
	for at := deployedAt; !at.After(end); at = at.Add(15 * time.Second) {
		clk.Set(at)
		require.NoError(t, a.Pass(t.Context()))
		if len(ofType(t, st, metrics.TypeDeploymentAnalysed)) > 0 {
			return at
		}
	}
	return end
}

func TestAnalyserCatchesABadDeployWithinItsWindow(t *testing.T) {
	moderate := func(errRate float64) *phase { return &phase{minReq: 3, maxReq: 7, errRate: errRate, latency: fast} }
	q := querier(t, series(7, "api", moderate(0.01), moderate(0.10)))
	st := eventStore(t)
	clk := &clock{}
	a := analyser(t, st, q, clk, nil)

	decidedAt := passUntil(t, a, st, clk, deployedAt.Add(time.Hour))
	require.Less(t, decidedAt.Sub(deployedAt), rollout.DefaultWindow, "caught within the window, not at its end")

	analysed := ofType(t, st, metrics.TypeDeploymentAnalysed)
	require.Len(t, analysed, 1)
	v := analysed[0].Data.(metrics.DeploymentAnalysed)
	require.Equal(t, metrics.VerdictFailed, v.Verdict)
	require.Contains(t, v.Reason, "errors rose")
	recs := ofType(t, st, metrics.TypeDeploymentRollbackRecommended)
	require.Len(t, recs, 1)
	require.True(t, recs[0].Data.(metrics.DeploymentRollbackRecommended).DryRun, "no hooks: a dry run")

	s, err := a.Analysis(t.Context(), "d1")
	require.NoError(t, err)
	require.Equal(t, "failed", s.State)
	require.True(t, s.RollbackRecommended)
	require.Equal(t, "v2", s.Version)
	require.NotNil(t, s.Result)
	require.Equal(t, deployedAt, s.Result.After.From.UTC())
	require.Less(t, s.Result.After.To.Sub(deployedAt), rollout.DefaultWindow, "an interim look")
	require.Less(t, s.Result.Alpha, rollout.DefaultAlpha/2, "interim looks share half of alpha")
	require.Len(t, s.Result.Queries, 6)
	// The evidence is reproducible: its query gives its number again.
	v0, err := q.Query(t.Context(), s.Result.Queries[3], time.Now())
	require.NoError(t, err)
	require.Contains(t, v0.String(), "=>")
	require.Greater(t, s.Result.After.Errors, 0.0)

	// Nothing more is decided at later passes.
	clk.Set(deployedAt.Add(time.Hour))
	require.NoError(t, a.Pass(t.Context()))
	require.Len(t, ofType(t, st, metrics.TypeDeploymentAnalysed), 1)

	list, err := a.Analyses(t.Context(), rollout.Filter{State: "failed"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Nil(t, list[0].Result, "lists leave the evidence out")
	_, err = a.Analysis(t.Context(), "nope")
	require.ErrorIs(t, err, metrics.ErrNotFound)
}

func TestAnalyserPassesAGoodDeployOnlyAtTheEndOfItsWindow(t *testing.T) {
	low := func(errorsAt ...int) *phase { return &phase{minReq: 0, maxReq: 5, latency: fast, errorsAt: errorsAt} }
	q := querier(t, series(3, "api", low(), low(20)))
	st := eventStore(t)
	clk := &clock{}
	a := analyser(t, st, q, clk, nil)

	clk.Set(deployedAt.Add(10 * time.Minute))
	require.NoError(t, a.Pass(t.Context()))
	s, err := a.Analysis(t.Context(), "d1")
	require.NoError(t, err)
	require.Equal(t, rollout.Running, s.State)
	require.Equal(t, deployedAt.Add(rollout.DefaultWindow), s.WindowEnd)

	decidedAt := passUntil(t, a, st, clk, deployedAt.Add(time.Hour))
	require.GreaterOrEqual(t, decidedAt.Sub(deployedAt), rollout.DefaultWindow+rollout.DefaultSettle)
	s, err = a.Analysis(t.Context(), "d1")
	require.NoError(t, err)
	require.Equal(t, "passed", s.State, s.Reason)
	require.Equal(t, rollout.DefaultAlpha/2, s.Result.Alpha)
	require.Empty(t, ofType(t, st, metrics.TypeDeploymentRollbackRecommended))
}

func TestAnalyserNeverPassesADeployWithoutTraffic(t *testing.T) {
	q := querier(t, series(5, "api", &phase{minReq: 3, maxReq: 7, latency: fast}, &phase{latency: fast}))
	st := eventStore(t)
	clk := &clock{}
	a := analyser(t, st, q, clk, nil)
	passUntil(t, a, st, clk, deployedAt.Add(time.Hour))
	s, err := a.Analysis(t.Context(), "d1")
	require.NoError(t, err)
	require.Equal(t, "inconclusive", s.State)
	require.Contains(t, s.Reason, "0 requests after the deploy")
}

func TestAnalyserLeavesOldAndRolledBackDeployments(t *testing.T) {
	q := querier(t, series(5, "api", &phase{minReq: 3, maxReq: 7, latency: fast}, &phase{minReq: 3, maxReq: 7, errRate: 0.2, latency: fast}))
	st := eventStore(t, metrics.Event{ID: "d1-rolled", Source: "ci", Time: deployedAt.Add(2 * time.Minute),
		Data: metrics.DeploymentRolledBack{DeploymentID: "d1", ToVersion: "v1"}})
	clk := &clock{}
	a := analyser(t, st, q, clk, nil)
	clk.Set(deployedAt.Add(3 * time.Minute))
	require.NoError(t, a.Pass(t.Context()))
	s, err := a.Analysis(t.Context(), "d1")
	require.NoError(t, err)
	require.Equal(t, "inconclusive", s.State)
	require.Contains(t, s.Reason, "rolled back")
	// d0 went to production two days ago: past MaxAge, never analysed.
	_, err = a.Analysis(t.Context(), "d0")
	require.ErrorIs(t, err, metrics.ErrNotFound)
}

// TestAnalyserResumesAfterARestart: an analyser stopped mid-window and
// another started on the same log decide the deployment once, over the
// deployment's own window; two analysers deciding together store one
// verdict.
func TestAnalyserResumesAfterARestart(t *testing.T) {
	low := func(errorsAt ...int) *phase { return &phase{minReq: 0, maxReq: 5, latency: fast, errorsAt: errorsAt} }
	q := querier(t, series(3, "api", low(), low(20)))
	st := eventStore(t)
	clk := &clock{}
	first := analyser(t, st, q, clk, nil)
	for _, m := range []time.Duration{2, 5, 9} {
		clk.Set(deployedAt.Add(m * time.Minute))
		require.NoError(t, first.Pass(t.Context()))
	}
	require.Empty(t, ofType(t, st, metrics.TypeDeploymentAnalysed))

	// Restarted: the new analysers resume at the window's end, not 15
	// minutes after their start.
	second, third := analyser(t, st, q, clk, nil), analyser(t, st, q, clk, nil)
	clk.Set(deployedAt.Add(rollout.DefaultWindow + rollout.DefaultSettle))
	var wg sync.WaitGroup
	for _, a := range []*rollout.Analyser{second, third} {
		wg.Go(func() { require.NoError(t, a.Pass(context.Background())) })
	}
	wg.Wait()
	analysed := ofType(t, st, metrics.TypeDeploymentAnalysed)
	require.Len(t, analysed, 1)
	require.Equal(t, metrics.VerdictPassed, analysed[0].Data.(metrics.DeploymentAnalysed).Verdict)
	s, err := second.Analysis(t.Context(), "d1")
	require.NoError(t, err)
	require.Equal(t, deployedAt, s.Result.After.From.UTC())
	require.Equal(t, deployedAt.Add(rollout.DefaultWindow), s.Result.After.To.UTC())
}

// hook is a rollback hook that fails its first failures calls with err.
type hook struct {
	name     string
	failures int32
	err      error
	calls    atomic.Int32
	got      chan rollout.Recommendation
}

func (h *hook) Name() string { return h.name }

func (h *hook) Call(_ context.Context, r rollout.Recommendation) (rollout.Answer, error) {
	n := h.calls.Add(1)
	if n <= h.failures {
		return rollout.Answer{Status: 503, Detail: "busy"}, h.err
	}
	select {
	case h.got <- r:
	default:
	}
	return rollout.Answer{Status: 204, Detail: "dispatched"}, nil
}

func TestAnalyserCallsEachHookOncePerFailedAnalysis(t *testing.T) {
	moderate := func(errRate float64) *phase { return &phase{minReq: 3, maxReq: 7, errRate: errRate, latency: fast} }
	q := querier(t, series(7, "api", moderate(0.01), moderate(0.10)))

	t.Run("retried until answered, once", func(t *testing.T) {
		st := eventStore(t)
		clk := &clock{}
		flaky := &hook{name: "flaky", failures: 2, err: errors.New("503"), got: make(chan rollout.Recommendation, 1)}
		refusing := &hook{name: "refusing", failures: 100, err: delivery.Permanent(errors.New("401 bad credentials"))}
		mod := func(o *rollout.Options) { o.CallHooks, o.Hooks = true, []rollout.Hook{flaky, refusing} }
		a := analyser(t, st, q, clk, mod)
		passUntil(t, a, st, clk, deployedAt.Add(time.Hour))
		a.Wait()

		require.EqualValues(t, 3, flaky.calls.Load(), "two failures, then answered")
		require.EqualValues(t, 1, refusing.calls.Load(), "a permanent refusal is not retried")
		r := <-flaky.got
		require.Equal(t, "d1", r.DeploymentID)
		require.Equal(t, "v1", r.RollbackTo, "the version in production before")
		require.Equal(t, rollout.Failed, r.Result.Verdict)
		require.False(t, ofType(t, st, metrics.TypeDeploymentRollbackRecommended)[0].Data.(metrics.DeploymentRollbackRecommended).DryRun)

		calls := ofType(t, st, metrics.TypeDeploymentRollbackHookCalled)
		require.Len(t, calls, 2)
		s, err := a.Analysis(t.Context(), "d1")
		require.NoError(t, err)
		require.Equal(t, []rollout.HookCall{
			{Hook: "flaky", Outcome: metrics.HookSucceeded, Attempts: 3, Status: 204, Detail: "dispatched", At: s.Hooks[0].At},
			{Hook: "refusing", Outcome: metrics.HookFailed, Attempts: 1, Status: 503, Detail: "permanent: 401 bad credentials: busy", At: s.Hooks[1].At},
		}, s.Hooks)

		// More passes, and an analyser started again, call nothing more.
		again := analyser(t, st, q, clk, mod)
		for range 3 {
			clk.Set(clk.Now().Add(time.Minute))
			require.NoError(t, a.Pass(t.Context()))
			require.NoError(t, again.Pass(t.Context()))
		}
		a.Wait()
		again.Wait()
		require.EqualValues(t, 3, flaky.calls.Load())
		require.EqualValues(t, 1, refusing.calls.Load())
		require.Len(t, ofType(t, st, metrics.TypeDeploymentRollbackHookCalled), 2)
	})

	t.Run("never in a dry run", func(t *testing.T) {
		st := eventStore(t)
		clk := &clock{}
		h := &hook{name: "webhook"}
		a := analyser(t, st, q, clk, func(o *rollout.Options) { o.Hooks = []rollout.Hook{h} })
		passUntil(t, a, st, clk, deployedAt.Add(time.Hour))
		for range 3 {
			clk.Set(clk.Now().Add(time.Minute))
			require.NoError(t, a.Pass(t.Context()))
		}
		a.Wait()
		require.Zero(t, h.calls.Load())
		require.Len(t, ofType(t, st, metrics.TypeDeploymentAnalysed), 1)
		require.True(t, ofType(t, st, metrics.TypeDeploymentRollbackRecommended)[0].Data.(metrics.DeploymentRollbackRecommended).DryRun)

		// Hooks switched on later do not act on a dry run's recommendation.
		later := analyser(t, st, q, clk, func(o *rollout.Options) { o.CallHooks, o.Hooks = true, []rollout.Hook{h} })
		require.NoError(t, later.Pass(t.Context()))
		later.Wait()
		require.Zero(t, h.calls.Load())
	})

	t.Run("a call cut short is made again after a restart", func(t *testing.T) {
		st := eventStore(t)
		clk := &clock{}
		blocked := make(chan struct{})
		slow := &blockingHook{entered: blocked}
		ctx, cancel := context.WithCancel(t.Context())
		a := analyser(t, st, q, clk, func(o *rollout.Options) { o.CallHooks, o.Hooks = true, []rollout.Hook{slow} })
		for at := deployedAt; len(ofType(t, st, metrics.TypeDeploymentAnalysed)) == 0; at = at.Add(15 * time.Second) {
			clk.Set(at)
			require.NoError(t, a.Pass(ctx))
		}
		<-blocked
		cancel() // the process stops mid-call
		a.Wait()
		require.Empty(t, ofType(t, st, metrics.TypeDeploymentRollbackHookCalled))

		h := &hook{name: "slow"}
		b := analyser(t, st, q, clk, func(o *rollout.Options) { o.CallHooks, o.Hooks = true, []rollout.Hook{h} })
		require.NoError(t, b.Pass(t.Context()))
		b.Wait()
		require.EqualValues(t, 1, h.calls.Load())
		require.Len(t, ofType(t, st, metrics.TypeDeploymentRollbackHookCalled), 1)
	})
}

// blockingHook is named slow and blocks until its context ends.
type blockingHook struct{ entered chan struct{} }

func (*blockingHook) Name() string { return "slow" }

func (h *blockingHook) Call(ctx context.Context, _ rollout.Recommendation) (rollout.Answer, error) {
	close(h.entered)
	<-ctx.Done()
	return rollout.Answer{}, ctx.Err()
}

// TestAnalyserRecommendsWhatAFailedVerdictLacks: a process that died
// between its failed verdict and the recommendation leaves the next pass
// to recommend, and call the hooks; a failed verdict posted by anyone
// else recommends nothing and calls no hook.
func TestAnalyserRecommendsWhatAFailedVerdictLacks(t *testing.T) {
	q := querier(t, nil)
	for _, tc := range []struct {
		source string
		want   int
	}{{rollout.DefaultSource, 1}, {"https://ci.example.com", 0}} {
		t.Run(tc.source, func(t *testing.T) {
			st := eventStore(t, metrics.Event{ID: "d1/analysed", Source: tc.source, Time: deployedAt.Add(5 * time.Minute),
				Data: metrics.DeploymentAnalysed{DeploymentID: "d1", Verdict: metrics.VerdictFailed, Reason: "errors rose",
					Evidence: json.RawMessage(`{"verdict":"failed","after":{"requests":300,"errors":30}}`)}})
			clk := &clock{t: deployedAt.Add(6 * time.Minute)}
			h := &hook{name: "webhook", got: make(chan rollout.Recommendation, 1)}
			a := analyser(t, st, q, clk, func(o *rollout.Options) { o.CallHooks, o.Hooks = true, []rollout.Hook{h} })
			for range 3 {
				require.NoError(t, a.Pass(t.Context()))
				a.Wait()
			}
			recs := ofType(t, st, metrics.TypeDeploymentRollbackRecommended)
			require.Len(t, recs, tc.want)
			require.EqualValues(t, tc.want, h.calls.Load())
			if tc.want > 0 {
				require.False(t, recs[0].Data.(metrics.DeploymentRollbackRecommended).DryRun)
				r := <-h.got
				require.Equal(t, 30.0, r.Result.After.Errors, "the verdict's evidence")
			}
			require.Len(t, ofType(t, st, metrics.TypeDeploymentAnalysed), 1, "the verdict stands")
		})
	}
}
