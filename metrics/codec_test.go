package metrics_test

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/metrics"
)

func TestParseEventEveryType(t *testing.T) {
	at := time.Date(2026, 11, 2, 9, 30, 0, 123456789, time.UTC)
	tests := []struct {
		name string
		json string
		want metrics.Event
	}{
		{
			name: "deployment started",
			json: `{"specversion":"1.0","id":"e1","source":"ci","type":"dev.estate.deployment.started","time":"2026-11-02T10:30:00.123456789+01:00",
				"data":{"deployment_id":"d1","service":"invoicing","environment":"production","version":"1.2.3",
				"commits":[{"sha":"abc","committed_at":"2026-11-01T09:30:00Z"}]}}`,
			want: metrics.Event{ID: "e1", Source: "ci", Time: at, Data: metrics.DeploymentStarted{
				DeploymentID: "d1", Service: "invoicing", Environment: "production", Version: "1.2.3",
				Commits: []metrics.Commit{{SHA: "abc", CommittedAt: time.Date(2026, 11, 1, 9, 30, 0, 0, time.UTC)}},
			}},
		},
		{
			name: "deployment started without commits",
			json: `{"specversion":"1.0","id":"e1","source":"ci","type":"dev.estate.deployment.started","time":"2026-11-02T09:30:00.123456789Z",
				"data":{"deployment_id":"d1","service":"invoicing","environment":"production","version":"1.2.3","commits":null}}`,
			want: metrics.Event{ID: "e1", Source: "ci", Time: at, Data: metrics.DeploymentStarted{
				DeploymentID: "d1", Service: "invoicing", Environment: "production", Version: "1.2.3"}},
		},
		{
			name: "deployment succeeded",
			json: `{"specversion":"1.0","id":"e2","source":"ci","type":"dev.estate.deployment.succeeded","time":"2026-11-02T09:30:00.123456789Z","data":{"deployment_id":"d1"}}`,
			want: metrics.Event{ID: "e2", Source: "ci", Time: at, Data: metrics.DeploymentSucceeded{DeploymentID: "d1"}},
		},
		{
			name: "deployment failed",
			json: `{"specversion":"1.0","id":"e3","source":"ci","type":"dev.estate.deployment.failed","time":"2026-11-02T09:30:00.123456789Z","data":{"deployment_id":"d1"}}`,
			want: metrics.Event{ID: "e3", Source: "ci", Time: at, Data: metrics.DeploymentFailed{DeploymentID: "d1"}},
		},
		{
			name: "deployment rolled back",
			json: `{"specversion":"1.0","id":"e4","source":"ci","type":"dev.estate.deployment.rolled_back","time":"2026-11-02T09:30:00.123456789Z","data":{"deployment_id":"d1","to_version":"1.2.2"}}`,
			want: metrics.Event{ID: "e4", Source: "ci", Time: at, Data: metrics.DeploymentRolledBack{DeploymentID: "d1", ToVersion: "1.2.2"}},
		},
		{
			name: "incident opened with every optional field",
			json: `{"specversion":"1.0","id":"e5","source":"am","type":"dev.estate.incident.opened","time":"2026-11-02T09:30:00.123456789Z",
				"data":{"incident_id":"i1","service":"invoicing","environment":"production","severity":"critical",
				"started_at":"2026-11-02T09:00:00Z","cause_deployment_id":"d1","chaos_experiment_id":"x1"}}`,
			want: metrics.Event{ID: "e5", Source: "am", Time: at, Data: metrics.IncidentOpened{
				IncidentID: "i1", Service: "invoicing", Environment: "production", Severity: "critical",
				StartedAt: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC), CauseDeploymentID: "d1", ChaosExperimentID: "x1"}},
		},
		{
			name: "incident resolved, with extension attributes and a subject, which are ignored",
			json: `{"specversion":"1.0","id":"e6","source":"am","type":"dev.estate.incident.resolved","time":"2026-11-02T09:30:00.123456789Z",
				"subject":"i1","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","datacontenttype":"application/json","data":{"incident_id":"i1"}}`,
			want: metrics.Event{ID: "e6", Source: "am", Time: at, Data: metrics.IncidentResolved{IncidentID: "i1"}},
		},
		{
			name: "chaos started",
			json: `{"specversion":"1.0","id":"e7","source":"chaos","type":"dev.estate.chaos.started","time":"2026-11-02T09:30:00.123456789Z",
				"data":{"experiment_id":"x1","kind":"PodChaos","target":"invoicing"}}`,
			want: metrics.Event{ID: "e7", Source: "chaos", Time: at, Data: metrics.ChaosStarted{ExperimentID: "x1", Kind: "PodChaos", Target: "invoicing"}},
		},
		{
			name: "chaos finished",
			json: `{"specversion":"1.0","id":"e8","source":"chaos","type":"dev.estate.chaos.finished","time":"2026-11-02T09:30:00.123456789Z",
				"data":{"experiment_id":"x1","kind":"PodChaos","target":"invoicing","outcome":"passed"}}`,
			want: metrics.Event{ID: "e8", Source: "chaos", Time: at, Data: metrics.ChaosFinished{ExperimentID: "x1", Kind: "PodChaos", Target: "invoicing", Outcome: "passed"}},
		},
		{
			name: "data in base64",
			json: `{"specversion":"1.0","id":"e2","source":"ci","type":"dev.estate.deployment.succeeded","time":"2026-11-02T09:30:00.123456789Z",
				"datacontenttype":"application/json","data_base64":"` + base64.StdEncoding.EncodeToString([]byte(`{"deployment_id":"d1"}`)) + `"}`,
			want: metrics.Event{ID: "e2", Source: "ci", Time: at, Data: metrics.DeploymentSucceeded{DeploymentID: "d1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := metrics.ParseEvent([]byte(tt.json))
			require.NoError(t, err)
			require.Empty(t, cmp.Diff(tt.want, got))
			require.NoError(t, got.Validate())

			// The canonical encoding reads back to the same event.
			b, err := got.MarshalJSON()
			require.NoError(t, err)
			again, err := metrics.ParseEvent(b)
			require.NoError(t, err)
			require.Empty(t, cmp.Diff(got, again))

			// So does the SDK's form of it.
			ce, err := got.CloudEvent()
			require.NoError(t, err)
			fromSDK, err := metrics.FromCloudEvent(ce)
			require.NoError(t, err)
			require.Empty(t, cmp.Diff(got, fromSDK))
		})
	}
}

