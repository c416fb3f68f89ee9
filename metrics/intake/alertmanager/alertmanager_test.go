package alertmanager_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/intake/alertmanager"
)

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

const source = "http://alertmanager.example.com:9093"

var (
	invoicingStart = time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	creditStart    = time.Date(2026, 11, 3, 10, 2, 30, 517_000_000, time.UTC)
)

func TestDecodeFiring(t *testing.T) {
	got, err := alertmanager.Decode(read(t, "firing.json"), alertmanager.Options{})
	require.NoError(t, err)
	want := []metrics.Event{
		{ID: "alertmanager/1a30ba71cca2921f@2026-11-03T10:00:00Z/opened", Source: source, Time: invoicingStart,
			Data: metrics.IncidentOpened{IncidentID: "1a30ba71cca2921f@2026-11-03T10:00:00Z", Service: "invoicing",
				Environment: "production", Severity: "critical", StartedAt: invoicingStart}},
		// No severity label: "unknown".
		{ID: "alertmanager/c6eadffa33fcdf37@2026-11-03T10:02:30.517Z/opened", Source: source, Time: creditStart,
			Data: metrics.IncidentOpened{IncidentID: "c6eadffa33fcdf37@2026-11-03T10:02:30.517Z", Service: "credit",
				Environment: "production", Severity: "unknown", StartedAt: creditStart}},
	}
	require.Empty(t, cmp.Diff(want, got))
}

func TestDecodeResolved(t *testing.T) {
	got, err := alertmanager.Decode(read(t, "resolved.json"), alertmanager.Options{})
	require.NoError(t, err)
	incident := "1a30ba71cca2921f@2026-11-03T10:00:00Z"
	want := []metrics.Event{
		// The same opened event as the firing notification's: a duplicate
		// when both arrive, the opener when only this one does.
		{ID: "alertmanager/" + incident + "/opened", Source: source, Time: invoicingStart,
			Data: metrics.IncidentOpened{IncidentID: incident, Service: "invoicing",
				Environment: "production", Severity: "critical", StartedAt: invoicingStart}},
		{ID: "alertmanager/" + incident + "/resolved", Source: source, Time: invoicingStart.Add(45 * time.Minute),
			Data: metrics.IncidentResolved{IncidentID: incident}},
	}
	require.Empty(t, cmp.Diff(want, got))
}

// TestFiringThenResolvedThenFiringAgain folds a whole alert lifecycle,
// repeats and a second firing of the same alert included.
func TestFiringThenResolvedThenFiringAgain(t *testing.T) {
	firing, err := alertmanager.Decode(read(t, "firing.json"), alertmanager.Options{})
	require.NoError(t, err)
	resolved, err := alertmanager.Decode(read(t, "resolved.json"), alertmanager.Options{})
	require.NoError(t, err)
	again := strings.ReplaceAll(string(read(t, "firing.json")), "2026-11-03T10:00:00.000Z", "2026-11-04T08:00:00Z")
	refired, err := alertmanager.Decode([]byte(again), alertmanager.Options{})
	require.NoError(t, err)

	var log []metrics.Event
	log = append(log, resolved...)
	log = append(log, firing...)
	log = append(log, firing...) // repeat_interval
	log = append(log, refired...)
	_, incs := metrics.Fold(log)
	require.Len(t, incs, 3)
	require.Equal(t, "1a30ba71cca2921f@2026-11-03T10:00:00Z", incs[0].ID)
	require.Equal(t, invoicingStart.Add(45*time.Minute), incs[0].ResolvedAt)
	require.Equal(t, "1a30ba71cca2921f@2026-11-04T08:00:00Z", incs[1].ID)
	require.False(t, incs[1].Resolved())
	require.Equal(t, "c6eadffa33fcdf37@2026-11-03T10:02:30.517Z", incs[2].ID)
}

func TestOptionsNameTheLabels(t *testing.T) {
	body := `{"version":"4","status":"firing","alerts":[{"status":"firing","fingerprint":"f1","startsAt":"2026-11-03T10:00:00Z",
		"labels":{"app":"invoicing","env":"prod","level":"page","experiment":"x-1","deploy":"d-9"}}]}`
	got, err := alertmanager.Decode([]byte(body), alertmanager.Options{
		ServiceLabel: "app", EnvironmentLabel: "env", SeverityLabel: "level", ChaosLabel: "experiment", CauseLabel: "deploy",
	})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Empty(t, cmp.Diff(metrics.IncidentOpened{IncidentID: "f1@2026-11-03T10:00:00Z", Service: "invoicing", Environment: "prod",
		Severity: "page", StartedAt: invoicingStart, ChaosExperimentID: "x-1", CauseDeploymentID: "d-9"}, got[0].Data))
	require.Equal(t, "alertmanager", got[0].Source, "no externalURL")
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name  string
		body  []byte
		field string
		msg   string
	}{
		{"missing service label", read(t, "bad_missing_service_label.json"), "alerts[1].labels.service", "is required"},
		{"another version", read(t, "bad_version.json"), "version", `must be "4", not "3"`},
		{"truncated body", read(t, "bad_truncated.json"), "", "is not an Alertmanager webhook payload: unexpected end of JSON input"},
		{"not JSON", []byte("hello"), "", "is not an Alertmanager webhook payload: invalid character 'h' looking for beginning of value"},
		{"no fingerprint", []byte(`{"version":"4","alerts":[{"status":"firing","startsAt":"2026-11-03T10:00:00Z","labels":{"service":"a","environment":"b"}}]}`),
			"alerts[0].fingerprint", "is required"},
		{"no startsAt", []byte(`{"version":"4","alerts":[{"status":"firing","fingerprint":"f","labels":{"service":"a","environment":"b"}}]}`),
			"alerts[0].startsAt", "is required"},
		{"resolved without endsAt", []byte(`{"version":"4","alerts":[{"status":"resolved","fingerprint":"f","startsAt":"2026-11-03T10:00:00Z","labels":{"service":"a","environment":"b"}}]}`),
			"alerts[0].endsAt", "is required for a resolved alert"},
		{"odd status", []byte(`{"version":"4","alerts":[{"status":"pending","fingerprint":"f","startsAt":"2026-11-03T10:00:00Z","labels":{"service":"a","environment":"b"}}]}`),
			"alerts[0].status", `must be "firing" or "resolved", not "pending"`},
		{"label that makes a bad event", []byte(`{"version":"4","alerts":[{"status":"firing","fingerprint":"f","startsAt":"2026-11-03T10:00:00Z","labels":{"service":" a","environment":"b"}}]}`),
			"alerts[0]", "does not map to a valid event: data.service must not start or end with white space"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := alertmanager.Decode(tt.body, alertmanager.Options{})
			require.ErrorIs(t, err, metrics.ErrInvalid)
			var ie *metrics.InvalidError
			require.ErrorAs(t, err, &ie)
			require.Equal(t, []metrics.FieldError{{Field: tt.field, Message: tt.msg}}, ie.Problems)
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, name := range []string{"firing.json", "resolved.json", "bad_missing_service_label.json", "bad_version.json", "bad_truncated.json"} {
		f.Add(read(f, name))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := alertmanager.Decode(body, alertmanager.Options{})
		if err != nil {
			require.ErrorIs(t, err, metrics.ErrInvalid)
			return
		}
		for _, e := range events {
			require.NoError(t, e.Validate())
		}
	})
}
