//go:build !servicesonly

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/auth/authtest"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/sloreport/review"
)

// startCollector runs `estate collector` in process on loopback ports,
// trusting the development issuer, and returns its API's URL and the
// issuer; it stops when the test ends.
func startCollector(t *testing.T) (string, *authtest.Issuer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	dataDir := t.TempDir()
	args := []string{"estate", "collector", "--data-dir", dataDir, "--log.level=warn", "--auth.dev"}
	for _, a := range loopbackArgs() {
		if strings.HasPrefix(a, "--collector.") {
			args = append(args, a)
		}
	}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, noEnv, strings.NewReader(""), &out, &errOut) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err, "stderr: %s", errOut.String())
		case <-time.After(30 * time.Second):
			t.Error("the collector did not stop within 30 s of cancel")
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "collector" {
				return f[1], authtest.Open(t, filepath.Join(dataDir, "dev-issuer"))
			}
		}
		select {
		case err := <-done:
			t.Fatalf("the collector stopped early: %v\nstderr: %s", err, errOut.String())
		case <-time.After(50 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "the collector did not print its URL; stdout: %q", out.String())
	}
}

// postEvents sends events to the collector's events API as one batch.
func postEvents(t *testing.T, api, token string, events ...metrics.Event) {
	t.Helper()
	body, err := json.Marshal(events)
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, api+"/v1/events", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/cloudevents-batch+json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Less(t, resp.StatusCode, 300)
}

// TestIncidentShow asks a collector running in process for the review of
// an incident, in each format, through `estate incident show`.
func TestIncidentShow(t *testing.T) {
	api, iss := startCollector(t)
	reader := iss.Token(t, "oncall", auth.RoleObservabilityRead)
	base := time.Now().UTC().Truncate(time.Second).Add(-3 * time.Hour)
	ev := func(id string, offset time.Duration, data metrics.Data) metrics.Event {
		return metrics.Event{ID: id, Source: "https://ci.example.com", Time: base.Add(offset), Data: data}
	}
	const incident = "inc/cli-1" // a slash, escaped on the way
	postEvents(t, api, iss.Token(t, "ci", auth.RoleEventsWrite),
		ev("d-1-started", 0, metrics.DeploymentStarted{DeploymentID: "d-1", Service: "invoicing", Environment: "production", Version: "1.0.0"}),
		ev("d-1-succeeded", 4*time.Minute, metrics.DeploymentSucceeded{DeploymentID: "d-1"}),
		ev("inc-opened", 30*time.Minute, metrics.IncidentOpened{IncidentID: incident, Service: "invoicing", Environment: "production", Severity: "critical", CauseDeploymentID: "d-1"}),
		ev("exp-started", 40*time.Minute, metrics.ChaosStarted{ExperimentID: "exp-cli", Kind: "PodChaos", Target: "invoicing/production"}),
		ev("exp-finished", 50*time.Minute, metrics.ChaosFinished{ExperimentID: "exp-cli", Kind: "PodChaos", Target: "invoicing/production", Outcome: "passed"}),
		ev("d-1-rolled-back", 60*time.Minute, metrics.DeploymentRolledBack{DeploymentID: "d-1", ToVersion: "0.9.0"}),
		ev("inc-resolved", 75*time.Minute, metrics.IncidentResolved{IncidentID: incident}),
		ev("d-9-started", 0, metrics.DeploymentStarted{DeploymentID: "d-9", Service: "credit", Environment: "production", Version: "2.0.0"}),
	)

	t.Run("json", func(t *testing.T) {
		out, errOut, err := runCmd(t, "incident", "show", incident, "--collector", api, "--token", reader, "--format", "json")
		require.NoError(t, err, errOut)
		var got struct {
			Incident struct {
				ID, Service, Cause string
				DurationSeconds    float64 `json:"duration_seconds"`
			}
			Timeline []struct {
				Kind   review.Kind
				Source struct {
					EventID string `json:"event_id"`
				}
			}
		}
		require.NoError(t, json.Unmarshal([]byte(out), &got))
		require.Equal(t, incident, got.Incident.ID)
		require.Equal(t, "deployment d-1", got.Incident.Cause)
		require.Equal(t, 45*60.0, got.Incident.DurationSeconds)
		var fromEvents []string
		for _, e := range got.Timeline {
			if e.Source.EventID != "" {
				fromEvents = append(fromEvents, string(e.Kind)+" "+e.Source.EventID)
			}
		}
		require.Equal(t, []string{
			"deployment_started d-1-started",
			"deployment_succeeded d-1-succeeded",
			"incident_opened inc-opened",
			"chaos_started exp-started",
			"chaos_finished exp-finished",
			"deployment_rolled_back d-1-rolled-back",
			"incident_resolved inc-resolved",
		}, fromEvents, "not credit's d-9")
	})
	t.Run("markdown", func(t *testing.T) {
		// The id after the options, as the usage line allows too.
		out, errOut, err := runCmd(t, "incident", "show", "--format=markdown", "--collector", api, "--token", reader, incident)
		require.NoError(t, err, errOut)
		require.True(t, strings.HasPrefix(out, "# Postmortem: critical incident on invoicing in production, "), out)
		for _, section := range []string{"## Summary", "## Impact", "## Root causes and trigger", "## Detection", "## Resolution", "## Action items", "## Lessons learned", "## Timeline"} {
			require.Contains(t, out, "\n"+section+"\n")
		}
		require.Contains(t, out, "1. deployment d-1 of invoicing 1.0.0, in production since")
		require.Contains(t, out, "| invoicing-availability | 99.9% | 30d rolling |", "the example SLO's burn, read from the embedded store")
	})
	t.Run("text", func(t *testing.T) {
		out, errOut, err := runCmd(t, "incident", "show", incident, "--collector", api, "--token", reader)
		require.NoError(t, err, errOut)
		require.True(t, strings.HasPrefix(out, "Incident "+incident+"\n"), out)
		require.Contains(t, out, "deployment d-1 (invoicing 1.0.0) rolled back to 0.9.0 [event d-1-rolled-back]")
	})
	t.Run("unknown incident", func(t *testing.T) {
		_, _, err := runCmd(t, "incident", "show", "inc-404", "--collector", api, "--token", reader)
		require.EqualError(t, err, `incident show: no incident has the id "inc-404" (404 Not Found)`)
	})
}

func TestIncidentShowRefuses(t *testing.T) {
	down := "http://127.0.0.1:1"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no id", []string{"show"}, "incident show: name the incident: " + incidentUsage},
		{"two ids", []string{"show", "a", "b"}, "incident show: one at a time, not 2 (a, b)"},
		{"unknown format", []string{"show", "a", "--format", "html"}, `incident show: --format must be text, markdown or json, not "html"`},
		{"not a URL", []string{"show", "a", "--collector", "127.0.0.1:8088"}, `incident show: --collector must be an http or https URL such as http://127.0.0.1:8088, not "127.0.0.1:8088"`},
		{"unknown subcommand", []string{"list"}, `incident: unknown subcommand "list" (show)`},
		{"no collector", []string{"show", "a", "--collector", down}, "incident show: the collector at http://127.0.0.1:1 does not answer: dial tcp 127.0.0.1:1: connect: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCmd(t, append([]string{"incident"}, tt.args...)...)
			require.EqualError(t, err, tt.want)
			require.NotContains(t, err.Error(), "\n", "one line")
		})
	}
	_, errOut, err := runCmd(t, "incident")
	require.ErrorIs(t, err, errUsage)
	require.Equal(t, incidentUsage+"\n", errOut)
}
