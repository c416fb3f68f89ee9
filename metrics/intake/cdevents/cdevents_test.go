package cdevents_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/intake/cdevents"
)

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

const (
	deployed = "cdevents//argocd/estate/271069a8-fc18-44f1-b38f-9d70a1695819"
	upgraded = "cdevents//argocd/estate/5f0c8a3e-2b1d-4c7e-9a6f-3d2e1c0b9a87"
	v1       = "pkg:oci/invoicing@sha256%3A0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427?repository_url=ghcr.io/estatehq/invoicing"
	v2       = "pkg:oci/invoicing@sha256%3A7d865e959b2466918c9863afca942d0fb89d7c9ac0c99bafc3749504ded97730?repository_url=ghcr.io/estatehq/invoicing"
)

func TestKind(t *testing.T) {
	for in, want := range map[string]string{
		"dev.cdevents.service.deployed.0.2.0":       "service.deployed",
		"dev.cdevents.incident.reported.0.3.0":      "incident.reported",
		"dev.cdevents.service.deployed.0.1.0-draft": "service.deployed",
		"dev.cdevents.service":                      "",
		"dev.cdevents.service.deployed":             "",
		"com.example.service.deployed.0.1.0":        "",
		"":                                          "",
	} {
		require.Equal(t, want, cdevents.Kind(in), in)
	}
}

func TestDecode(t *testing.T) {
	deployedAt := time.Date(2026, 11, 3, 14, 27, 5, 315384000, time.UTC)
	upgradedAt := time.Date(2026, 11, 4, 9, 12, 44, 100_000_000, time.UTC)
	tests := []struct {
		file string
		want []metrics.Event
	}{
		{"service_deployed.json", []metrics.Event{
			{ID: deployed + "/started", Source: "urn:estate:intake:cdevents:/argocd/estate", Time: deployedAt, Data: metrics.DeploymentStarted{
				DeploymentID: deployed, Service: "invoicing", Environment: "production", Version: v1}},
			{ID: deployed + "/succeeded", Source: "urn:estate:intake:cdevents:/argocd/estate", Time: deployedAt, Data: metrics.DeploymentSucceeded{DeploymentID: deployed}},
		}},
		{"service_upgraded.json", []metrics.Event{
			{ID: upgraded + "/started", Source: "urn:estate:intake:cdevents:/argocd/estate", Time: upgradedAt, Data: metrics.DeploymentStarted{
				DeploymentID: upgraded, Service: "invoicing", Environment: "production", Version: v2}},
			{ID: upgraded + "/succeeded", Source: "urn:estate:intake:cdevents:/argocd/estate", Time: upgradedAt, Data: metrics.DeploymentSucceeded{DeploymentID: upgraded}},
		}},
		{"service_deployed_v0.3.json", []metrics.Event{
			{ID: "cdevents//argocd/estate/2f8c1a7e-0d3b-4e6a-9c5f-1b2a3c4d5e6f/started", Source: "urn:estate:intake:cdevents:/argocd/estate",
				Time: time.Date(2026, 11, 5, 8, 0, 0, 0, time.UTC), Data: metrics.DeploymentStarted{
					DeploymentID: "cdevents//argocd/estate/2f8c1a7e-0d3b-4e6a-9c5f-1b2a3c4d5e6f", Service: "credit", Environment: "production",
					Version: "pkg:oci/credit@sha256%3A4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d"}},
			{ID: "cdevents//argocd/estate/2f8c1a7e-0d3b-4e6a-9c5f-1b2a3c4d5e6f/succeeded", Source: "urn:estate:intake:cdevents:/argocd/estate",
				Time: time.Date(2026, 11, 5, 8, 0, 0, 0, time.UTC), Data: metrics.DeploymentSucceeded{
					DeploymentID: "cdevents//argocd/estate/2f8c1a7e-0d3b-4e6a-9c5f-1b2a3c4d5e6f"}},
		}},
		{"incident_detected.json", []metrics.Event{
			{ID: "cdevents//monitoring/prod1/F4BD2B55-B6F6-4F44-AF72-BD2D0E7A8708", Source: "urn:estate:intake:cdevents:/monitoring/prod1",
				Time: time.Date(2026, 11, 4, 9, 30, 20, 79_000_000, time.UTC), Data: metrics.IncidentOpened{
					IncidentID: "incident-123", Service: "invoicing", Environment: "production", Severity: "critical"}},
		}},
		{"incident_reported.json", []metrics.Event{
			{ID: "cdevents//ticketing/jira/0C1D2E3F-4A5B-4C6D-8E7F-9A0B1C2D3E4F", Source: "urn:estate:intake:cdevents:/ticketing/jira",
				Time: time.Date(2026, 11, 4, 9, 33, 0, 0, time.UTC), Data: metrics.IncidentOpened{
					IncidentID: "incident-123", Service: "invoicing", Environment: "production", Severity: "unknown"}},
		}},
		{"incident_resolved.json", []metrics.Event{
			{ID: "cdevents//monitoring/prod1/A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D", Source: "urn:estate:intake:cdevents:/monitoring/prod1",
				Time: time.Date(2026, 11, 4, 10, 5, 0, 0, time.UTC), Data: metrics.IncidentResolved{IncidentID: "incident-123"}},
		}},
		{"pipelinerun_finished.json", nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := cdevents.Decode(context.Background(), read(t, tt.file), cdevents.Options{})
			require.NoError(t, err)
			require.Empty(t, cmp.Diff(tt.want, got))
		})
	}
}

