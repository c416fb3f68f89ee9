package rules_test

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/collector/rules"
	"github.com/estatehq/estate/internal/delivery"
	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/internal/testenv"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/intake/alertmanager"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func defaults(t *testing.T, args ...string) rules.Config {
	t.Helper()
	var c rules.Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlags(fs, "")
	require.NoError(t, fs.Parse(args))
	return c
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"defaults", nil, ""},
		{"everything", []string{"--files", "a/*.yml,b.yml", "--alertmanager-url", "https://am.example:9093/prefix", "--external-labels", "environment=staging,cluster=eu-1"}, ""},
		{"interval", []string{"--interval", "0s"}, "interval: must be positive"},
		{"reload interval", []string{"--reload-interval", "-1s"}, "reload_interval: must not be negative"},
		{"bad glob", []string{"--files", "a/[.yml"}, `files[0]: "a/[.yml" is not a glob`},
		{"alertmanager url", []string{"--alertmanager-url", "am:9093"}, "alertmanager_url: \"am:9093\" must be an http or https URL"},
		{"external label", []string{"--external-labels", "environment"}, `external_labels[0]: must be name=value, not "environment"`},
		{"external label name", []string{"--external-labels", "__x=1"}, `external_labels[0]: "__x" is not a label name`},
		{"external label twice", []string{"--external-labels", "a=1,a=2"}, "external_labels[1]: a is set twice"},
		{"incident matchers", []string{"--incident-matchers", `{severity=~"page|critical"}`}, ""},
		{"every alert an incident", []string{"--incident-matchers", ""}, ""},
		{"bad incident matchers", []string{"--incident-matchers", `{severity=}`}, `incident_matchers: "{severity=}" is not a series selector`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := defaults(t, tc.args...)
			err := c.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// intake is an incident intake that maps what it is sent as the events
// API does (metrics/intake/alertmanager) and keeps the events, with the
// time each came.
type intake struct {
	mu       sync.Mutex
	received []received
}

type received struct {
	at     time.Time
	events []metrics.Event
}

func (in *intake) Alerts(_ context.Context, body []byte) error {
	b, err := alertmanager.Decode(body, alertmanager.Options{})
	if err == nil {
		err = b.Err()
	}
	if err != nil {
		return delivery.Permanent(err)
	}
	events := b.Events
	in.mu.Lock()
	defer in.mu.Unlock()
	in.received = append(in.received, received{at: time.Now(), events: events})
	return nil
}

// incidents are the distinct events received, by id, in order of first
// arrival, with when each first came.
func (in *intake) incidents() ([]metrics.Event, []time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	seen := map[string]bool{}
	var events []metrics.Event
	var at []time.Time
	for _, r := range in.received {
		for _, e := range r.events {
			if !seen[e.ID] {
				seen[e.ID] = true
				events = append(events, e)
				at = append(at, r.at)
			}
		}
	}
	return events, at
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
}

const burnRules = `groups:
- name: errors
  rules:
  - record: job:estate_test_errors:rate1m
    expr: sum by (job) (rate(estate_test_errors_total[1m]))
  - alert: ErrorsBurning
    expr: job:estate_test_errors:rate1m > 1
    for: 1m
    labels:
      severity: page
      service: invoicing
    annotations:
      summary: errors at {{ $value }}/s
`

// appendSeries appends name{job="invoicing"} every 10 s from start, value
// f(i) at the ith.
func appendSeries(t *testing.T, db storage.AppendableV2, name string, start time.Time, n int, f func(i int) float64) {
	t.Helper()
	app := db.AppenderV2(context.Background())
	ls := labels.FromStrings(model.MetricNameLabel, name, "job", "invoicing")
	for i := range n {
		_, err := app.Append(0, ls, 0, start.Add(time.Duration(i)*10*time.Second).UnixMilli(), f(i), nil, nil, storage.AOptions{})
		require.NoError(t, err)
	}
	require.NoError(t, app.Commit())
}

func scalar(t *testing.T, q promquery.Querier, expr string, at time.Time) float64 {
	t.Helper()
	v, err := q.Query(context.Background(), expr, at)
	require.NoError(t, err)
	vec, ok := v.(model.Vector)
	require.True(t, ok)
	require.Len(t, vec, 1, "%s at %s", expr, at)
	return float64(vec[0].Value)
}

type stores struct {
	db     *teststorage.TestStorage
	engine *promql.Engine
	q      promquery.Querier
}

func newStores(t *testing.T) stores {
	db := teststorage.New(t)
	engine := promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery)
	return stores{db: db, engine: engine, q: promquery.NewEngine(engine, db)}
}

