// Package prometheus exposes the metrics area's figures to Prometheus: a
// prometheus.Collector that, on scrape, reads the event store, folds it and
// computes the report over rolling 7-day and 30-day windows ending at the
// scrape. Register it on the registry the caller owns; nothing here touches
// the global one.
//
// The computation is cached for a short TTL, so a burst of scrapes (several
// Prometheus replicas, a dashboard refresh) reads the store once. The
// metrics are listed in docs/metrics.md.
package prometheus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/estatehq/estate/metrics"
)

// Options are the collector's dependencies and settings.
type Options struct {
	// Store holds the events. Required.
	Store metrics.Store
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// TTL is how long one computation serves scrapes; default 30s.
	TTL time.Duration
	// Timeout bounds one computation (reading the store); default 10s.
	Timeout time.Duration
	// Logger logs failed computations; nil discards.
	Logger *slog.Logger
}

// Windows are the rolling windows of the gauges, by their label value.
var windows = []struct {
	label  string
	length time.Duration
}{
	{"7d", 7 * 24 * time.Hour},
	{"30d", 30 * 24 * time.Hour},
}

// Collector is a prometheus.Collector of the DORA, MTBF and MTTR figures.
type Collector struct {
	o     Options
	descs descs

	mu       sync.Mutex
	cached   []prometheus.Metric
	cachedAt time.Time
}

var _ prometheus.Collector = (*Collector)(nil)

type descs struct {
	deployments, rollbacks, failed, incidents, chaosIncidents *prometheus.Desc

	wDeployments, wFailed, wRollbacks, wRollbackRatio, wChangeFailureRatio, wFrequency *prometheus.Desc
	wLeadTimeP50, wLeadTimeP90, wLeadTimeCommits, wIncidents, wChaosIncidents          *prometheus.Desc
	wDowntime, wMTTR, wMTTRMedian, wResolved, wMTBF                                    *prometheus.Desc
}

// NewCollector returns a collector reading o.Store.
func NewCollector(o Options) (*Collector, error) {
	if o.Store == nil {
		return nil, errors.New("metrics prometheus collector: store is required")
	}
	if o.TTL < 0 || o.Timeout < 0 {
		return nil, fmt.Errorf("metrics prometheus collector: ttl (%s) and timeout (%s) must not be negative", o.TTL, o.Timeout)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TTL == 0 {
		o.TTL = 30 * time.Second
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	pair := []string{"service", "environment"}
	win := []string{"service", "environment", "window"}
	d := descs{
		deployments: prometheus.NewDesc("estate_deployments_total",
			"Deployments that reached production (have a succeeded event), ever.", pair, nil),
		rollbacks: prometheus.NewDesc("estate_deployment_rollbacks_total",
			"Deployments with a rolled_back event, ever.", pair, nil),
		failed: prometheus.NewDesc("estate_deployments_failed_total",
			"Deployments with a failed event, ever.", pair, nil),
		incidents: prometheus.NewDesc("estate_incidents_total",
			"Incidents opened, chaos experiments' excluded, ever.", pair, nil),
		chaosIncidents: prometheus.NewDesc("estate_chaos_incidents_total",
			"Incidents opened by chaos experiments, ever.", pair, nil),

		wDeployments: prometheus.NewDesc("estate_dora_deployments",
			"Production deployments that succeeded in the window.", win, nil),
		wFailed: prometheus.NewDesc("estate_dora_failed_deployments",
			"Deployments that failed in the window and never reached production.", win, nil),
		wRollbacks: prometheus.NewDesc("estate_dora_rollbacks",
			"Deployments of the window rolled back before its end.", win, nil),
		wRollbackRatio: prometheus.NewDesc("estate_dora_rollback_ratio",
			"Rollbacks / deployments in the window; absent without deployments.", win, nil),
		wChangeFailureRatio: prometheus.NewDesc("estate_dora_change_failure_ratio",
			"Deployments of the window rolled back or named as an incident's cause / deployments; absent without deployments.", win, nil),
		wFrequency: prometheus.NewDesc("estate_dora_deployment_frequency_per_day",
			"Deployments in the window / window length in days.", win, nil),
		wLeadTimeP50: prometheus.NewDesc("estate_dora_lead_time_p50_seconds",
			"Lead time for changes (success time - commit time), nearest-rank median over the window's commits; absent without commits.", win, nil),
		wLeadTimeP90: prometheus.NewDesc("estate_dora_lead_time_p90_seconds",
			"Lead time for changes (success time - commit time), nearest-rank 90th percentile over the window's commits; absent without commits.", win, nil),
		wLeadTimeCommits: prometheus.NewDesc("estate_dora_lead_time_commits",
			"Commits of the window's deployments: the sample of the lead time.", win, nil),
		wIncidents: prometheus.NewDesc("estate_dora_incidents",
			"Incidents that started in the window, chaos experiments' excluded.", win, nil),
		wChaosIncidents: prometheus.NewDesc("estate_dora_chaos_incidents",
			"Incidents opened by chaos experiments that started in the window.", win, nil),
		wDowntime: prometheus.NewDesc("estate_dora_downtime_seconds",
			"Time in the window with at least one incident open.", win, nil),
		wMTTR: prometheus.NewDesc("estate_dora_mttr_seconds",
			"Mean time to recovery over the incidents resolved in the window; absent when none was.", win, nil),
		wMTTRMedian: prometheus.NewDesc("estate_dora_mttr_median_seconds",
			"Median (nearest rank) time to recovery over the incidents resolved in the window; absent when none was.", win, nil),
		wResolved: prometheus.NewDesc("estate_dora_resolved_incidents",
			"Incidents resolved in the window, chaos experiments' excluded: the sample of the MTTR.", win, nil),
		wMTBF: prometheus.NewDesc("estate_dora_mtbf_seconds",
			"Mean time between failures: (window - downtime) / incidents; absent without incidents.", win, nil),
	}
	return &Collector{o: o, descs: d}, nil
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	d := c.descs
	for _, desc := range []*prometheus.Desc{
		d.deployments, d.rollbacks, d.failed, d.incidents, d.chaosIncidents,
		d.wDeployments, d.wFailed, d.wRollbacks, d.wRollbackRatio, d.wChangeFailureRatio, d.wFrequency,
		d.wLeadTimeP50, d.wLeadTimeP90, d.wLeadTimeCommits, d.wIncidents, d.wChaosIncidents,
		d.wDowntime, d.wMTTR, d.wMTTRMedian, d.wResolved, d.wMTBF,
	} {
		ch <- desc
	}
}

// Collect implements prometheus.Collector. A failed computation is reported
// as an invalid metric, which fails the scrape, and is not cached.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.snapshot() {
		ch <- m
	}
}