// TestRollbackFindsTheLiveDeployment plays the sample deployment, upgrade
// and rollback through a fold, as the HTTP handler does with the store.
func TestRollbackFindsTheLiveDeployment(t *testing.T) {
	ctx := context.Background()
	var log []metrics.Event
	live := func(_ context.Context, service, env string, at time.Time) (string, error) {
		deps, _ := metrics.Fold(log)
		d, err := metrics.LiveDeployment(deps, service, env, at)
		return d.ID, err
	}
	opts := cdevents.Options{LiveDeployment: live}

	// Before any deployment: nothing to roll back.
	_, err := cdevents.Decode(ctx, read(t, "service_rolledback.json"), opts)
	require.ErrorIs(t, err, metrics.ErrNotFound)

	for _, f := range []string{"service_deployed.json", "service_upgraded.json"} {
		evs, err := cdevents.Decode(ctx, read(t, f), opts)
		require.NoError(t, err)
		log = append(log, evs...)
	}
	got, err := cdevents.Decode(ctx, read(t, "service_rolledback.json"), opts)
	require.NoError(t, err)
	require.Empty(t, cmp.Diff([]metrics.Event{{
		ID: "cdevents//argocd/estate/9b7e6d5c-4a3b-4c2d-8e1f-0a9b8c7d6e5f", Source: "urn:estate:intake:cdevents:/argocd/estate",
		Time: time.Date(2026, 11, 4, 9, 40, 0, 0, time.UTC),
		Data: metrics.DeploymentRolledBack{DeploymentID: upgraded, ToVersion: v1},
	}}, got))

	_, err = cdevents.Decode(ctx, read(t, "service_rolledback.json"), cdevents.Options{})
	require.ErrorIs(t, err, metrics.ErrNotFound, "without a way to find the live deployment")
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name  string
		body  []byte
		field string
		msg   string
	}{
		{"truncated", read(t, "bad_truncated.json"), "", "is not a CDEvent: unexpected end of JSON input"},
		{"no environment", read(t, "bad_no_environment.json"), "subject.content.environment.id", "is required"},
		{"incident without service", read(t, "bad_incident_no_service.json"), "subject.content.service.id", "is required to attribute the incident"},
		{"not a CDEvents type", []byte(`{"context":{"type":"com.example.deploy"}}`), "context.type", `"com.example.deploy" is not a CDEvents type`},
		{"no type", []byte(`{"context":{}}`), "context.type", "is required"},
		{"no timestamp", []byte(`{"context":{"id":"1","source":"s","type":"dev.cdevents.incident.resolved.0.2.0"},"subject":{"id":"i"}}`),
			"context.timestamp", "is required"},
		{"id of the wrong type", []byte(`{"context":{"id":7}}`), "context.id", "must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cdevents.Decode(context.Background(), tt.body, cdevents.Options{})
			var ie *metrics.InvalidError
			require.ErrorAs(t, err, &ie, "%v", err)
			require.Equal(t, []metrics.FieldError{{Field: tt.field, Message: tt.msg}}, ie.Problems)
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, name := range []string{"service_deployed.json", "service_upgraded.json", "service_rolledback.json", "service_deployed_v0.3.json",
		"incident_detected.json", "incident_reported.json", "incident_resolved.json", "pipelinerun_finished.json",
		"bad_truncated.json", "bad_no_environment.json", "bad_incident_no_service.json"} {
		f.Add(read(f, name))
	}
	live := func(context.Context, string, string, time.Time) (string, error) { return "d-live", nil }
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := cdevents.Decode(context.Background(), body, cdevents.Options{LiveDeployment: live})
		if err != nil {
			require.ErrorIs(t, err, metrics.ErrInvalid)
			return
		}
		for _, e := range events {
			require.NoError(t, e.Validate())
		}
	})
}
