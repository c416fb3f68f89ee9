package prometheus_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/metrics"
	metricsprom "github.com/estatehq/estate/metrics/prometheus"
	"github.com/estatehq/estate/metrics/sqlite"
)

// countingStore counts the reads, to check the cache.
type countingStore struct {
	metrics.Store
	reads atomic.Int64
	fail  error
}

func (s *countingStore) Events(ctx context.Context, f metrics.Filter) ([]metrics.Event, error) {
	s.reads.Add(1)
	if s.fail != nil {
		return nil, s.fail
	}
	return s.Store.Events(ctx, f)
}

// issueStore holds the issue's example events and, for credit/staging, a
// deployment that never finished: a pair whose ratios and durations have
// no sample and so no series.
func issueStore(t *testing.T) *countingStore {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	f, err := os.Open("../testdata/issue_example.jsonl")
	require.NoError(t, err)
	defer f.Close()
	events, err := metrics.ReadJSONL(f)
	require.NoError(t, err)
	events = append(events, metrics.Event{ID: "c1", Source: "ci", Time: time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC),
		Data: metrics.DeploymentStarted{DeploymentID: "credit-1", Service: "credit", Environment: "staging", Version: "2.0.0"}})
	_, err = s.Append(context.Background(), events)
	require.NoError(t, err)
	return &countingStore{Store: s}
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