func (c *Collector) snapshot() []prometheus.Metric {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.o.Now()
	if c.cached != nil && now.Sub(c.cachedAt) < c.o.TTL && !now.Before(c.cachedAt) {
		return c.cached
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.o.Timeout)
	defer cancel()
	ms, err := c.compute(ctx, now)
	if err != nil {
		c.o.Logger.Error("computing reliability metrics", "err", err)
		return []prometheus.Metric{prometheus.NewInvalidMetric(c.descs.deployments, err)}
	}
	c.cached, c.cachedAt = ms, now
	return ms
}

func (c *Collector) compute(ctx context.Context, now time.Time) ([]prometheus.Metric, error) {
	deployments, incidents, err := metrics.Load(ctx, c.o.Store, metrics.Filter{})
	if err != nil {
		return nil, err
	}
	var ms []prometheus.Metric
	d := c.descs
	counter := func(desc *prometheus.Desc, v float64, labels ...string) {
		ms = append(ms, prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v, labels...))
	}
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ms = append(ms, prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...))
	}
	optGauge := func(desc *prometheus.Desc, v *float64, labels ...string) {
		if v != nil {
			gauge(desc, *v, labels...)
		}
	}

	// Counters: all time, by service and environment.
	type key struct{ service, environment string }
	type totals struct{ deployments, rollbacks, failed, incidents, chaos int }
	all := map[key]*totals{}
	get := func(k key) *totals {
		t, ok := all[k]
		if !ok {
			t = &totals{}
			all[k] = t
		}
		return t
	}
	for _, dep := range deployments {
		if !dep.Started {
			continue
		}
		t := get(key{dep.Service, dep.Environment})
		if dep.Succeeded() {
			t.deployments++
		}
		if dep.RolledBack() {
			t.rollbacks++
		}
		if !dep.FailedAt.IsZero() {
			t.failed++
		}
	}
	for _, inc := range incidents {
		if !inc.Opened {
			continue
		}
		t := get(key{inc.Service, inc.Environment})
		if inc.Chaos() {
			t.chaos++
		} else {
			t.incidents++
		}
	}
	for k, t := range all {
		counter(d.deployments, float64(t.deployments), k.service, k.environment)
		counter(d.rollbacks, float64(t.rollbacks), k.service, k.environment)
		counter(d.failed, float64(t.failed), k.service, k.environment)
		counter(d.incidents, float64(t.incidents), k.service, k.environment)
		counter(d.chaosIncidents, float64(t.chaos), k.service, k.environment)
	}

	// Gauges: every figure of the report over each rolling window.
	for _, w := range windows {
		r, err := metrics.Compute(deployments, incidents, metrics.Window{From: now.Add(-w.length), To: now}, metrics.Options{})
		if err != nil {
			return nil, err
		}
		for _, s := range r.Services {
			l := []string{s.Service, s.Environment, w.label}
			gauge(d.wDeployments, float64(s.Deployments), l...)
			gauge(d.wFailed, float64(s.FailedDeployments), l...)
			gauge(d.wRollbacks, float64(s.Rollbacks), l...)
			optGauge(d.wRollbackRatio, s.RollbackRate, l...)
			optGauge(d.wChangeFailureRatio, s.ChangeFailureRate, l...)
			gauge(d.wFrequency, s.DeploymentFrequencyPerDay, l...)
			if s.LeadTimeSeconds != nil {
				gauge(d.wLeadTimeP50, s.LeadTimeSeconds.P50, l...)
				gauge(d.wLeadTimeP90, s.LeadTimeSeconds.P90, l...)
			}
			gauge(d.wLeadTimeCommits, float64(s.LeadTimeSamples), l...)
			gauge(d.wIncidents, float64(s.Incidents), l...)
			gauge(d.wChaosIncidents, float64(s.ChaosIncidents), l...)
			gauge(d.wDowntime, s.DowntimeSeconds, l...)
			optGauge(d.wMTTR, s.MTTRSeconds, l...)
			optGauge(d.wMTTRMedian, s.MTTRMedianSeconds, l...)
			gauge(d.wResolved, float64(s.MTTRSamples), l...)
			optGauge(d.wMTBF, s.MTBFSeconds, l...)
		}
	}
	return ms, nil
}