func TestParseEventNamesTheFieldAtFault(t *testing.T) {
	const ok = `"specversion":"1.0","id":"e1","source":"ci","time":"2026-11-02T09:30:00Z"`
	tests := []struct {
		name string
		json string
		want []metrics.FieldError
	}{
		{"not JSON", `{"id":`, []metrics.FieldError{{Message: "is not valid JSON: unexpected end of JSON input"}}},
		{"not an object", `[1,2]`, []metrics.FieldError{{Message: "must be a JSON object (a CloudEvent in structured mode)"}}},
		{"no specversion", `{"id":"e1","source":"ci","type":"dev.estate.deployment.failed","time":"2026-11-02T09:30:00Z","data":{"deployment_id":"d"}}`,
			[]metrics.FieldError{{"specversion", "is required"}}},
		{"old specversion", `{"specversion":"0.3","id":"e1","source":"ci","type":"dev.estate.deployment.failed","time":"2026-11-02T09:30:00Z","data":{"deployment_id":"d"}}`,
			[]metrics.FieldError{{"specversion", `must be "1.0", not "0.3"`}}},
		{"unknown specversion", `{"specversion":"9","id":"e1","source":"ci","type":"dev.estate.deployment.failed","time":"2026-11-02T09:30:00Z","data":{"deployment_id":"d"}}`,
			[]metrics.FieldError{{"specversion", `must be "1.0", not "9"`}}},
		{"no id", `{"specversion":"1.0","source":"ci","type":"dev.estate.deployment.failed","time":"2026-11-02T09:30:00Z","data":{"deployment_id":"d"}}`,
			[]metrics.FieldError{{"id", "is required"}}},
		{"no source, no id", `{"specversion":"1.0","type":"dev.estate.deployment.failed","time":"2026-11-02T09:30:00Z","data":{"deployment_id":"d"}}`,
			[]metrics.FieldError{{"id", "is required"}, {"source", "is required"}}},
		{"unknown type", `{` + ok + `,"type":"com.example.deploy","data":{}}`,
			[]metrics.FieldError{{"type", `"com.example.deploy" is not an Estate event type (want one of dev.estate.deployment.started, dev.estate.deployment.succeeded, dev.estate.deployment.failed, dev.estate.deployment.rolled_back, dev.estate.incident.opened, dev.estate.incident.resolved, dev.estate.chaos.started, dev.estate.chaos.finished, dev.estate.chaos.action, dev.estate.deployment.analysed, dev.estate.deployment.rollback_recommended, dev.estate.deployment.rollback_hook_called)`}}},
		{"no time", `{"specversion":"1.0","id":"e1","source":"ci","type":"dev.estate.deployment.failed","data":{"deployment_id":"d"}}`,
			[]metrics.FieldError{{"time", "is required"}}},
		{"bad time", `{"specversion":"1.0","id":"e1","source":"ci","type":"dev.estate.deployment.failed","time":"yesterday","data":{"deployment_id":"d"}}`,
			[]metrics.FieldError{{"time", "must be an RFC 3339 timestamp"}}},
		{"id not a string", `{"specversion":"1.0","id":7,"source":"ci","type":"dev.estate.deployment.failed","time":"2026-11-02T09:30:00Z","data":{"deployment_id":"d"}}`,
			[]metrics.FieldError{{"id", "must be a string"}}},
		{"not JSON data", `{` + ok + `,"type":"dev.estate.deployment.failed","datacontenttype":"text/plain","data":"d1"}`,
			[]metrics.FieldError{{"datacontenttype", `must be application/json, not "text/plain"`}}},
		{"no data", `{` + ok + `,"type":"dev.estate.deployment.failed"}`,
			[]metrics.FieldError{{"data", "is required"}}},
		{"data not an object", `{` + ok + `,"type":"dev.estate.deployment.failed","data":[1]}`,
			[]metrics.FieldError{{"data", "must be a JSON object"}}},
		{"data null", `{` + ok + `,"type":"dev.estate.deployment.failed","data":null}`,
			[]metrics.FieldError{{"data", "must be a JSON object"}}},
		{"missing deployment id", `{` + ok + `,"type":"dev.estate.deployment.succeeded","data":{}}`,
			[]metrics.FieldError{{"data.deployment_id", "is required"}}},
		{"blank deployment id", `{` + ok + `,"type":"dev.estate.deployment.succeeded","data":{"deployment_id":"  "}}`,
			[]metrics.FieldError{{"data.deployment_id", "must not be blank"}}},
		{"padded deployment id", `{` + ok + `,"type":"dev.estate.deployment.succeeded","data":{"deployment_id":" d1"}}`,
			[]metrics.FieldError{{"data.deployment_id", "must not start or end with white space"}}},
		{"huge deployment id", `{` + ok + `,"type":"dev.estate.deployment.succeeded","data":{"deployment_id":"` + strings.Repeat("x", 1025) + `"}}`,
			[]metrics.FieldError{{"data.deployment_id", "must be at most 1024 bytes"}}},
		{"wrong type and missing fields together", `{` + ok + `,"type":"dev.estate.deployment.started","data":{"deployment_id":42,"service":"s"}}`,
			[]metrics.FieldError{{"data.deployment_id", "must be a string"}, {"data.environment", "is required"}, {"data.version", "is required"}}},
		{"unknown field", `{` + ok + `,"type":"dev.estate.incident.opened","data":{"incident_id":"i","service":"s","environment":"e","severity":"p1","cause_deployment":"d1"}}`,
			[]metrics.FieldError{{"data.cause_deployment", "is not a known field"}}},
		{"empty optional field", `{` + ok + `,"type":"dev.estate.incident.opened","data":{"incident_id":"i","service":"s","environment":"e","severity":"p1","cause_deployment_id":""}}`,
			[]metrics.FieldError{{"data.cause_deployment_id", "must not be empty when present"}}},
		{"bad started_at", `{` + ok + `,"type":"dev.estate.incident.opened","data":{"incident_id":"i","service":"s","environment":"e","severity":"p1","started_at":"09:00"}}`,
			[]metrics.FieldError{{"data.started_at", "must be an RFC 3339 timestamp"}}},
		{"commits not an array", `{` + ok + `,"type":"dev.estate.deployment.started","data":{"deployment_id":"d","service":"s","environment":"e","version":"v","commits":{}}}`,
			[]metrics.FieldError{{"data.commits", "must be an array"}}},
		{"bad commits", `{` + ok + `,"type":"dev.estate.deployment.started","data":{"deployment_id":"d","service":"s","environment":"e","version":"v",
			"commits":[{"sha":"a","committed_at":"2026-11-01T00:00:00Z"},{"sha":"b"},"c",{"sha":"a","committed_at":"2026-11-01T00:00:00Z","author":"x"}]}}`,
			[]metrics.FieldError{
				{"data.commits[2]", "must be a JSON object"},
				{"data.commits[3].author", "is not a known field"},
				{"data.commits[1].committed_at", "is required"},
				{"data.commits[3].sha", "repeats data.commits[0].sha"},
			}},
		{"chaos finished without outcome", `{` + ok + `,"type":"dev.estate.chaos.finished","data":{"experiment_id":"x","kind":"PodChaos","target":"t"}}`,
			[]metrics.FieldError{{"data.outcome", "is required"}}},
		{"data_base64 not a string (the SDK panics on it)", `{` + ok + `,"type":"dev.estate.deployment.failed","data_base64":5}`,
			[]metrics.FieldError{{"data_base64", "must be a string"}}},
		{"rollback without to_version", `{` + ok + `,"type":"dev.estate.deployment.rolled_back","data":{"deployment_id":"d"}}`,
			[]metrics.FieldError{{"data.to_version", "is required"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := metrics.ParseEvent([]byte(tt.json))
			require.ErrorIs(t, err, metrics.ErrInvalid)
			var ie *metrics.InvalidError
			require.ErrorAs(t, err, &ie)
			require.Empty(t, cmp.Diff(tt.want, ie.Problems))
		})
	}
}

func TestValidateNamesTheFieldAtFault(t *testing.T) {
	err := metrics.Event{Data: metrics.IncidentOpened{IncidentID: "i"}}.Validate()
	require.EqualError(t, err, "id is required; source is required; time is required; data.service is required; data.environment is required; data.severity is required")
	require.EqualError(t, metrics.Event{ID: "x", Source: "s", Time: h(0)}.Validate(), "data is required")
}

func TestReadJSONL(t *testing.T) {
	good := `{"specversion":"1.0","id":"e1","source":"ci","type":"dev.estate.deployment.failed","time":"2026-11-02T09:30:00Z","data":{"deployment_id":"d"}}`
	t.Run("blank lines are skipped, order is kept", func(t *testing.T) {
		in := "\n" + good + "\n\n  \n" + strings.Replace(good, "e1", "e2", 1) + "\n"
		evs, err := metrics.ReadJSONL(strings.NewReader(in))
		require.NoError(t, err)
		require.Len(t, evs, 2)
		require.Equal(t, "e1", evs[0].ID)
		require.Equal(t, "e2", evs[1].ID)
	})
	t.Run("the first bad line is named", func(t *testing.T) {
		in := good + "\n\n" + strings.Replace(good, `"deployment_id":"d"`, `"deployment_id":""`, 1) + "\nnot json\n"
		_, err := metrics.ReadJSONL(strings.NewReader(in))
		var le *metrics.LineError
		require.ErrorAs(t, err, &le)
		require.Equal(t, 3, le.Line)
		require.ErrorIs(t, err, metrics.ErrInvalid)
		require.EqualError(t, err, "line 3: data.deployment_id is required")
	})
	t.Run("a line too long", func(t *testing.T) {
		in := good + "\n" + strings.Repeat(" ", 17<<20) + "x\n"
		_, err := metrics.ReadJSONL(strings.NewReader(in))
		require.EqualError(t, err, "line 2: line longer than 16777216 bytes")
	})
	t.Run("writes what it reads", func(t *testing.T) {
		f, err := os.ReadFile(filepath.Join("testdata", "issue_example.jsonl"))
		require.NoError(t, err)
		evs, err := metrics.ReadJSONL(strings.NewReader(string(f)))
		require.NoError(t, err)
		var b strings.Builder
		require.NoError(t, metrics.WriteJSONL(&b, evs))
		again, err := metrics.ReadJSONL(strings.NewReader(b.String()))
		require.NoError(t, err)
		require.Empty(t, cmp.Diff(evs, again))
	})
}

// TestChaosActionRoundTrips: the audit event of a chaos action is encoded
// as CloudEvents and parsed back whole; it needs its actor.
func TestChaosActionRoundTrips(t *testing.T) {
	e := metrics.Event{ID: "action-1", Source: "urn:estate:chaos", Time: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC),
		Data: metrics.ChaosAction{Action: "halt", Actor: "subject:bob", Status: "200", Remote: "192.0.2.7:5000", ForwardedFor: "198.51.100.1"}}
	b, err := json.Marshal(e)
	require.NoError(t, err)
	got, err := metrics.ParseEvent(b)
	require.NoError(t, err)
	require.Equal(t, e, got)
	require.Equal(t, metrics.TypeChaosAction, got.Type())

	e.Data = metrics.ChaosAction{Action: "halt", Status: "200", Remote: "192.0.2.7:5000"}
	require.ErrorContains(t, e.Validate(), "data.actor")
}

