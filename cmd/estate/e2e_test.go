//go:build !servicesonly

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/auth"
)

// TestUpTraceFromServiceToCollector follows one request of the invoicing
// API into the collector: its trace and its log lines are found there by
// trace id, as an on-call engineer would find them.
func TestUpTraceFromServiceToCollector(t *testing.T) {
	e := startUp(t)
	tok := e.token(t, "--sub", "user-1")
	traceID := fmt.Sprintf("%032x", time.Now().UnixNano())
	code, body := e.do(t, http.MethodPost, e.urls["invoicing"]+"/v1/businesses", tok,
		map[string]string{"traceparent": "00-" + traceID + "-00f067aa0ba902b7-01", "Idempotency-Key": "e2e-1"},
		map[string]any{"legal_name": "Acme Ltd", "country": "GB", "registration_number": "01234567", "billing_email": "billing@acme.test"})
	require.Equal(t, http.StatusCreated, code, string(body))

	var spans, logs int
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) && (spans == 0 || logs == 0) {
		time.Sleep(250 * time.Millisecond)
		if code, body := e.do(t, http.MethodGet, e.urls["collector"]+"/v1/traces/"+traceID, e.reader(t), nil, nil); code == http.StatusOK {
			spans = strings.Count(string(body), `"span_id"`)
		}
		if code, body := e.do(t, http.MethodGet, e.urls["collector"]+"/v1/logs?service=invoicing&trace_id="+traceID, e.reader(t), nil, nil); code == http.StatusOK {
			logs = strings.Count(string(body), traceID)
		}
	}
	require.Positive(t, spans, "the request's trace never reached the collector")
	require.Positive(t, logs, "the request's log lines never reached the collector")
}

// TestUpEventsToDORA sends reliability events to the collector's events API
// and reads the figures back from /v1/dora and /metrics.
func TestUpEventsToDORA(t *testing.T) {
	e := startUp(t)
	lines, err := os.ReadFile("../../metrics/testdata/issue_example.jsonl")
	require.NoError(t, err)
	var batch []json.RawMessage
	for _, l := range strings.Split(strings.TrimSpace(string(lines)), "\n") {
		if strings.TrimSpace(l) != "" {
			batch = append(batch, json.RawMessage(l))
		}
	}
	b, err := json.Marshal(batch)
	require.NoError(t, err)
	resp, err := e.as(t, auth.RoleEventsWrite).Post(e.urls["collector"]+"/v1/events", "application/cloudevents-batch+json", bytes.NewReader(b))
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Less(t, resp.StatusCode, 300)

	want, err := os.ReadFile("../../metrics/testdata/issue_example.json")
	require.NoError(t, err)
	code, got := e.do(t, http.MethodGet, e.urls["collector"]+"/v1/dora?from=2026-11-02T00:00:00Z&to=2026-11-09T00:00:00Z", e.reader(t), nil, nil)
	require.Equal(t, http.StatusOK, code, string(got))
	require.JSONEq(t, string(want), string(got))

	code, metricsText := e.do(t, http.MethodGet, e.urls["collector"]+"/metrics", "", nil, nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(metricsText), `estate_deployments_total{environment="production",service="invoicing"}`)

	// A malformed event gets a problem and changes nothing.
	resp, err = e.as(t, auth.RoleEventsWrite).Post(e.urls["collector"]+"/v1/events", "application/cloudevents+json", strings.NewReader(`{"specversion":"1.0","id":"x","source":"s","type":"dev.estate.deployment.started","data":{}}`))
	require.NoError(t, err)
	pb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), string(pb))
	require.GreaterOrEqual(t, resp.StatusCode, 400)
}

// TestUpAlertOnAServiceOpensAnIncident has `estate up` evaluate an alert
// on the scrape of the invoicing service it runs: the alert fires once the
// collector scrapes invoicing's /metrics, and opens an incident in the
// event store, which the DORA report counts.
func TestUpAlertOnAServiceOpensAnIncident(t *testing.T) {
	rules := filepath.Join(t.TempDir(), "rules.yml")
	require.NoError(t, os.WriteFile(rules, []byte(`groups:
- name: estate
  rules:
  - alert: InvoicingScraped
    expr: up{job="invoicing"} == 1
    labels:
      service: invoicing
      severity: info
`), 0o600))
	e := startUp(t, "--collector.scrape.interval=200ms", "--collector.scrape.timeout=200ms",
		"--collector.rules.files="+rules, "--collector.rules.interval=200ms")
	from, to := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	var incidents int
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) && incidents == 0 {
		time.Sleep(250 * time.Millisecond)
		code, body := e.do(t, http.MethodGet, e.urls["collector"]+"/v1/dora?from="+from+"&to="+to, e.reader(t), nil, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		var report struct {
			Services []struct {
				Service     string `json:"service"`
				Environment string `json:"environment"`
				Incidents   int    `json:"incidents"`
			} `json:"services"`
		}
		require.NoError(t, json.Unmarshal(body, &report))
		for _, s := range report.Services {
			if s.Service == "invoicing" && s.Environment == "production" {
				incidents = s.Incidents
			}
		}
	}
	require.Equal(t, 1, incidents, "the alert on invoicing's scrape opened one incident")
}