func (s stores) evaluator(t *testing.T, cfg rules.Config, in rules.Incidents, reg prometheus.Registerer) *rules.Evaluator {
	t.Helper()
	e, err := rules.New(rules.Options{
		Config: cfg, Engine: s.engine, Queryable: s.db, Appendable: s.db,
		Incidents: in, ExternalURL: "http://estate.test:8088", Registerer: reg,
	})
	require.NoError(t, err)
	return e
}

// TestAlertFiresAfterItsForAndResolves runs ten minutes of a counter of
// errors at 3/s for three minutes, then none, under a recording rule of
// its rate and an alert on it with for: 1m.
func TestAlertFiresAfterItsForAndResolves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStores(t)
		start := time.Now()
		appendSeries(t, s.db, "estate_test_errors_total", start, 61, func(i int) float64 { return float64(30 * min(i, 18)) })
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "errors.yml"), burnRules)
		in := &intake{}
		e := s.evaluator(t, defaults(t, "--files", filepath.Join(dir, "*.yml"), "--interval", "10s", "--reload-interval", "0"), in, nil)
		require.NoError(t, e.Start(context.Background()))
		require.Equal(t, []string{filepath.Join(dir, "errors.yml")}, e.Files())
		time.Sleep(10 * time.Minute)
		require.NoError(t, e.Shutdown(context.Background()))

		// The group's evaluation offset is hashed from its file's path, so
		// the rate's extrapolation may differ in the last bits.
		require.InDelta(t, 3.0, scalar(t, s.q, "job:estate_test_errors:rate1m", start.Add(2*time.Minute)), 1e-9,
			"the recording rule's series is in the store")

		events, at := in.incidents()
		require.Len(t, events, 2, "opened, then resolved: %v", events)
		opened, ok := events[0].Data.(metrics.IncidentOpened)
		require.True(t, ok, "%v", events[0])
		resolved, ok := events[1].Data.(metrics.IncidentResolved)
		require.True(t, ok, "%v", events[1])
		firedAt := opened.StartedAt
		require.Equal(t, firedAt, at[0].UTC().Truncate(time.Millisecond), "the firing alert is sent when it fires (to the millisecond, as Alertmanager is told)")
		// The pending samples, raw: the first is the evaluation at which the
		// alert became active.
		v, err := s.q.Query(context.Background(), `ALERTS{alertstate="pending"}[10m]`, firedAt)
		require.NoError(t, err)
		pending, ok := v.(model.Matrix)
		require.True(t, ok && len(pending) == 1, "%v", v)
		activeAt := pending[0].Values[0].Timestamp.Time()
		require.Equal(t, time.Minute, firedAt.Sub(activeAt), "it fires one for (1m) after it became active")
		require.Equal(t, float64(activeAt.Unix()), scalar(t, s.q, "ALERTS_FOR_STATE", firedAt), "kept for a restart")
		require.Equal(t, 1.0, scalar(t, s.q, `ALERTS{alertstate="firing"}`, firedAt))
		require.Equal(t, 1.0, scalar(t, s.q, `ALERTS{alertstate="pending"}`, firedAt.Add(-time.Second)), "it was pending before")

		require.Empty(t, cmp.Diff(metrics.IncidentOpened{
			IncidentID: opened.IncidentID, Service: "invoicing", Environment: "production", Severity: "page", StartedAt: firedAt,
		}, opened), "service from the rule, environment from the external labels")
		require.Equal(t, opened.IncidentID, resolved.IncidentID)
		require.Equal(t, "urn:estate:intake:alertmanager:http://estate.test:8088", events[0].Source)
		// The rate falls to 1/s or below between 3m20s and 4m of the run.
		endedAt := events[1].Time
		require.Equal(t, endedAt, at[1].UTC().Truncate(time.Millisecond), "the resolved alert is sent when it resolves")
		require.True(t, endedAt.After(start.Add(200*time.Second)) && !endedAt.After(start.Add(4*time.Minute)),
			"resolved at %s after the start", endedAt.Sub(start))
	})
}

