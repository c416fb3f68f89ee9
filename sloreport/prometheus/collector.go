// Package prometheus exposes the SLOs' statuses to Prometheus: a
// prometheus.Collector that, on scrape, asks the sloreport.Evaluator (which
// caches one computation for its CacheTTL, so a burst of scrapes computes
// once) and writes every number of GET /v1/slos as an estate_slo_* gauge.
// Register it on the registry the caller owns; nothing here touches the
// global one. The series are listed in docs/slo.md.
package prometheus

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/estatehq/estate/sloreport"
)

// Options are the collector's dependencies and settings.
type Options struct {
	// Evaluator computes the statuses. Required.
	Evaluator *sloreport.Evaluator
	// Timeout bounds one computation; default 10s.
	Timeout time.Duration
	// Logger logs failed computations; nil discards.
	Logger *slog.Logger
}

// Collector is a prometheus.Collector of the SLOs' statuses.
type Collector struct {
	o Options

	objective, windowSeconds, events, badEvents, attainment    *prometheus.Desc
	allowed, remaining, remainingRatio, timeLeft, burn, burnEv *prometheus.Desc
	state                                                      *prometheus.Desc
	failures                                                   prometheus.Counter
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector of o.Evaluator's statuses.
func NewCollector(o Options) (*Collector, error) {
	if o.Evaluator == nil {
		return nil, errors.New("slo prometheus collector: evaluator is required")
	}
	if o.Timeout < 0 {
		return nil, errors.New("slo prometheus collector: timeout must not be negative")
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	l := []string{"slo", "service"}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append(append([]string{}, l...), labels...), nil)
	}
	return &Collector{
		o:              o,
		objective:      d("estate_slo_objective_ratio", "The SLO's target fraction of good events."),
		windowSeconds:  d("estate_slo_window_seconds", "Length of the SLO's window: the rolling length, or the current calendar period's."),
		events:         d("estate_slo_window_events", "Events in the SLO's window so far, counted exactly from the counters' raw samples."),
		badEvents:      d("estate_slo_window_bad_events", "Bad events in the SLO's window so far."),
		attainment:     d("estate_slo_attainment_ratio", "Good / total events in the window; absent without events."),
		allowed:        d("estate_slo_error_budget_events", "Bad events the window allows: (1 - objective) * events."),
		remaining:      d("estate_slo_error_budget_remaining_events", "Allowed - bad events; negative when overspent."),
		remainingRatio: d("estate_slo_error_budget_remaining_ratio", "Remaining / allowed bad events: 1 untouched (or no events), 0 exhausted, negative overspent."),
		timeLeft:       d("estate_slo_error_budget_time_left_seconds", "How long the remaining budget lasts at the burn rate of the last hour; absent when that rate is zero or does not count (low-traffic guard)."),
		burn:           d("estate_slo_burn_rate", "Bad-event ratio over the window / the budget's ratio; absent when the window holds fewer events than the low-traffic guard asks.", "window"),
		burnEv:         d("estate_slo_burn_rate_window_events", "Events in the burn-rate window.", "window"),
		state:          d("estate_slo_state", "1 for the SLO's policy state (healthy, at_risk, exhausted, no_data), 0 for the others.", "state"),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "estate_slo_evaluation_failures_total",
			Help: "Scrapes whose SLO computation failed; they carried no estate_slo_* status series.",
		}),
	}, nil
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.objective, c.windowSeconds, c.events, c.badEvents, c.attainment,
		c.allowed, c.remaining, c.remainingRatio, c.timeLeft, c.burn, c.burnEv, c.state,
	} {
		ch <- d
	}
	c.failures.Describe(ch)
}

// states are the values of the state label.
var states = []sloreport.State{sloreport.Healthy, sloreport.AtRisk, sloreport.Exhausted, sloreport.NoData}

// Collect implements prometheus.Collector. A failed computation is logged
// and counted, and leaves the status series out: failing the scrape, as an
// invalid metric would, would take every other series of the registry
// down with them.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	defer c.failures.Collect(ch)
	ctx, cancel := context.WithTimeout(context.Background(), c.o.Timeout)
	defer cancel()
	all, err := c.o.Evaluator.Statuses(ctx)
	if err != nil {
		c.failures.Inc()
		c.o.Logger.Error("computing SLOs for /metrics", "err", err)
		return
	}
	for _, st := range all {
		s := st.SLO
		gauge := func(d *prometheus.Desc, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{s.Name, s.Service}, labels...)...)
		}
		gauge(c.objective, s.Objective)
		gauge(c.windowSeconds, s.Window.Period(st.At).Seconds())
		gauge(c.events, st.Events.Total)
		gauge(c.badEvents, st.Events.Bad)
		if st.Attainment != nil {
			gauge(c.attainment, *st.Attainment)
		}
		gauge(c.allowed, st.Budget.Allowed)
		gauge(c.remaining, st.Budget.Remaining)
		gauge(c.remainingRatio, st.Budget.RemainingRatio)
		if st.Budget.TimeLeft != nil {
			gauge(c.timeLeft, st.Budget.TimeLeft.Seconds())
		}
		for _, br := range st.BurnRates {
			w := sloreport.FormatDuration(br.Window)
			if br.Counted {
				gauge(c.burn, *br.Rate, w)
			}
			gauge(c.burnEv, br.Events.Total, w)
		}
		for _, state := range states {
			v := 0.0
			if st.State == state {
				v = 1
			}
			gauge(c.state, v, string(state))
		}
	}
}
