package chaoshttp_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/chaos"
	"github.com/estatehq/estate/chaos/chaostest"
	chaoshttp "github.com/estatehq/estate/chaos/http"
	"github.com/estatehq/estate/chaos/sqlite"
	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/auth/authtest"
	"github.com/estatehq/estate/internal/problem/problemtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// api serves a controller over a SQLite journal and an in-memory executor,
// whose hypothesis is an HTTP probe of a healthy endpoint.
func api(t *testing.T) (*chaoshttp.Client, *chaostest.Executor, string) {
	t.Helper()
	c, ex, healthy, _ := apiAs(t, nil, auth.RoleChaosOperate)
	return c, ex, healthy
}

// apiAs is api with a client holding roles, the controller's log to
// logger, and the issuer of its tokens.
func apiAs(t *testing.T, logger *slog.Logger, roles ...string) (*chaoshttp.Client, *chaostest.Executor, string, *authtest.Issuer) {
	t.Helper()
	iss := authtest.New(t)
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	t.Cleanup(healthy.Close)
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "chaos.db"), nil)
	require.NoError(t, err)
	ex := chaostest.NewExecutor()
	ctl, err := chaos.New(chaos.Options{Store: store, Executors: []chaos.Executor{ex}, Prober: &chaos.Prober{HTTP: healthy.Client()}})
	require.NoError(t, err)
	require.NoError(t, ctl.Start(context.Background()))
	srv := httptest.NewServer(chaoshttp.NewServer(chaoshttp.Options{Controller: ctl, Authenticator: iss.Authenticator, Logger: logger}))
	t.Cleanup(func() {
		srv.Close()
		require.NoError(t, ctl.Shutdown(context.Background()))
		require.NoError(t, store.Close())
	})
	tok := iss.Token(t, "alice", roles...)
	hc := &http.Client{Transport: &auth.Transport{Token: func(context.Context) (string, error) { return tok, nil }}}
	return chaoshttp.NewClient(srv.URL, hc), ex, healthy.URL, iss
}

func doc(probeURL, duration string) []byte {
	return []byte(`apiVersion: chaos.estate.dev/v1
kind: Experiment
metadata: {name: lookups-fail}
spec:
  target: {service: invoicing}
  fault: {http: {action: error, route: "/v1/businesses/{id}", status: 503}}
  duration: ` + duration + `
  steadyStateHypothesis:
    interval: 1s
    probes: [{name: healthy, http: {url: "` + probeURL + `"}}]
`)
}

func apiError(t *testing.T, err error) *chaoshttp.APIError {
	t.Helper()
	var ae *chaoshttp.APIError
	require.ErrorAs(t, err, &ae)
	return ae
}

func TestSubmitNamesTheFieldsAtFault(t *testing.T) {
	c, ex, probe := api(t)
	ctx := context.Background()
	for name, tc := range map[string]struct {
		doc      string
		location string
	}{
		"a bad duration":  {strings.Replace(string(doc(probe, "10m")), "duration: 10m", "duration: soon", 1), "body.spec.duration"},
		"an unknown key":  {strings.Replace(string(doc(probe, "10m")), "duration: 10m", "duration: 10m\n  blast: all", 1), "body.spec.blast"},
		"a wrong type":    {strings.Replace(string(doc(probe, "10m")), "status: 503", "status: loud", 1), "body.spec.fault.http.status"},
		"an unknown kind": {strings.Replace(string(doc(probe, "10m")), "kind: Experiment", "kind: Exercise", 1), "body.kind"},
	} {
		t.Run(name, func(t *testing.T) {
			for _, dry := range []bool{false, true} {
				var err error
				if dry {
					_, err = c.DryRun(ctx, []byte(tc.doc))
				} else {
					_, err = c.Submit(ctx, []byte(tc.doc))
				}
				ae := apiError(t, err)
				require.Equal(t, http.StatusUnprocessableEntity, ae.Status)
				var locs []string
				for _, f := range ae.Errors {
					locs = append(locs, f.Location)
				}
				require.Contains(t, locs, tc.location)
			}
		})
	}
	runs, err := c.Runs(ctx, chaos.RunFilter{})
	require.NoError(t, err)
	require.Empty(t, runs)
	require.Zero(t, ex.Active())
}

func TestDryRunSaysWhatAndWhereAndInjectsNothing(t *testing.T) {
	c, ex, probe := api(t)
	plan, err := c.DryRun(context.Background(), doc(probe, "10m"))
	require.NoError(t, err)
	require.Equal(t, "lookups-fail", plan.Experiment)
	require.Equal(t, "http-error", plan.Kind)
	require.Equal(t, chaos.PlatformLocal, plan.Platform)
	require.Len(t, plan.Injections, 1)
	require.Equal(t, "invoicing", plan.Injections[0].Target)
	require.Zero(t, ex.Active())
	runs, err := c.Runs(context.Background(), chaos.RunFilter{})
	require.NoError(t, err)
	require.Empty(t, runs)
}