// TestAnalysisEventsRoundTrip: the post-deploy analysis' events are
// encoded as CloudEvents and parsed back whole, the evidence as the
// object it was, and each names its field at fault.
func TestAnalysisEventsRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	evidence := json.RawMessage(`{"after":{"requests":240,"errors":31},"queries":["sum(increase(x[15m] @ 1))"]}`)
	for _, d := range []metrics.Data{
		metrics.DeploymentAnalysed{DeploymentID: "d1", Verdict: metrics.VerdictFailed, Reason: "errors rose", Evidence: evidence},
		metrics.DeploymentAnalysed{DeploymentID: "d1", Verdict: metrics.VerdictInconclusive, Reason: "no traffic"},
		metrics.DeploymentRollbackRecommended{DeploymentID: "d1", Reason: "errors rose", DryRun: true, Evidence: evidence},
		metrics.DeploymentRollbackHookCalled{DeploymentID: "d1", Hook: "github", Outcome: metrics.HookSucceeded, Attempts: 3, Status: 204, Detail: "dispatched"},
		metrics.DeploymentRollbackHookCalled{DeploymentID: "d1", Hook: "argo", Outcome: metrics.HookFailed, Attempts: 1},
	} {
		e := metrics.Event{ID: "a-1", Source: "urn:estate:rollout", Time: at, Data: d}
		b, err := json.Marshal(e)
		require.NoError(t, err)
		got, err := metrics.ParseEvent(b)
		require.NoError(t, err, string(b))
		require.Equal(t, e, got)
		require.Equal(t, "d1", got.Index().DeploymentID)
	}

	for field, d := range map[string]metrics.Data{
		"data.verdict":  metrics.DeploymentAnalysed{DeploymentID: "d1", Verdict: "maybe", Reason: "r"},
		"data.reason":   metrics.DeploymentRollbackRecommended{DeploymentID: "d1"},
		"data.evidence": metrics.DeploymentAnalysed{DeploymentID: "d1", Verdict: "passed", Reason: "r", Evidence: json.RawMessage(`[1]`)},
		"data.outcome":  metrics.DeploymentRollbackHookCalled{DeploymentID: "d1", Hook: "h", Outcome: "done", Attempts: 1},
		"data.attempts": metrics.DeploymentRollbackHookCalled{DeploymentID: "d1", Hook: "h", Outcome: "failed"},
	} {
		e := metrics.Event{ID: "a-1", Source: "urn:estate:rollout", Time: at, Data: d}
		require.ErrorContains(t, e.Validate(), field)
	}

	for field, body := range map[string]string{
		"data.evidence": `{"deployment_id":"d1","verdict":"passed","reason":"r","evidence":"text"}`,
		"data.dry_run":  `{"deployment_id":"d1","reason":"r","dry_run":"yes"}`,
		"data.attempts": `{"deployment_id":"d1","hook":"h","outcome":"failed","attempts":1.5}`,
	} {
		typ := map[string]metrics.Type{"data.evidence": metrics.TypeDeploymentAnalysed, "data.dry_run": metrics.TypeDeploymentRollbackRecommended,
			"data.attempts": metrics.TypeDeploymentRollbackHookCalled}[field]
		raw := `{"specversion":"1.0","id":"a","source":"s","type":"` + string(typ) + `","time":"2026-12-02T09:00:00Z","data":` + body + `}`
		_, err := metrics.ParseEvent([]byte(raw))
		require.ErrorContains(t, err, field, body)
	}
}
