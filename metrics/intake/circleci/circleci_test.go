package circleci_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/intake/circleci"
)

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func TestVerify(t *testing.T) {
	body := read(t, "workflow_completed_success.json")
	good := circleci.Sign(body, "s3cret")
	require.Regexp(t, `^v1=[0-9a-f]{64}$`, good)
	require.NoError(t, circleci.Verify(body, good, "s3cret"))
	// A list of signatures, as CircleCI will send while rotating versions.
	require.NoError(t, circleci.Verify(body, "v2=abcdef, "+good, "s3cret"))
	require.NoError(t, circleci.Verify(body, "v1=00,"+good, "s3cret"))

	tests := map[string]struct {
		header string
		secret string
		body   []byte
	}{
		"no header":       {"", "s3cret", body},
		"no v1":           {"v2=" + good[3:], "s3cret", body},
		"not hex":         {"v1=xyz", "s3cret", body},
		"other secret":    {good, "other", body},
		"body changed":    {good, "s3cret", append(body, ' ')},
		"no secret set":   {circleci.Sign(body, ""), "", body},
		"bare hex digest": {good[3:], "s3cret", body},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			require.ErrorIs(t, circleci.Verify(tt.body, tt.header, tt.secret), metrics.ErrSignature)
		})
	}
}

const source = "urn:estate:intake:circleci:https://circleci.com/github/circleci/webhook-service"

func TestDecode(t *testing.T) {
	tests := []struct {
		file string
		opts circleci.Options
		want []metrics.Event
	}{
		{"workflow_completed_success.json", circleci.Options{}, []metrics.Event{
			{ID: "circleci/fda08377-fe7e-46b1-8992-3a7aaecac9c3/started", Source: source,
				Time: time.Date(2021, 9, 1, 22, 49, 3, 616_000_000, time.UTC),
				Data: metrics.DeploymentStarted{DeploymentID: "circleci/fda08377-fe7e-46b1-8992-3a7aaecac9c3", Service: "webhook-service",
					Environment: "production", Version: "1dc6aa69429bff4806ad6afe58d3d8f57e25973e",
					Commits: []metrics.Commit{{SHA: "1dc6aa69429bff4806ad6afe58d3d8f57e25973e", CommittedAt: time.Date(2021, 9, 1, 22, 48, 53, 0, time.UTC)}}}},
			{ID: "circleci/fda08377-fe7e-46b1-8992-3a7aaecac9c3/success", Source: source,
				Time: time.Date(2021, 9, 1, 22, 49, 34, 170_000_000, time.UTC),
				Data: metrics.DeploymentSucceeded{DeploymentID: "circleci/fda08377-fe7e-46b1-8992-3a7aaecac9c3"}},
		}},
		{"workflow_completed_failed.json", circleci.Options{DeployPattern: regexp.MustCompile(`^deploy-(?P<environment>[a-z]+)$`)}, []metrics.Event{
			{ID: "circleci/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d/started", Source: source,
				Time: time.Date(2021, 9, 2, 10, 12, 0, 0, time.UTC),
				Data: metrics.DeploymentStarted{DeploymentID: "circleci/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", Service: "webhook-service",
					Environment: "staging", Version: "1dc6aa69429bff4806ad6afe58d3d8f57e25973e",
					Commits: []metrics.Commit{{SHA: "1dc6aa69429bff4806ad6afe58d3d8f57e25973e", CommittedAt: time.Date(2021, 9, 1, 22, 48, 53, 0, time.UTC)}}}},
			{ID: "circleci/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d/failed", Source: source,
				Time: time.Date(2021, 9, 2, 10, 15, 39, 880_000_000, time.UTC),
				Data: metrics.DeploymentFailed{DeploymentID: "circleci/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"}},
		}},
		{"workflow_completed_gitlab.json", circleci.Options{Environment: "prod"}, []metrics.Event{
			{ID: "circleci/5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9/started", Source: "urn:estate:intake:circleci:https://circleci.com/circleci/GgEBCtNxyj3iY6MqUA5u2R/5Q3qM2mDymJ7z4GnxMtDBy",
				Time: time.Date(2021, 9, 1, 22, 49, 3, 616_000_000, time.UTC),
				Data: metrics.DeploymentStarted{DeploymentID: "circleci/5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9", Service: "invoicing",
					Environment: "prod", Version: "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b",
					Commits: []metrics.Commit{{SHA: "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b", CommittedAt: time.Date(2021, 9, 1, 22, 40, 0, 0, time.UTC)}}}},
			{ID: "circleci/5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9/success", Source: "urn:estate:intake:circleci:https://circleci.com/circleci/GgEBCtNxyj3iY6MqUA5u2R/5Q3qM2mDymJ7z4GnxMtDBy",
				Time: time.Date(2021, 9, 1, 22, 49, 34, 170_000_000, time.UTC),
				Data: metrics.DeploymentSucceeded{DeploymentID: "circleci/5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"}},
		}},
		{"workflow_completed_not_a_deploy.json", circleci.Options{}, nil},
		{"job_completed.json", circleci.Options{}, nil},
		// A pattern that does not match the sample's workflow name.
		{"workflow_completed_success.json", circleci.Options{DeployPattern: regexp.MustCompile(`^release$`)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := circleci.Decode(read(t, tt.file), tt.opts)
			require.NoError(t, err)
			require.Empty(t, cmp.Diff(tt.want, got))
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name  string
		body  []byte
		field string
		msg   string
	}{
		{"truncated", read(t, "bad_truncated.json"), "", "is not a CircleCI webhook payload: unexpected end of JSON input"},
		{"time as a number", read(t, "bad_created_at_number.json"), "", "is not a CircleCI webhook payload: Time.UnmarshalJSON: input is not a JSON string"},
		{"no type", []byte(`{"id":"x"}`), "type", "is required"},
		{"no workflow", []byte(`{"type":"workflow-completed"}`), "workflow.id", "is required"},
		{"no project", []byte(`{"type":"workflow-completed","workflow":{"id":"w","name":"deploy","status":"success","created_at":"2021-09-01T22:49:03Z","stopped_at":"2021-09-01T22:50:03Z"}}`),
			"project.name", "is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := circleci.Decode(tt.body, circleci.Options{})
			var ie *metrics.InvalidError
			require.ErrorAs(t, err, &ie, "%v", err)
			require.Equal(t, []metrics.FieldError{{Field: tt.field, Message: tt.msg}}, ie.Problems)
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, name := range []string{"workflow_completed_success.json", "workflow_completed_failed.json", "workflow_completed_gitlab.json",
		"workflow_completed_not_a_deploy.json", "job_completed.json", "bad_truncated.json", "bad_created_at_number.json"} {
		f.Add(read(f, name))
	}
	pattern := regexp.MustCompile(`deploy(-(?P<environment>[a-z]*))?`)
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := circleci.Decode(body, circleci.Options{DeployPattern: pattern})
		if err != nil {
			require.ErrorIs(t, err, metrics.ErrInvalid)
			return
		}
		for _, e := range events {
			require.NoError(t, e.Validate())
		}
		require.ErrorIs(t, circleci.Verify(body, "v1=00", "s"), metrics.ErrSignature)
	})
}
