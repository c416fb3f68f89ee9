package demo

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/estatehq/estate/chaos"
	chaoshttp "github.com/estatehq/estate/chaos/http"
)

// Experiments are the game day's experiments, each on a cron schedule of
// every: a latency fault on invoicing whose hypothesis holds, and an
// error fault on credit whose hypothesis breaks, so that the run aborts
// and opens an incident that the report counts as chaos's. Both probe a
// route anonymously: it answers 401 while the service is well, and the
// fault's answer (late, or 503) when it is not.
func Experiments(every time.Duration) map[string][]byte {
	// The fault lasts a tenth of the period, from 5 seconds to half a
	// minute: the latency fault then costs the latency SLOs less than
	// their budget (a quarter of one route's lookups, a tenth of the
	// time), and the error fault is removed at the first probe anyway.
	d := min(max(every/10, 5*time.Second), 30*time.Second)
	cron := "@every " + every.String()
	return map[string][]byte{
		"demo-invoicing-latency": []byte(`apiVersion: chaos.estate.dev/v1
kind: Experiment
metadata:
  name: demo-invoicing-latency
  labels: {demo: "true"}
spec:
  target: {service: invoicing}
  fault:
    http: {action: latency, route: "/v1/invoices/{id}", method: GET, percentage: 25, delay: 250ms}
  duration: ` + d.String() + `
  schedule: {cron: "` + cron + `"}
  steadyStateHypothesis:
    interval: 2s
    probes:
      - name: invoice-lookup-answers
        http: {service: invoicing, path: /v1/invoices/chaos-probe, status: 401, timeout: 1s}
  expectedOutcome: {hypothesis: holds, recoverWithin: 30s}
`),
		"demo-credit-errors": []byte(`apiVersion: chaos.estate.dev/v1
kind: Experiment
metadata:
  name: demo-credit-errors
  labels: {demo: "true"}
spec:
  target: {service: credit}
  fault:
    http: {action: error, route: /v1/credit/line, percentage: 100, status: 503}
  duration: ` + d.String() + `
  schedule: {cron: "` + cron + `"}
  steadyStateHypothesis:
    interval: 1s
    probes:
      - name: credit-line-answers
        http: {service: credit, path: /v1/credit/line, status: 401, timeout: 1s}
  expectedOutcome: {hypothesis: holds, recoverWithin: 30s}
`),
	}
}

// ScheduleChaos submits the game day's experiments, unless the chaos
// journal already holds their schedule from an earlier start (a schedule
// survives a restart); a schedule of another period is replaced.
func ScheduleChaos(ctx context.Context, c *chaoshttp.Client, every time.Duration) error {
	scheduled, err := c.Runs(ctx, chaos.RunFilter{States: []chaos.State{chaos.StateScheduled}, Limit: 1000})
	if err != nil {
		return fmt.Errorf("listing chaos schedules: %w", err)
	}
	for name, doc := range Experiments(every) {
		keep := false
		for _, r := range scheduled {
			if r.Experiment.Metadata.Name != name {
				continue
			}
			if s := r.Experiment.Spec.Schedule; s != nil && s.Cron == "@every "+every.String() && !keep {
				keep = true
				continue
			}
			if _, err := c.Abort(ctx, r.ID, "replaced by the demo's schedule of every "+every.String()); err != nil {
				return fmt.Errorf("replacing the schedule of %s: %w", name, err)
			}
		}
		if keep {
			continue
		}
		if _, err := c.Submit(ctx, doc); err != nil {
			return fmt.Errorf("scheduling %s: %w", name, err)
		}
	}
	return nil
}

// OpeningRun runs the game day's breaking experiment once, now, without
// its schedule: the first scheduled run is a period away, and a newcomer
// should see a chaos incident open and resolve within the demo's first
// minutes.
func OpeningRun(ctx context.Context, c *chaoshttp.Client, every time.Duration) (chaos.Run, error) {
	doc := Experiments(every)["demo-credit-errors"]
	doc = bytes.Replace(doc, []byte("  schedule: {cron: \"@every "+every.String()+"\"}\n"), nil, 1)
	r, err := c.Submit(ctx, doc)
	if err != nil {
		return chaos.Run{}, fmt.Errorf("running the game day's opening experiment: %w", err)
	}
	return r, nil
}