// TestIncidentMatchers: alerts the matchers leave out fire and are kept
// in the store as any other, but open no incident.
func TestIncidentMatchers(t *testing.T) {
	const monitoring = `
  - alert: ErrorsSeriesWatched
    expr: job:estate_test_errors:rate1m > 1
    labels:
      service: invoicing
      severity: ticket
      estate_incident: "false"
`
	for _, tc := range []struct {
		name     string
		matchers []string
		want     int
	}{
		{"by default all but those marked", nil, 2},
		{"pages only", []string{"--incident-matchers", `{severity="page"}`}, 2},
		{"every alert", []string{"--incident-matchers", ""}, 4},
		{"none", []string{"--incident-matchers", `{severity="info"}`}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newStores(t)
				start := time.Now()
				appendSeries(t, s.db, "estate_test_errors_total", start, 61, func(i int) float64 { return float64(30 * min(i, 18)) })
				dir := t.TempDir()
				writeFile(t, filepath.Join(dir, "errors.yml"), burnRules+monitoring)
				in := &intake{}
				args := append([]string{"--files", filepath.Join(dir, "*.yml"), "--interval", "10s", "--reload-interval", "0"}, tc.matchers...)
				e := s.evaluator(t, defaults(t, args...), in, nil)
				require.NoError(t, e.Start(context.Background()))
				time.Sleep(10 * time.Minute)
				require.NoError(t, e.Shutdown(context.Background()))

				require.Equal(t, 1.0, scalar(t, s.q, `count(ALERTS{alertname="ErrorsSeriesWatched",alertstate="firing"})`, start.Add(2*time.Minute)),
					"the alert fires whatever the matchers")
				events, _ := in.incidents()
				require.Len(t, events, tc.want, "opened and resolved events at the intake: %v", events)
			})
		})
	}
}

func TestReload(t *testing.T) {
	s := newStores(t)
	now := time.Now()
	appendSeries(t, s.db, "estate_test_requests_total", now.Add(-time.Minute), 7, func(i int) float64 { return float64(10 * i) })
	dir := t.TempDir()
	file := filepath.Join(dir, "rules.yml")
	writeFile(t, file, `groups:
- name: a
  rules:
  - record: a:estate_test_requests:sum
    expr: sum(estate_test_requests_total)
`)
	generated := map[string][]byte{"slo": []byte(`groups:
- name: slo
  rules:
  - record: slo:estate_test_requests:count
    expr: count(estate_test_requests_total)
`)}
	reg := prometheus.NewRegistry()
	e, err := rules.New(rules.Options{
		Config: defaults(t, "--files", file+","+filepath.Join(dir, "missing-*.yml"), "--interval", "50ms", "--reload-interval", "0"),
		Engine: s.engine, Queryable: s.db, Appendable: s.db, Registerer: reg,
		Generated: func() (map[string][]byte, error) { return generated, nil },
	})
	require.NoError(t, err)
	require.ErrorContains(t, e.Reload(context.Background()), "not started")
	require.NoError(t, e.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, e.Shutdown(context.Background())) })
	require.Equal(t, []string{file, "generated:slo"}, e.Files())
	eventually(t, s.q, "a:estate_test_requests:sum", "60")
	eventually(t, s.q, "slo:estate_test_requests:count", "1")

	// A rule file that does not load is refused whole: the previous rules
	// stay.
	writeFile(t, file, "groups:\n- name: a\n  rules:\n  - record: b\n    expr: sum(\n")
	err = e.Reload(context.Background())
	require.ErrorContains(t, err, file+": 5:11: group \"a\", rule 1, \"b\": could not parse expression")
	require.Equal(t, 0.0, gauge(t, reg, "estate_rules_last_reload_successful"))
	require.Equal(t, []string{file, "generated:slo"}, e.Files())

	// Fixed, the file is read again at the next reload.
	writeFile(t, file, `groups:
- name: a
  rules:
  - record: b:estate_test_requests:max
    expr: max(estate_test_requests_total)
`)
	require.NoError(t, e.Reload(context.Background()))
	eventually(t, s.q, "b:estate_test_requests:max", "60")
	require.Equal(t, 1.0, gauge(t, reg, "estate_rules_last_reload_successful"))
	require.Positive(t, gauge(t, reg, "estate_rules_last_reload_success_timestamp_seconds"))
}

