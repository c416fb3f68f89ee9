package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/rollout"
	"github.com/estatehq/estate/services/kit/fault"
	"github.com/estatehq/estate/services/kit/webhook"
)

// The bad release: some minutes into the demo, invoicing "ships" a
// version that fails a tenth of its requests. The demo posts the
// deployment's started and succeeded events and places the failures on
// invoicing's fault surface, so the errors are real answers that the
// collector's RED series count. The post-deploy analysis should fail the
// deployment within its window and call the rollback hook; the demo's own
// hook (ServeRollbacks) then removes the failures and posts the rollback,
// as a deploy pipeline would.

// releaseFault is the fault id of the bad release's failures.
const releaseFault = "demo-bad-release"

// releaseFailures is the share of invoicing's requests the bad release
// fails, in percent: a burn rate of 100 against a 99.9% objective.
const releaseFailures = 10

// releaseLife bounds the failures when no rollback comes: the analysis'
// default window and then some.
const releaseLife = 20 * time.Minute

// release is the bad release in production, if any.
type release struct {
	mu       sync.Mutex
	id       string
	rolledTo string
}

// ReleaseID is the id of the bad release shipped at t.
func ReleaseID(t time.Time) string {
	return "invoicing-" + t.UTC().Format("20060102-150405") + "-release"
}

// shipBadRelease waits until the release is due, then ships it.
func (d *Demo) shipBadRelease(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(d.o.Config.BadReleaseAfter):
	}
	if err := d.ship(ctx); err != nil && ctx.Err() == nil {
		d.o.Logger.Error("demo bad release failed", "err", err)
	}
}

func (d *Demo) ship(ctx context.Context) error {
	now := d.o.Now().UTC()
	id := ReleaseID(now)
	version := now.Format("2006.01.02") + "-bad"
	f := fault.Fault{ID: releaseFault, Action: fault.ActionError, Percentage: releaseFailures, Status: http.StatusInternalServerError,
		ExpiresAt: now.Add(releaseLife)}
	if err := d.faults.Set(ctx, f); err != nil {
		return fmt.Errorf("placing the bad release's failures: %w", err)
	}
	ev := func(suffix string, data metrics.Data) metrics.Event {
		return metrics.Event{ID: id + suffix, Source: releaseSource, Time: now, Data: data}
	}
	events := []metrics.Event{
		ev("-started", metrics.DeploymentStarted{DeploymentID: id, Service: "invoicing", Environment: environment, Version: version}),
		ev("-succeeded", metrics.DeploymentSucceeded{DeploymentID: id}),
	}
	if _, err := PostHistory(ctx, d.client(auth.RoleEventsWrite), d.o.CollectorURL, events); err != nil {
		return fmt.Errorf("posting the bad release: %w", err)
	}
	d.release.mu.Lock()
	d.release.id = id
	d.release.mu.Unlock()
	d.o.Logger.Warn("demo shipped a bad release of invoicing: a tenth of its requests fail until it is rolled back",
		"deployment_id", id, "version", version)
	return nil
}

// releaseSource is the CloudEvents source of the bad release's events:
// the demo's deploy pipeline.
const releaseSource = "urn:estate:demo:pipeline"

// ServeRollbacks serves the demo's rollback hook on ln until Shutdown:
// the signed webhook of the post-deploy analysis (rollout/hooks), under
// secret. A recommendation to roll the bad release back removes its
// failures and posts its rolled_back event; any other is answered and
// left alone.
func (d *Demo) ServeRollbacks(ln net.Listener, secret string) {
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil || r.Method != http.MethodPost {
			http.Error(w, "POST a rollback recommendation", http.StatusBadRequest)
			return
		}
		if err := webhook.Verify(r.Header.Get(webhook.Header), body, secret, d.o.Now(), webhook.DefaultTolerance); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var rec rollout.Recommendation
		if err := json.Unmarshal(body, &rec); err != nil {
			http.Error(w, "not a recommendation: "+err.Error(), http.StatusBadRequest)
			return
		}
		status, msg, err := d.rollBack(r.Context(), rec)
		if err != nil {
			d.o.Logger.Error("demo rollback failed", "deployment_id", rec.DeploymentID, "err", err)
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, msg)
	})}
	d.rollbacks = srv
	d.wg.Go(func() { _ = srv.Serve(ln) })
}

// rollBack undoes the bad release that rec names, once.
func (d *Demo) rollBack(ctx context.Context, rec rollout.Recommendation) (int, string, error) {
	d.release.mu.Lock()
	defer d.release.mu.Unlock()
	switch {
	case rec.DeploymentID != d.release.id || d.release.id == "":
		return http.StatusOK, "nothing to roll back: the demo did not ship " + rec.DeploymentID, nil
	case d.release.rolledTo != "":
		return http.StatusOK, "rolled back already, to " + d.release.rolledTo, nil
	}
	var se *fault.StatusError
	if err := d.faults.Remove(ctx, releaseFault); err != nil && (!errors.As(err, &se) || se.Status != http.StatusNotFound) {
		return 0, "", fmt.Errorf("removing the bad release's failures: %w", err)
	}
	to := rec.RollbackTo
	if to == "" {
		to = "previous"
	}
	now := d.o.Now().UTC()
	events := []metrics.Event{{ID: rec.DeploymentID + "-rolled-back", Source: releaseSource, Time: now,
		Data: metrics.DeploymentRolledBack{DeploymentID: rec.DeploymentID, ToVersion: to}}}
	if _, err := PostHistory(ctx, d.client(auth.RoleEventsWrite), d.o.CollectorURL, events); err != nil {
		return 0, "", fmt.Errorf("posting the rollback: %w", err)
	}
	d.release.rolledTo = to
	d.o.Logger.Warn("demo rolled the bad release back, as the post-deploy analysis asked", "deployment_id", rec.DeploymentID, "to", to, "reason", rec.Reason)
	return http.StatusAccepted, "rolled back " + rec.DeploymentID + " to " + to, nil
}
