package alertmanager_test

import (
	"encoding/json"
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

const source = "urn:estate:intake:alertmanager:http://alertmanager.example.com:9093"

var (
	invoicingStart = time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	creditStart    = time.Date(2026, 11, 3, 10, 2, 30, 517_000_000, time.UTC)
)

// decode maps body with o and requires every alert to map.
func decode(t *testing.T, body []byte, o alertmanager.Options) []metrics.Event {
	t.Helper()
	b, err := alertmanager.Decode(body, o)
	require.NoError(t, err)
	require.NoError(t, b.Err())
	return b.Events
}

func TestDecodeFiring(t *testing.T) {
	got := decode(t, read(t, "firing.json"), alertmanager.Options{})
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
	got := decode(t, read(t, "resolved.json"), alertmanager.Options{})
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
	firing := decode(t, read(t, "firing.json"), alertmanager.Options{})
	resolved := decode(t, read(t, "resolved.json"), alertmanager.Options{})
	again := strings.ReplaceAll(string(read(t, "firing.json")), "2026-11-03T10:00:00.000Z", "2026-11-04T08:00:00Z")
	refired := decode(t, []byte(again), alertmanager.Options{})

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
	got := decode(t, []byte(body), alertmanager.Options{
		ServiceLabel: "app", EnvironmentLabel: "env", SeverityLabel: "level", ChaosLabel: "experiment", CauseLabel: "deploy",
	})
	require.Len(t, got, 1)
	require.Empty(t, cmp.Diff(metrics.IncidentOpened{IncidentID: "f1@2026-11-03T10:00:00Z", Service: "invoicing", Environment: "prod",
		Severity: "page", StartedAt: invoicingStart, ChaosExperimentID: "x-1", CauseDeploymentID: "d-9"}, got[0].Data))
	require.Equal(t, "urn:estate:intake:alertmanager", got[0].Source, "no externalURL")
}

// TestDecodeMixedNotification maps a notification whose alerts are good,
// defaulted and bad: every alert that can be mapped is, and each one that
// cannot is rejected alone, as it was sent, with the field at fault.
func TestDecodeMixedNotification(t *testing.T) {
	body := read(t, "mixed.json")
	b, err := alertmanager.Decode(body, alertmanager.Options{Environment: "eu-prod"})
	require.NoError(t, err)
	require.Equal(t, 5, b.Items)

	at := func(s string) time.Time {
		ts, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return ts
	}
	opened := func(fp, start, service, env, severity string) metrics.Event {
		id := fp + "@" + start
		return metrics.Event{ID: "alertmanager/" + id + "/opened", Source: source, Time: at(start),
			Data: metrics.IncidentOpened{IncidentID: id, Service: service, Environment: env, Severity: severity, StartedAt: at(start)}}
	}
	want := []metrics.Event{
		opened("1a30ba71cca2921f", "2026-11-03T10:00:00Z", "invoicing", "production", "critical"),
		// No environment label: the configured environment.
		opened("5b3f1c0e9d2a7a44", "2026-11-03T10:01:00Z", "credit", "eu-prod", "page"),
		// No service label: the job names the service.
		opened("77d1e0f3a9c4b215", "2026-11-03T09:00:00Z", "payments", "staging", "unknown"),
		{ID: "alertmanager/77d1e0f3a9c4b215@2026-11-03T09:00:00Z/resolved", Source: source, Time: at("2026-11-03T09:30:00Z"),
			Data: metrics.IncidentResolved{IncidentID: "77d1e0f3a9c4b215@2026-11-03T09:00:00Z"}},
	}
	require.Empty(t, cmp.Diff(want, b.Events))

	var alerts struct{ Alerts []json.RawMessage }
	require.NoError(t, json.Unmarshal(body, &alerts))
	type rejection struct {
		Item     string
		Raw      json.RawMessage
		Problems []metrics.FieldError
	}
	var got []rejection
	for _, r := range b.Rejected {
		require.ErrorIs(t, r.Err, metrics.ErrInvalid)
		var ie *metrics.InvalidError
		require.ErrorAs(t, r.Err, &ie)
		got = append(got, rejection{r.Item, r.Raw, ie.Problems})
	}
	require.Empty(t, cmp.Diff([]rejection{
		{"alerts[2]", alerts.Alerts[2], []metrics.FieldError{{Field: "alerts[2].labels.service", Message: "is required (or, in its place, labels.job)"}}},
		{"alerts[4]", alerts.Alerts[4], []metrics.FieldError{{Field: "alerts[4].startsAt", Message: "must be an RFC 3339 timestamp"}}},
	}, got))
	require.ErrorContains(t, b.Err(), "alerts[2]: alerts[2].labels.service is required")
}

func TestDecodeDefaultsTheEnvironment(t *testing.T) {
	got := decode(t, read(t, "missing_service_label.json"), alertmanager.Options{})
	require.Len(t, got, 2)
	credit, ok := got[1].Data.(metrics.IncidentOpened)
	require.True(t, ok)
	require.Equal(t, "credit", credit.Service, "from the job label")

	body := `{"version":"4","alerts":[{"status":"firing","fingerprint":"f","startsAt":"2026-11-03T10:00:00Z","labels":{"service":"a"}}]}`
	got = decode(t, []byte(body), alertmanager.Options{})
	require.Equal(t, alertmanager.DefaultEnvironment, got[0].Data.(metrics.IncidentOpened).Environment)
	got = decode(t, []byte(body), alertmanager.Options{Environment: "staging"})
	require.Equal(t, "staging", got[0].Data.(metrics.IncidentOpened).Environment)
}

func TestDecodeRejectsThePayload(t *testing.T) {
	tests := []struct {
		name  string
		body  []byte
		field string
		msg   string
	}{
		{"another version", read(t, "bad_version.json"), "version", `must be "4", not "3"`},
		{"truncated body", read(t, "bad_truncated.json"), "", "is not an Alertmanager webhook payload: unexpected end of JSON input"},
		{"not JSON", []byte("hello"), "", "is not an Alertmanager webhook payload: invalid character 'h' looking for beginning of value"},
		{"alerts not an array", []byte(`{"version":"4","alerts":{}}`), "alerts", "must be an array"},
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

func TestDecodeRejectsAnAlert(t *testing.T) {
	tests := []struct {
		name  string
		alert string
		field string
		msg   string
	}{
		{"no service nor job", `{"status":"firing","fingerprint":"f","startsAt":"2026-11-03T10:00:00Z","labels":{"environment":"b"}}`,
			"alerts[1].labels.service", "is required (or, in its place, labels.job)"},
		{"no fingerprint", `{"status":"firing","startsAt":"2026-11-03T10:00:00Z","labels":{"service":"a","environment":"b"}}`,
			"alerts[1].fingerprint", "is required"},
		{"no startsAt", `{"status":"firing","fingerprint":"f","labels":{"service":"a","environment":"b"}}`,
			"alerts[1].startsAt", "is required"},
		{"resolved without endsAt", `{"status":"resolved","fingerprint":"f","startsAt":"2026-11-03T10:00:00Z","labels":{"service":"a","environment":"b"}}`,
			"alerts[1].endsAt", "is required for a resolved alert"},
		{"odd status", `{"status":"pending","fingerprint":"f","startsAt":"2026-11-03T10:00:00Z","labels":{"service":"a","environment":"b"}}`,
			"alerts[1].status", `must be "firing" or "resolved", not "pending"`},
		{"label that makes a bad event", `{"status":"firing","fingerprint":"f","startsAt":"2026-11-03T10:00:00Z","labels":{"service":" a","environment":"b"}}`,
			"alerts[1]", "does not map to a valid event: data.service must not start or end with white space"},
		{"labels of the wrong type", `{"status":"firing","fingerprint":"f","startsAt":"2026-11-03T10:00:00Z","labels":["service"]}`,
			"alerts[1].labels", "must be an object"},
		{"not an object", `"HighErrorRate"`, "alerts[1]", "must be an object"},
		{"endsAt not a time", `{"status":"resolved","fingerprint":"f","startsAt":"2026-11-03T10:00:00Z","endsAt":"soon","labels":{"service":"a"}}`,
			"alerts[1].endsAt", "must be an RFC 3339 timestamp"},
	}
	good := `{"status":"firing","fingerprint":"g","startsAt":"2026-11-03T09:00:00Z","labels":{"service":"a","environment":"b"}}`
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"version":"4","alerts":[` + good + `,` + tt.alert + `]}`
			b, err := alertmanager.Decode([]byte(body), alertmanager.Options{})
			require.NoError(t, err)
			require.Len(t, b.Events, 1, "the good alert maps")
			require.Equal(t, "alertmanager/g@2026-11-03T09:00:00Z/opened", b.Events[0].ID)
			require.Len(t, b.Rejected, 1)
			require.Equal(t, "alerts[1]", b.Rejected[0].Item)
			require.JSONEq(t, tt.alert, string(b.Rejected[0].Raw))
			var ie *metrics.InvalidError
			require.ErrorAs(t, b.Rejected[0].Err, &ie)
			require.Equal(t, []metrics.FieldError{{Field: tt.field, Message: tt.msg}}, ie.Problems)
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, name := range []string{"firing.json", "resolved.json", "mixed.json", "missing_service_label.json", "bad_version.json", "bad_truncated.json"} {
		f.Add(read(f, name))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := alertmanager.Decode(body, alertmanager.Options{})
		if err != nil {
			require.ErrorIs(t, err, metrics.ErrInvalid)
			return
		}
		require.Equal(t, b.Items, len(b.Rejected)+countAlerts(b.Events), "every alert is mapped or rejected")
		for _, e := range b.Events {
			require.NoError(t, e.Validate())
		}
		for _, r := range b.Rejected {
			require.ErrorIs(t, r.Err, metrics.ErrInvalid)
		}
	})
}

// countAlerts counts the alerts that events come from: each has one
// opened event.
func countAlerts(events []metrics.Event) int {
	n := 0
	for _, e := range events {
		if _, ok := e.Data.(metrics.IncidentOpened); ok {
			n++
		}
	}
	return n
}