// injected waits until the run's fault is in place.
func injected(t *testing.T, c *chaoshttp.Client, id string) {
	t.Helper()
	require.Eventually(t, func() bool {
		d, err := c.Run(context.Background(), id)
		return err == nil && len(d.Injections) > 0
	}, 20*time.Second, 20*time.Millisecond)
}

func TestKillSwitch(t *testing.T) {
	c, ex, probe := api(t)
	ctx := context.Background()
	r1, err := c.Submit(ctx, doc(probe, "10m"))
	require.NoError(t, err)
	r2, err := c.Submit(ctx, doc(probe, "10m"))
	require.NoError(t, err)
	injected(t, c, r1.ID)
	injected(t, c, r2.ID)
	require.Equal(t, 2, ex.Active())

	h, err := c.Halt(ctx, "an incident is open")
	require.NoError(t, err)
	require.Equal(t, chaoshttp.HaltState{Halted: true, Reason: "an incident is open", Aborted: 2}, h)
	require.Zero(t, ex.Active(), "both faults removed")
	finished, err := c.Runs(ctx, chaos.RunFilter{States: []chaos.State{chaos.StateFinished}})
	require.NoError(t, err)
	require.Len(t, finished, 2)
	for _, r := range finished {
		require.Equal(t, []string{string(chaos.VerdictAborted), "kill switch: an incident is open"}, []string{string(r.Verdict), r.Reason})
	}

	_, err = c.Submit(ctx, doc(probe, "10m"))
	ae := apiError(t, err)
	require.Equal(t, http.StatusConflict, ae.Status)
	require.Contains(t, ae.Detail, "kill switch")

	h, err = c.Resume(ctx)
	require.NoError(t, err)
	require.False(t, h.Halted)
	r3, err := c.Submit(ctx, doc(probe, "10m"))
	require.NoError(t, err)
	injected(t, c, r3.ID)

	aborted, err := c.Abort(ctx, r3.ID, "enough")
	require.NoError(t, err)
	require.Equal(t, chaos.VerdictAborted, aborted.Verdict)
	require.Equal(t, "enough", aborted.Reason)
	require.Zero(t, ex.Active())
	_, err = c.Abort(ctx, r3.ID, "")
	require.Equal(t, http.StatusConflict, apiError(t, err).Status, "a finished run")
	_, err = c.Abort(ctx, "no-such-run", "")
	require.Equal(t, http.StatusNotFound, apiError(t, err).Status)
}

func TestRunJournalAndList(t *testing.T) {
	c, _, probe := api(t)
	ctx := context.Background()
	run, err := c.Submit(ctx, doc(probe, "1s"))
	require.NoError(t, err)
	var d chaoshttp.RunDetail
	require.Eventually(t, func() bool {
		d, err = c.Run(ctx, run.ID)
		return err == nil && d.State == chaos.StateFinished
	}, 30*time.Second, 50*time.Millisecond)
	require.Equal(t, chaos.VerdictPassed, d.Verdict, d.Reason)
	kinds := map[chaos.EntryKind]bool{}
	for i, e := range d.Journal {
		require.Equal(t, i+1, e.Seq)
		kinds[e.Kind] = true
	}
	for _, k := range []chaos.EntryKind{chaos.EntryProbe, chaos.EntryInject, chaos.EntryRemove, chaos.EntryRecover, chaos.EntryVerdict} {
		require.True(t, kinds[k], "the journal has a %s entry", k)
	}

	tail, err := c.Journal(ctx, run.ID, len(d.Journal)-1)
	require.NoError(t, err)
	require.Equal(t, d.Journal[len(d.Journal)-1:], tail, "the entries after a sequence number")

	runs, err := c.Runs(ctx, chaos.RunFilter{States: []chaos.State{chaos.StateFinished}})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	runs, err = c.Runs(ctx, chaos.RunFilter{States: []chaos.State{chaos.StateRunning}})
	require.NoError(t, err)
	require.Empty(t, runs)
	_, err = c.Run(ctx, "no-such-run")
	require.Equal(t, http.StatusNotFound, apiError(t, err).Status)
}

func TestUnroutedAnswersProblems(t *testing.T) {
	problemtest.RequireUnrouted(t, chaoshttp.NewServer(chaoshttp.Options{}),
		problemtest.Unrouted{Method: http.MethodGet, Path: "/v1/nowhere"},
		problemtest.Unrouted{Method: http.MethodDelete, Path: "/v1/experiments", Allow: "GET, POST"},
		problemtest.Unrouted{Method: http.MethodGet, Path: "/v1/experiments/e-1/abort", Allow: "POST"},
		problemtest.Unrouted{Method: http.MethodPut, Path: "/v1/halt", Allow: "GET, POST"},
	)
}
