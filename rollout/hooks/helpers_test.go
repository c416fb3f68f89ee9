package hooks_test

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/delivery"
	"github.com/estatehq/estate/rollout"
	"github.com/estatehq/estate/rollout/hooks"
)

// now is the tests' clock.
var now = time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)

func clock() time.Time { return now }

// recommendation is a failed analysis' recommendation, with evidence.
func recommendation() rollout.Recommendation {
	deployed := now.Add(-20 * time.Minute)
	return rollout.Recommendation{
		DeploymentID: "dep-42", Service: "invoicing", Environment: "production",
		Version: "v1.8.0", RollbackTo: "v1.7.3",
		DeployedAt: deployed, DecidedAt: now,
		Reason: "errors rose from 0.1% to 4% (p = 1e-12)",
		Result: rollout.Result{
			Service: "invoicing", DeploymentID: "dep-42", Verdict: rollout.Failed,
			Reason: "errors rose from 0.1% to 4% (p = 1e-12)",
			Before: rollout.Period{From: deployed.Add(-15 * time.Minute), To: deployed, Requests: 1000, Errors: 1, ErrorRatio: 0.001,
				Buckets: []rollout.Bucket{{Le: 0.1, Count: 900}, {Le: 1, Count: 1000}}},
			After:     rollout.Period{From: deployed, To: deployed.Add(15 * time.Minute), Requests: 1000, Errors: 40, ErrorRatio: 0.04},
			ErrorTest: &rollout.RateTest{P: 1e-12, Ratio: 40},
			Queries:   []string{`sum(increase(estate_red_requests_total{service="invoicing"}[15m] @ 1796220000))`},
		},
	}
}

// class is what a caller should do with a hook's error.
type class int

const (
	retry class = iota
	permanent
	throttle
)

func (c class) String() string { return [...]string{"retryable", "permanent", "throttle"}[c] }

// requireClass checks err's class and, for a throttle, its delay.
func requireClass(t *testing.T, err error, want class, delay time.Duration) {
	t.Helper()
	require.Error(t, err)
	d, throttled := delivery.RetryAfter(err)
	got := retry
	switch {
	case delivery.IsPermanent(err):
		got = permanent
	case throttled:
		got = throttle
	}
	require.Equal(t, want, got, "class of %v", err)
	if want == throttle {
		var te *delivery.ThrottleError
		require.ErrorAs(t, err, &te)
		require.Equal(t, delay, te.Delay, "delay of %v", err)
		require.Equal(t, delay, d)
	}
}

// answerCase is a receiver's answer and the class of error it must give.
type answerCase struct {
	name   string
	status int
	header map[string]string
	body   string
	want   class
	delay  time.Duration
}

// runAnswers calls the hook that newHook makes for a server answering
// each case, and checks the Answer and the error's class.
func runAnswers(t *testing.T, cases []answerCase, newHook func(t *testing.T, url string) rollout.Hook) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			a, err := newHook(t, srv.URL).Call(context.Background(), recommendation())
			requireClass(t, err, tc.want, tc.delay)
			require.Equal(t, rollout.Answer{Status: tc.status, Detail: tc.body}, a)
		})
	}
}

// only returns the one hook cfg turns on.
func only(t *testing.T, cfg hooks.Config, client *http.Client, opts hooks.Options) rollout.Hook {
	t.Helper()
	hs, err := hooks.New(cfg, client, opts)
	require.NoError(t, err)
	require.Len(t, hs, 1)
	return hs[0]
}

// defaults is the configuration the flags give before any is set.
func defaults(t *testing.T) hooks.Config {
	t.Helper()
	var cfg hooks.Config
	fs := newFlagSet()
	cfg.RegisterFlags(fs, "rollout.hooks.")
	require.NoError(t, fs.Parse(nil))
	return cfg
}

func newFlagSet() *flag.FlagSet { return flag.NewFlagSet("test", flag.ContinueOnError) }

// bodies keeps the JSON bodies a fake API receives.
type bodies []map[string]any

// keep decodes r's JSON body and keeps it; it answers 400 and reports
// false when the body is not a JSON object.
func (b *bodies) keep(w http.ResponseWriter, r *http.Request) bool {
	var body map[string]any
	raw, err := io.ReadAll(r.Body)
	if err == nil {
		err = json.Unmarshal(raw, &body)
	}
	if err != nil {
		http.Error(w, `{"message":"Problems parsing JSON"}`, http.StatusBadRequest)
		return false
	}
	*b = append(*b, body)
	return true
}

// requireSent calls h once with rec and checks its Answer, and that the
// fake API kept one body, want.
func requireSent(t *testing.T, h rollout.Hook, rec rollout.Recommendation, answer rollout.Answer, got *bodies, want map[string]any) {
	t.Helper()
	a, err := h.Call(context.Background(), rec)
	require.NoError(t, err)
	require.Equal(t, answer, a)
	require.Len(t, *got, 1)
	require.Empty(t, cmp.Diff(want, (*got)[0]))
}
