package rules_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/testenv"
	"github.com/estatehq/estate/metrics"
)

// webhookReceiver keeps the bodies Alertmanager posts to it.
type webhookReceiver struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (w *webhookReceiver) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.mu.Lock()
	w.bodies = append(w.bodies, b)
	w.mu.Unlock()
	rw.WriteHeader(http.StatusOK)
}

// events are the distinct events the posted bodies map to, by id.
func (w *webhookReceiver) events(t *testing.T) []metrics.Event {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	in := &intake{}
	for _, b := range w.bodies {
		require.NoError(t, in.Alerts(context.Background(), b), string(b))
	}
	events, _ := in.incidents()
	return events
}

// startAlertmanager runs the real Alertmanager, alone (no cluster), with a
// webhook receiver that sends resolved alerts too, and returns its URL.
func startAlertmanager(t *testing.T, webhookURL string) string {
	t.Helper()
	base, _ := testenv.StartAlertmanager(t, webhookURL)
	return base
}

// amAlert is an alert as Alertmanager's API v2 lists it.
type amAlert struct {
	Labels map[string]string `json:"labels"`
	Status struct {
		State string `json:"state"`
	} `json:"status"`
}

func amAlerts(t *testing.T, base string) []amAlert {
	t.Helper()
	res, err := http.Get(base + "/api/v2/alerts")
	require.NoError(t, err)
	defer res.Body.Close()
	var alerts []amAlert
	require.NoError(t, json.NewDecoder(res.Body).Decode(&alerts))
	return alerts
}

func waitFor(t *testing.T, what string, check func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, testenv.WaitFor(ctx, 50*time.Millisecond, check), what)
}

// TestAlertsReachAlertmanagerAndTheIntake fires an alert and resolves it
// with a real Alertmanager configured: it gets the alert, with the external
// labels, and its webhook posts what the in-process intake was sent, to
// the event: the same incident opened, then resolved.
func TestAlertsReachAlertmanagerAndTheIntake(t *testing.T) {
	hook := &webhookReceiver{}
	hookSrv := httptest.NewServer(hook)
	defer hookSrv.Close()
	am := startAlertmanager(t, hookSrv.URL+"/hook")

	s := newStores(t)
	var on atomic.Bool
	on.Store(true)
	ctx, stop := context.WithCancel(context.Background())
	var feeding sync.WaitGroup
	feeding.Go(func() { feedSwitch(ctx, s.db, &on) })
	defer func() { stop(); feeding.Wait() }()

	file := filepath.Join(t.TempDir(), "switch.yml")
	writeFile(t, file, `groups:
- name: switch
  rules:
  - alert: SwitchOn
    expr: estate_test_switch > 0
    for: 500ms
    labels:
      service: credit
      severity: ticket
`)
	in := &intake{}
	e := s.evaluator(t, defaults(t, "--files", file, "--interval", "100ms", "--alertmanager-url", am, "--external-labels", "environment=staging"), in, nil)
	require.NoError(t, e.Start(context.Background()))
	defer func() { require.NoError(t, e.Shutdown(context.Background())) }()

	waitFor(t, "the alert reaches Alertmanager", func() error {
		alerts := amAlerts(t, am)
		if len(alerts) != 1 || alerts[0].Status.State != "active" {
			return fmt.Errorf("alertmanager has %v", alerts)
		}
		want := map[string]string{"alertname": "SwitchOn", "service": "credit", "severity": "ticket", "environment": "staging"}
		if diff := cmp.Diff(want, alerts[0].Labels); diff != "" {
			return fmt.Errorf("labels: %s", diff)
		}
		return nil
	})
	waitFor(t, "both open the incident", func() error {
		if got, want := len(hook.events(t)), 1; got != want {
			return fmt.Errorf("alertmanager posted %d events", got)
		}
		if events, _ := in.incidents(); len(events) != 1 {
			return fmt.Errorf("the intake has %d events", len(events))
		}
		return nil
	})

	on.Store(false)
	waitFor(t, "both resolve it", func() error {
		if got := len(hook.events(t)); got != 2 {
			return fmt.Errorf("alertmanager posted %d events", got)
		}
		if events, _ := in.incidents(); len(events) != 2 {
			return fmt.Errorf("the intake has %d events", len(events))
		}
		return nil
	})
	fromIntake, _ := in.incidents()
	require.Empty(t, cmp.Diff(hook.events(t), fromIntake, cmpopts.IgnoreFields(metrics.Event{}, "Source")),
		"the intake was sent what Alertmanager posts: the same incident, opened and resolved")
	opened, ok := fromIntake[0].Data.(metrics.IncidentOpened)
	require.True(t, ok)
	require.Equal(t, "staging", opened.Environment)
	require.IsType(t, metrics.IncidentResolved{}, fromIntake[1].Data)
}

// feedSwitch appends estate_test_switch (1 when on, else 0) every 50 ms
// until ctx ends.
func feedSwitch(ctx context.Context, db storage.AppendableV2, on *atomic.Bool) {
	ls := labels.FromStrings(model.MetricNameLabel, "estate_test_switch")
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		v := 0.0
		if on.Load() {
			v = 1
		}
		app := db.AppenderV2(ctx)
		if _, err := app.Append(0, ls, 0, time.Now().UnixMilli(), v, nil, nil, storage.AOptions{}); err == nil {
			_ = app.Commit()
		} else {
			_ = app.Rollback()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
