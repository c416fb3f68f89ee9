package metrics_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/metrics"
)

// FuzzParseEvent checks, for any input, that decoding never panics, that a
// rejection is always an invalid-event error, and that whatever is
// accepted is valid and survives its canonical encoding unchanged.
func FuzzParseEvent(f *testing.F) {
	file, err := os.ReadFile(filepath.Join("testdata", "issue_example.jsonl"))
	require.NoError(f, err)
	for _, line := range bytes.Split(bytes.TrimSpace(file), []byte("\n")) {
		f.Add(line)
	}
	for _, seed := range []string{
		`{"specversion":"1.0","id":"e","source":"s","type":"dev.estate.deployment.started","time":"2026-11-02T09:30:00.123456789+01:00","data":{"deployment_id":"d","service":"s","environment":"e","version":"v","commits":[{"sha":"a","committed_at":"2026-11-01T00:00:00Z"}]}}`,
		`{"specversion":"1.0","id":"e","source":"s","type":"dev.estate.deployment.succeeded","time":"2026-11-02T09:30:00Z","datacontenttype":"application/json","data_base64":"eyJkZXBsb3ltZW50X2lkIjoiZDEifQ=="}`,
		`{"specversion":"0.3","id":"e","source":"s","type":"dev.estate.deployment.failed","time":"2026-11-02T09:30:00Z","data":{"deployment_id":"d"}}`,
		`{"specversion":"1.0","id":"e","source":"s","type":"dev.estate.incident.opened","time":"2026-11-02T09:30:00Z","data":{"incident_id":"i","service":"s","environment":"e","severity":"p1","started_at":null,"cause_deployment_id":""}}`,
		`{"specversion":"1.0","id":"e","source":"s","type":"dev.estate.chaos.started","time":"2026-11-02T09:30:00Z","data":{"experiment_id":"x","kind":"k","target":"t","extra":[1,{"a":null}]}}`,
		`{"specversion":"1.0","id":"e","source":"s","type":"dev.estate.deployment.analysed","time":"2026-11-02T09:30:00Z","data":{"deployment_id":"d","verdict":"failed","reason":"r","evidence":{ "a" : [1, "<b>"] }}}`,
		`{"specversion":"1.0","id":"e","source":"s","type":"dev.estate.deployment.rollback_recommended","time":"2026-11-02T09:30:00Z","data":{"deployment_id":"d","reason":"r","dry_run":true,"evidence":null}}`,
		`{"specversion":"1.0","id":"e","source":"s","type":"dev.estate.deployment.rollback_hook_called","time":"2026-11-02T09:30:00Z","data":{"deployment_id":"d","hook":"h","outcome":"failed","attempts":2,"status":503,"detail":"busy"}}`,
		`[]`, `{}`, `null`, `{"data":{}}`, `{"specversion":"1.0"}{"x":1}`,
		// Panicked inside the CloudEvents SDK before unmarshalCloudEvent.
		`{"specversion":"1.0","data_base64":5}`, `{"data_base64":[],"specversion":"1.0"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := metrics.ParseEvent(b)
		if err != nil {
			require.ErrorIs(t, err, metrics.ErrInvalid)
			return
		}
		require.NoError(t, e.Validate())
		enc, err := e.MarshalJSON()
		require.NoError(t, err)
		again, err := metrics.ParseEvent(enc)
		require.NoError(t, err, "%s", enc)
		require.Empty(t, cmp.Diff(e, again))
		// Folding it alone never panics either.
		metrics.Fold([]metrics.Event{e, again})
	})
}

// FuzzReadJSONL checks that any file either reads or fails with a line
// number, never panics.
func FuzzReadJSONL(f *testing.F) {
	file, err := os.ReadFile(filepath.Join("testdata", "issue_example.jsonl"))
	require.NoError(f, err)
	f.Add(file)
	f.Add([]byte("\n\n"))
	f.Add([]byte("{}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		events, err := metrics.ReadJSONL(bytes.NewReader(b))
		if err != nil {
			var le *metrics.LineError
			require.ErrorAs(t, err, &le)
			require.Positive(t, le.Line)
			return
		}
		deps, incs := metrics.Fold(events)
		_, err = metrics.Compute(deps, incs, week(), metrics.Options{})
		require.NoError(t, err)
	})
}