const expected = `
# HELP estate_chaos_incidents_total Incidents opened by chaos experiments, ever.
# TYPE estate_chaos_incidents_total counter
estate_chaos_incidents_total{environment="production",service="invoicing"} 1
estate_chaos_incidents_total{environment="staging",service="credit"} 0
# HELP estate_deployment_rollbacks_total Deployments with a rolled_back event, ever.
# TYPE estate_deployment_rollbacks_total counter
estate_deployment_rollbacks_total{environment="production",service="invoicing"} 4
estate_deployment_rollbacks_total{environment="staging",service="credit"} 0
# HELP estate_deployments_failed_total Deployments with a failed event, ever.
# TYPE estate_deployments_failed_total counter
estate_deployments_failed_total{environment="production",service="invoicing"} 1
estate_deployments_failed_total{environment="staging",service="credit"} 0
# HELP estate_deployments_total Deployments that reached production (have a succeeded event), ever.
# TYPE estate_deployments_total counter
estate_deployments_total{environment="production",service="invoicing"} 12
estate_deployments_total{environment="staging",service="credit"} 0
# HELP estate_dora_change_failure_ratio Deployments of the window rolled back or named as an incident's cause / deployments; absent without deployments.
# TYPE estate_dora_change_failure_ratio gauge
estate_dora_change_failure_ratio{environment="production",service="invoicing",window="30d"} 0.3636364
estate_dora_change_failure_ratio{environment="production",service="invoicing",window="7d"} 0.3
# HELP estate_dora_chaos_incidents Incidents opened by chaos experiments that started in the window.
# TYPE estate_dora_chaos_incidents gauge
estate_dora_chaos_incidents{environment="production",service="invoicing",window="30d"} 1
estate_dora_chaos_incidents{environment="production",service="invoicing",window="7d"} 1
estate_dora_chaos_incidents{environment="staging",service="credit",window="30d"} 0
estate_dora_chaos_incidents{environment="staging",service="credit",window="7d"} 0
# HELP estate_dora_deployment_frequency_per_day Deployments in the window / window length in days.
# TYPE estate_dora_deployment_frequency_per_day gauge
estate_dora_deployment_frequency_per_day{environment="production",service="invoicing",window="30d"} 0.3666667
estate_dora_deployment_frequency_per_day{environment="production",service="invoicing",window="7d"} 1.4285714
estate_dora_deployment_frequency_per_day{environment="staging",service="credit",window="30d"} 0
estate_dora_deployment_frequency_per_day{environment="staging",service="credit",window="7d"} 0
# HELP estate_dora_deployments Production deployments that succeeded in the window.
# TYPE estate_dora_deployments gauge
estate_dora_deployments{environment="production",service="invoicing",window="30d"} 11
estate_dora_deployments{environment="production",service="invoicing",window="7d"} 10
estate_dora_deployments{environment="staging",service="credit",window="30d"} 0
estate_dora_deployments{environment="staging",service="credit",window="7d"} 0
# HELP estate_dora_downtime_seconds Time in the window with at least one incident open.
# TYPE estate_dora_downtime_seconds gauge
estate_dora_downtime_seconds{environment="production",service="invoicing",window="30d"} 9000
estate_dora_downtime_seconds{environment="production",service="invoicing",window="7d"} 5400
estate_dora_downtime_seconds{environment="staging",service="credit",window="30d"} 0
estate_dora_downtime_seconds{environment="staging",service="credit",window="7d"} 0
# HELP estate_dora_failed_deployments Deployments that failed in the window and never reached production.
# TYPE estate_dora_failed_deployments gauge
estate_dora_failed_deployments{environment="production",service="invoicing",window="30d"} 1
estate_dora_failed_deployments{environment="production",service="invoicing",window="7d"} 1
estate_dora_failed_deployments{environment="staging",service="credit",window="30d"} 0
estate_dora_failed_deployments{environment="staging",service="credit",window="7d"} 0
# HELP estate_dora_incidents Incidents that started in the window, chaos experiments' excluded.
# TYPE estate_dora_incidents gauge
estate_dora_incidents{environment="production",service="invoicing",window="30d"} 3
estate_dora_incidents{environment="production",service="invoicing",window="7d"} 2
estate_dora_incidents{environment="staging",service="credit",window="30d"} 0
estate_dora_incidents{environment="staging",service="credit",window="7d"} 0
# HELP estate_dora_lead_time_commits Commits of the window's deployments: the sample of the lead time.
# TYPE estate_dora_lead_time_commits gauge
estate_dora_lead_time_commits{environment="production",service="invoicing",window="30d"} 10
estate_dora_lead_time_commits{environment="production",service="invoicing",window="7d"} 10
estate_dora_lead_time_commits{environment="staging",service="credit",window="30d"} 0
estate_dora_lead_time_commits{environment="staging",service="credit",window="7d"} 0
# HELP estate_dora_lead_time_p50_seconds Lead time for changes (success time - commit time), nearest-rank median over the window's commits; absent without commits.
# TYPE estate_dora_lead_time_p50_seconds gauge
estate_dora_lead_time_p50_seconds{environment="production",service="invoicing",window="30d"} 86400
estate_dora_lead_time_p50_seconds{environment="production",service="invoicing",window="7d"} 86400
# HELP estate_dora_lead_time_p90_seconds Lead time for changes (success time - commit time), nearest-rank 90th percentile over the window's commits; absent without commits.
# TYPE estate_dora_lead_time_p90_seconds gauge
estate_dora_lead_time_p90_seconds{environment="production",service="invoicing",window="30d"} 259200
estate_dora_lead_time_p90_seconds{environment="production",service="invoicing",window="7d"} 259200
# HELP estate_dora_mtbf_seconds Mean time between failures: (window - downtime) / incidents; absent without incidents.
# TYPE estate_dora_mtbf_seconds gauge
estate_dora_mtbf_seconds{environment="production",service="invoicing",window="30d"} 861000
estate_dora_mtbf_seconds{environment="production",service="invoicing",window="7d"} 299700
# HELP estate_dora_mttr_median_seconds Median (nearest rank) time to recovery over the incidents resolved in the window; absent when none was.
# TYPE estate_dora_mttr_median_seconds gauge
estate_dora_mttr_median_seconds{environment="production",service="invoicing",window="30d"} 3600
estate_dora_mttr_median_seconds{environment="production",service="invoicing",window="7d"} 1800
# HELP estate_dora_mttr_seconds Mean time to recovery over the incidents resolved in the window; absent when none was.
# TYPE estate_dora_mttr_seconds gauge
estate_dora_mttr_seconds{environment="production",service="invoicing",window="30d"} 3000
estate_dora_mttr_seconds{environment="production",service="invoicing",window="7d"} 2700
# HELP estate_dora_resolved_incidents Incidents resolved in the window, chaos experiments' excluded: the sample of the MTTR.
# TYPE estate_dora_resolved_incidents gauge
estate_dora_resolved_incidents{environment="production",service="invoicing",window="30d"} 3
estate_dora_resolved_incidents{environment="production",service="invoicing",window="7d"} 2
estate_dora_resolved_incidents{environment="staging",service="credit",window="30d"} 0
estate_dora_resolved_incidents{environment="staging",service="credit",window="7d"} 0
# HELP estate_dora_rollback_ratio Rollbacks / deployments in the window; absent without deployments.
# TYPE estate_dora_rollback_ratio gauge
estate_dora_rollback_ratio{environment="production",service="invoicing",window="30d"} 0.2727273
estate_dora_rollback_ratio{environment="production",service="invoicing",window="7d"} 0.2
# HELP estate_dora_rollbacks Deployments of the window rolled back before its end.
# TYPE estate_dora_rollbacks gauge
estate_dora_rollbacks{environment="production",service="invoicing",window="30d"} 3
estate_dora_rollbacks{environment="production",service="invoicing",window="7d"} 2
estate_dora_rollbacks{environment="staging",service="credit",window="30d"} 0
estate_dora_rollbacks{environment="staging",service="credit",window="7d"} 0
# HELP estate_incidents_total Incidents opened, chaos experiments' excluded, ever.
# TYPE estate_incidents_total counter
estate_incidents_total{environment="production",service="invoicing"} 3
estate_incidents_total{environment="staging",service="credit"} 0
`

