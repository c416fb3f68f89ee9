package collector_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/chaos"
	"github.com/estatehq/estate/chaos/collector"
	"github.com/estatehq/estate/metrics"
	metricshttp "github.com/estatehq/estate/metrics/http"
	metricssqlite "github.com/estatehq/estate/metrics/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// eventsAPI serves the collector's real events API over a SQLite event
// store.
func eventsAPI(t *testing.T) (*httptest.Server, metrics.Store) {
	t.Helper()
	store, err := metricssqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), metricssqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, store.Close()) })
	h, err := metricshttp.NewHandler(metricshttp.Options{Store: store})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, store
}

func TestSendReachesTheEventsAPI(t *testing.T) {
	srv, store := eventsAPI(t)
	c, err := collector.New(srv.URL, nil)
	require.NoError(t, err)
	ctx := context.Background()
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for _, e := range []chaos.Event{
		{ID: "r1-started", Type: chaos.EventChaosStarted, Time: at, ExperimentID: "r1", Kind: "http-error", Target: "invoicing"},
		{ID: "r1-incident-opened", Type: chaos.EventIncidentOpened, Time: at.Add(time.Second), ExperimentID: "r1", IncidentID: "chaos-r1",
			Service: "invoicing", Environment: "local", Severity: "minor", StartedAt: at.Add(time.Second)},
		{ID: "r1-incident-resolved", Type: chaos.EventIncidentResolved, Time: at.Add(time.Minute), ExperimentID: "r1", IncidentID: "chaos-r1"},
		{ID: "r1-finished", Type: chaos.EventChaosFinished, Time: at.Add(time.Minute), ExperimentID: "r1", Kind: "http-error", Target: "invoicing", Outcome: "failed"},
	} {
		require.NoError(t, c.Send(ctx, e), e.ID)
	}
	// A retry is a duplicate, not a second event.
	require.NoError(t, c.Send(ctx, chaos.Event{ID: "r1-started", Type: chaos.EventChaosStarted, Time: at, ExperimentID: "r1", Kind: "http-error", Target: "invoicing"}))

	got, err := store.Events(ctx, metrics.Filter{})
	require.NoError(t, err)
	want := []metrics.Event{
		{ID: "r1-started", Source: collector.Source, Time: at, Data: metrics.ChaosStarted{ExperimentID: "r1", Kind: "http-error", Target: "invoicing"}},
		{ID: "r1-incident-opened", Source: collector.Source, Time: at.Add(time.Second), Data: metrics.IncidentOpened{IncidentID: "chaos-r1",
			Service: "invoicing", Environment: "local", Severity: "minor", StartedAt: at.Add(time.Second), ChaosExperimentID: "r1"}},
		{ID: "r1-finished", Source: collector.Source, Time: at.Add(time.Minute), Data: metrics.ChaosFinished{ExperimentID: "r1", Kind: "http-error", Target: "invoicing", Outcome: "failed"}},
		{ID: "r1-incident-resolved", Source: collector.Source, Time: at.Add(time.Minute), Data: metrics.IncidentResolved{IncidentID: "chaos-r1"}},
	}
	require.Empty(t, cmp.Diff(want, got))
}

func TestSendRefusesWhatTheEventModelRefuses(t *testing.T) {
	srv, store := eventsAPI(t)
	c, err := collector.New(srv.URL, nil)
	require.NoError(t, err)
	err = c.Send(context.Background(), chaos.Event{ID: "x", Type: chaos.EventIncidentOpened, Time: time.Now(), ExperimentID: "r1"})
	require.ErrorIs(t, err, metrics.ErrInvalid, "an incident with no id, service or environment")
	err = c.Send(context.Background(), chaos.Event{ID: "y", Type: "dev.estate.chaos.exploded", Time: time.Now()})
	require.ErrorContains(t, err, "unknown event type")
	got, err := store.Events(context.Background(), metrics.Filter{})
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestSendReportsARefusal(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "the store is full", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	c, err := collector.New(srv.URL, nil)
	require.NoError(t, err)
	err = c.Send(context.Background(), chaos.Event{ID: "a", Type: chaos.EventChaosStarted, Time: time.Now(), ExperimentID: "r1", Kind: "http-error", Target: "invoicing"})
	require.ErrorContains(t, err, "503")
}

// TestSLO reads the SLO API's answer, with burn rates by window as an
// object or as a list.
func TestSLO(t *testing.T) {
	answers := map[string]string{
		"/v1/slos/by-object": `{"name": "by-object", "status": "ok", "attainment": 0.999, "budget": {"remaining": 0.75}, "burn_rates": {"5m": 2.5, "1h": 0.5}}`,
		"/v1/slos/by-list":   `{"name": "by-list", "status": "breaching", "attainment": 0.9, "budget": {"remaining": -0.1}, "burn_rates": [{"window": "5m", "burn_rate": 20}, {"window": "1h", "rate": 15}]}`,
		"/v1/slos/bad":       `{"name": "bad", "burn_rates": "fast"}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := answers[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(a))
	}))
	defer srv.Close()
	c, err := collector.New(srv.URL+"/", nil)
	require.NoError(t, err)
	ctx := context.Background()

	for name, want := range map[string]chaos.SLOStatus{
		"by-object": {Name: "by-object", Status: "ok", Attainment: 0.999, BudgetRemaining: 0.75, BurnRates: map[string]float64{"5m": 2.5, "1h": 0.5}},
		"by-list":   {Name: "by-list", Status: "breaching", Attainment: 0.9, BudgetRemaining: -0.1, BurnRates: map[string]float64{"5m": 20, "1h": 15}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := c.SLO(ctx, name)
			require.NoError(t, err)
			require.Empty(t, cmp.Diff(want, got))
		})
	}
	_, err = c.SLO(ctx, "missing")
	require.ErrorIs(t, err, chaos.ErrNoSuchSLO)
	_, err = c.SLO(ctx, "bad")
	require.ErrorContains(t, err, "burn_rates")
	require.NotErrorIs(t, err, chaos.ErrNoSuchSLO)
}

func TestNewRefusesABadURL(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8088", "ftp://x", "http://"} {
		_, err := collector.New(u, nil)
		require.Error(t, err, u)
	}
}