// TestRulesFilesAreWatched changes a rule file under a running evaluator:
// it is read again within reload_interval.
func TestRulesFilesAreWatched(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStores(t)
		appendSeries(t, s.db, "estate_test_requests_total", time.Now(), 61, func(i int) float64 { return float64(i) })
		file := filepath.Join(t.TempDir(), "rules.yml")
		writeFile(t, file, "groups: []\n")
		e := s.evaluator(t, defaults(t, "--files", file, "--interval", "10s", "--reload-interval", "30s"), nil, nil)
		require.NoError(t, e.Start(context.Background()))
		defer func() { require.NoError(t, e.Shutdown(context.Background())) }()
		time.Sleep(time.Minute)
		writeFile(t, file, "groups:\n- name: a\n  rules:\n  - record: c\n    expr: sum(estate_test_requests_total)\n")
		changed := time.Now()
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		v, err := s.q.Query(context.Background(), "timestamp(c)", time.Now())
		require.NoError(t, err)
		first, err := s.q.Query(context.Background(), "min_over_time(timestamp(c)[5m:10s])", time.Now())
		require.NoError(t, err)
		require.NotEmpty(t, v.(model.Vector))
		at := time.Unix(int64(first.(model.Vector)[0].Value), 0)
		require.True(t, !at.Before(changed) && at.Before(changed.Add(30*time.Second+10*time.Second)),
			"the new rule is evaluated within reload_interval and one evaluation interval: %s after the change", at.Sub(changed))
	})
}

func TestStartRefusesRulesThatDoNotLoad(t *testing.T) {
	s := newStores(t)
	file := filepath.Join(t.TempDir(), "bad.yml")
	writeFile(t, file, "groups:\n- name: a\n  rules:\n  - alert: A\n    expr: up\n    unknown: 1\n")
	e := s.evaluator(t, defaults(t, "--files", file), nil, nil)
	require.ErrorContains(t, e.Start(context.Background()), "field unknown not found")
	require.NoError(t, e.Shutdown(context.Background()), "nothing to stop")
}

func eventually(t *testing.T, q promquery.Querier, expr, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, testenv.WaitFor(ctx, 20*time.Millisecond, func() error {
		v, err := q.Query(ctx, expr, time.Now())
		if err != nil {
			return err
		}
		if vec, ok := v.(model.Vector); !ok || len(vec) != 1 || vec[0].Value.String() != want {
			return &mismatch{expr: expr, got: v.String(), want: want}
		}
		return nil
	}))
}

type mismatch struct{ expr, got, want string }

func (m *mismatch) Error() string { return m.expr + " = " + m.got + ", want " + m.want }

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no %s", name)
	return 0
}

type incidentsFunc func(context.Context, []byte) error

func (f incidentsFunc) Alerts(ctx context.Context, body []byte) error { return f(ctx, body) }

// TestIncidentOutcomes sends a firing alert to an intake that refuses it,
// then fails, then takes it: the rules manager sends it again every
// minute, and each outcome is counted.
func TestIncidentOutcomes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStores(t)
		file := filepath.Join(t.TempDir(), "always.yml")
		writeFile(t, file, "groups:\n- name: a\n  rules:\n  - alert: Always\n    expr: vector(1)\n    labels: {service: credit}\n")
		answers := []error{delivery.Permanent(errors.New("refused")), errors.New("unavailable"), nil}
		var calls int
		in := incidentsFunc(func(context.Context, []byte) error {
			err := answers[min(calls, len(answers)-1)]
			calls++
			return err
		})
		reg := prometheus.NewRegistry()
		e := s.evaluator(t, defaults(t, "--files", file, "--interval", "10s", "--reload-interval", "0"), in, reg)
		require.NoError(t, e.Start(context.Background()))
		// Sent at the first evaluation (10 to 20 s in), then 70 s and 140 s
		// after: a resend waits more than a minute, at an evaluation.
		time.Sleep(2*time.Minute + 45*time.Second)
		require.NoError(t, e.Shutdown(context.Background()))
		got := map[string]float64{}
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == "estate_rules_incident_notifications_total" {
				for _, m := range mf.GetMetric() {
					got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
		require.Equal(t, map[string]float64{"delivered": 1, "refused": 1, "failed": 1, "dropped": 0}, got)
	})
}