func TestCollector(t *testing.T) {
	store := issueStore(t)
	clk := &clock{time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC)}
	c, err := metricsprom.NewCollector(metricsprom.Options{Store: store, Now: clk.now, TTL: time.Minute})
	require.NoError(t, err)

	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(expected)))

	problems, err := testutil.CollectAndLint(c)
	require.NoError(t, err)
	require.Empty(t, problems)
}

func TestCollectorCachesForTheTTL(t *testing.T) {
	store := issueStore(t)
	clk := &clock{time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC)}
	c, err := metricsprom.NewCollector(metricsprom.Options{Store: store, Now: clk.now, TTL: 15 * time.Second})
	require.NoError(t, err)

	for range 10 {
		require.Equal(t, 60, testutil.CollectAndCount(c))
	}
	require.EqualValues(t, 1, store.reads.Load(), "a scrape storm reads the store once")

	clk.t = clk.t.Add(14 * time.Second)
	testutil.CollectAndCount(c)
	require.EqualValues(t, 1, store.reads.Load())

	clk.t = clk.t.Add(time.Second)
	testutil.CollectAndCount(c)
	require.EqualValues(t, 2, store.reads.Load(), "the TTL is over")

	// A week and 15s later the 7-day window holds none of the issue's
	// deployments (the last succeeded at 2026-11-09T00:00:00Z) and the
	// 30-day one holds all twelve.
	clk.t = clk.t.Add(7 * 24 * time.Hour)
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(`
# HELP estate_dora_deployments Production deployments that succeeded in the window.
# TYPE estate_dora_deployments gauge
estate_dora_deployments{environment="production",service="invoicing",window="30d"} 12
estate_dora_deployments{environment="production",service="invoicing",window="7d"} 0
estate_dora_deployments{environment="staging",service="credit",window="30d"} 0
estate_dora_deployments{environment="staging",service="credit",window="7d"} 0
`), "estate_dora_deployments"))
}

func TestCollectorReportsStoreFailures(t *testing.T) {
	store := issueStore(t)
	store.fail = errors.New("disk on fire")
	c, err := metricsprom.NewCollector(metricsprom.Options{Store: store})
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(c))
	_, err = reg.Gather()
	require.ErrorContains(t, err, "disk on fire")

	// Failures are not cached: the next scrape tries again.
	store.fail = nil
	_, err = reg.Gather()
	require.NoError(t, err)
}

func TestNewCollectorNeedsAStore(t *testing.T) {
	_, err := metricsprom.NewCollector(metricsprom.Options{})
	require.Error(t, err)
}
