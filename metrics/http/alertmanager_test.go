package metricshttp_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/testenv"
	"github.com/estatehq/estate/metrics"
)

// notifyFailed is what Alertmanager logs when a receiver refuses a
// notification; with a 4xx it does not try again, and the notification's
// alerts never reach the receiver.
const notifyFailed = "Notify for alerts failed"

// postAlerts fires alerts at Alertmanager's API, as Prometheus does.
func postAlerts(t *testing.T, base string, labels ...map[string]string) {
	t.Helper()
	type alert struct {
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     time.Time         `json:"startsAt"`
		EndsAt       time.Time         `json:"endsAt"`
		GeneratorURL string            `json:"generatorURL"`
	}
	start := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
	var alerts []alert
	for _, ls := range labels {
		alerts = append(alerts, alert{Labels: ls, Annotations: map[string]string{"summary": "requests are failing"},
			StartsAt: start, EndsAt: start.Add(time.Hour), GeneratorURL: "http://prometheus.example.com:9090/graph"})
	}
	body, err := json.Marshal(alerts)
	require.NoError(t, err)
	res, err := http.Post(base+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
}

// notifications reads Alertmanager's own count of the webhook
// notifications it sent and of those that failed.
func notifications(t *testing.T, base string) (sent, failed float64) {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(line, "{")
		if !ok || !strings.Contains(rest, `integration="webhook"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		require.NoError(t, err, line)
		switch name {
		case "alertmanager_notifications_total":
			sent += v
		case "alertmanager_notifications_failed_total":
			failed += v
		}
	}
	require.NoError(t, sc.Err())
	return sent, failed
}

func waitUntil(t *testing.T, what string, check func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, testenv.WaitFor(ctx, 50*time.Millisecond, check), what)
}

// TestRealAlertmanagerGroupedNotification fires, through a real
// Alertmanager, a group of alerts of which one has no environment label
// and one can be attributed to no service: the notification is taken,
// both incidents that can be mapped are stored, the other alert is
// counted and dead-lettered, and Alertmanager records no failed
// notification. A group of nothing but the unmappable alert is refused,
// and Alertmanager logs that failure: what the first group would have
// suffered had one alert cost the others.
func TestRealAlertmanagerGroupedNotification(t *testing.T) {
	e := newEnv(t)
	am, logs := testenv.StartAlertmanager(t, e.server.URL+"/v1/events/alertmanager")

	unmappable := map[string]string{"alertname": "HighErrorRate", "instance": "10.0.3.7:9100", "severity": "page"}
	postAlerts(t, am,
		map[string]string{"alertname": "HighErrorRate", "service": "invoicing", "environment": "staging", "severity": "page"},
		map[string]string{"alertname": "HighErrorRate", "service": "credit", "severity": "page"},
		unmappable,
	)
	var opened map[string]metrics.IncidentOpened
	waitUntil(t, "both incidents stored", func() error {
		if _, failed := notifications(t, am); failed > 0 {
			t.Fatalf("Alertmanager failed to notify the intake; its log:\n%s", logs())
		}
		all, err := e.store.Events(context.Background(), metrics.Filter{})
		if err != nil {
			return err
		}
		opened = map[string]metrics.IncidentOpened{}
		for _, ev := range all {
			if o, ok := ev.Data.(metrics.IncidentOpened); ok {
				opened[o.Service] = o
			}
		}
		if len(opened) != 2 {
			return fmt.Errorf("incidents of %v", opened)
		}
		return nil
	})
	require.Equal(t, "staging", opened["invoicing"].Environment)
	require.Equal(t, "production", opened["credit"].Environment, "no environment label: the configured one")

	sent, failed := notifications(t, am)
	require.GreaterOrEqual(t, sent, 1.0)
	require.Zero(t, failed, "Alertmanager counts no failed notification")
	require.NotContains(t, logs(), notifyFailed)
	// The intake stores the good alerts before it dead-letters and counts
	// the bad one: wait for the letter.
	var letters []deadLetter
	waitUntil(t, "the unmappable alert dead-lettered", func() error {
		if letters = e.deadLettered(); len(letters) == 0 {
			return fmt.Errorf("nothing dead-lettered yet")
		}
		return nil
	})
	for _, dl := range letters {
		var a struct{ Labels map[string]string }
		require.NoError(t, json.Unmarshal(dl.Item, &a))
		require.Equal(t, unmappable, a.Labels, "only the unmappable alert is dead-lettered")
	}
	// The counter follows the letter in the same call.
	waitUntil(t, "the unmappable alert counted", func() error {
		if d := e.rejectedDiff(map[string]float64{"alertmanager/invalid": float64(len(letters))}); d != "" {
			return fmt.Errorf("estate_intake_rejected_total: %s", d)
		}
		return nil
	})

	// The control: a notification with nothing that can be stored is
	// refused, and Alertmanager says so.
	postAlerts(t, am, map[string]string{"alertname": "Unattributable", "instance": "10.0.3.8:9100"})
	waitUntil(t, "the refused notification logged", func() error {
		if _, failed := notifications(t, am); failed == 0 {
			return fmt.Errorf("no failed notification counted")
		}
		if !strings.Contains(logs(), notifyFailed) {
			return fmt.Errorf("no failed notification logged")
		}
		return nil
	})
	all, err := e.store.Events(context.Background(), metrics.Filter{})
	require.NoError(t, err)
	require.Len(t, all, 2, "the refused notification stored nothing")
}
