package github_test

import (
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/intake/github"
)

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// TestVerifyDocumentedVector checks Verify against the example of GitHub's
// "Validating webhook deliveries" page: secret "It's a Secret to
// Everybody", payload "Hello, World!".
func TestVerifyDocumentedVector(t *testing.T) {
	const sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	require.NoError(t, github.Verify([]byte("Hello, World!"), sig, "It's a Secret to Everybody"))
	require.Equal(t, sig, github.Sign([]byte("Hello, World!"), "It's a Secret to Everybody"))
}

func TestVerifyRejects(t *testing.T) {
	body := read(t, "deployment_status_success.json")
	good := github.Sign(body, "s3cret")
	require.NoError(t, github.Verify(body, good, "s3cret"))
	tests := map[string]struct {
		body   []byte
		header string
		secret string
	}{
		"no header":        {body, "", "s3cret"},
		"other algorithm":  {body, "sha1=" + good[7:], "s3cret"},
		"not hex":          {body, "sha256=zz", "s3cret"},
		"other secret":     {body, good, "other"},
		"body changed":     {append([]byte(" "), body...), good, "s3cret"},
		"truncated digest": {body, good[:len(good)-2], "s3cret"},
		"no secret set":    {body, github.Sign(body, ""), ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			require.ErrorIs(t, github.Verify(tt.body, tt.header, tt.secret), metrics.ErrSignature)
		})
	}
}

const (
	deployment = "github/Codertocat/Hello-World/145988746"
	source     = "urn:estate:intake:github:https://github.com/Codertocat/Hello-World"
	sha        = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
)

var startedEvent = metrics.Event{
	ID: deployment + "/started", Source: source, Time: time.Date(2019, 5, 15, 15, 20, 53, 0, time.UTC),
	Data: metrics.DeploymentStarted{DeploymentID: deployment, Service: "Hello-World", Environment: "production", Version: sha},
}

func TestDecode(t *testing.T) {
	tests := []struct {
		file string
		want []metrics.Event
	}{
		{"deployment_status_success.json", []metrics.Event{startedEvent, {
			ID: deployment + "/statuses/209916254", Source: source, Time: time.Date(2019, 5, 15, 15, 20, 55, 0, time.UTC),
			Data: metrics.DeploymentSucceeded{DeploymentID: deployment},
		}}},
		{"deployment_status_in_progress.json", []metrics.Event{startedEvent}},
		{"deployment_status_failure.json", []metrics.Event{
			{ID: "github/Codertocat/Hello-World/145988790/started", Source: source, Time: time.Date(2019, 5, 15, 16, 0, 1, 0, time.UTC),
				Data: metrics.DeploymentStarted{DeploymentID: "github/Codertocat/Hello-World/145988790", Service: "Hello-World",
					Environment: "staging", Version: "b3c1d5e7a9f0b2c4d6e8f0a1b3c5d7e9f1a3b5c7"}},
			{ID: "github/Codertocat/Hello-World/145988790/statuses/209916301", Source: source, Time: time.Date(2019, 5, 15, 16, 2, 10, 0, time.UTC),
				Data: metrics.DeploymentFailed{DeploymentID: "github/Codertocat/Hello-World/145988790"}},
		}},
		{"deployment_status_payload_service.json", []metrics.Event{
			{ID: "github/Codertocat/Hello-World/145988800/started", Source: source, Time: time.Date(2019, 5, 15, 16, 58, 0, 0, time.UTC),
				Data: metrics.DeploymentStarted{DeploymentID: "github/Codertocat/Hello-World/145988800", Service: "credit",
					Environment: "production", Version: "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"}},
			{ID: "github/Codertocat/Hello-World/145988800/statuses/209916400", Source: source, Time: time.Date(2019, 5, 15, 17, 0, 30, 0, time.UTC),
				Data: metrics.DeploymentSucceeded{DeploymentID: "github/Codertocat/Hello-World/145988800"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := github.Decode("deployment_status", read(t, tt.file))
			require.NoError(t, err)
			require.Empty(t, cmp.Diff(tt.want, got))
		})
	}
}

func TestDecodeIgnoresOtherEvents(t *testing.T) {
	got, err := github.Decode("ping", read(t, "ping.json"))
	require.NoError(t, err)
	require.Empty(t, got)
	got, err = github.Decode("push", []byte(`not even JSON`))
	require.NoError(t, err)
	require.Empty(t, got)
}

// TestInProgressThenSuccess folds the statuses of one deployment, delivered
// out of order and twice.
func TestInProgressThenSuccess(t *testing.T) {
	var log []metrics.Event
	for _, f := range []string{"deployment_status_success.json", "deployment_status_in_progress.json", "deployment_status_success.json"} {
		evs, err := github.Decode("deployment_status", read(t, f))
		require.NoError(t, err)
		log = append(log, evs...)
	}
	deps, _ := metrics.Fold(log)
	require.Len(t, deps, 1)
	require.True(t, deps[0].Started)
	require.Equal(t, time.Date(2019, 5, 15, 15, 20, 55, 0, time.UTC), deps[0].SucceededAt)
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name  string
		body  []byte
		field string
		msg   string
	}{
		{"truncated", read(t, "bad_truncated.json"), "", "is not a deployment_status payload: unexpected end of JSON input"},
		{"id of the wrong type", read(t, "bad_deployment_id_string.json"), "deployment.id", "must be a number"},
		{"empty object", []byte(`{}`), "deployment.id", "is required"},
		{"unknown state", []byte(`{"deployment_status":{"id":1,"state":"exploded","created_at":"2019-05-15T15:20:55Z"},
			"deployment":{"id":2,"sha":"abc","environment":"production","created_at":"2019-05-15T15:20:53Z"},
			"repository":{"name":"r","full_name":"o/r"}}`), "deployment_status.state", `"exploded" is not a GitHub deployment state`},
		{"no environment", []byte(`{"deployment_status":{"id":1,"state":"success","created_at":"2019-05-15T15:20:55Z"},
			"deployment":{"id":2,"sha":"abc","created_at":"2019-05-15T15:20:53Z"},
			"repository":{"name":"r","full_name":"o/r"}}`), "deployment.environment", "is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := github.Decode("deployment_status", tt.body)
			var ie *metrics.InvalidError
			require.ErrorAs(t, err, &ie, "%v", err)
			require.Equal(t, []metrics.FieldError{{Field: tt.field, Message: tt.msg}}, ie.Problems)
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, name := range []string{"deployment_status_success.json", "deployment_status_in_progress.json", "deployment_status_failure.json",
		"deployment_status_payload_service.json", "ping.json", "bad_truncated.json", "bad_deployment_id_string.json"} {
		f.Add(read(f, name))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := github.Decode("deployment_status", body)
		if err != nil {
			require.ErrorIs(t, err, metrics.ErrInvalid)
			return
		}
		for _, e := range events {
			require.NoError(t, e.Validate())
		}
		// Whatever the body, verification never panics and a wrong
		// signature never passes.
		require.ErrorIs(t, github.Verify(body, "sha256=00", "s"), metrics.ErrSignature)
	})
}

// form encodes payload as GitHub sends a form-encoded delivery.
func form(payload []byte) []byte {
	return []byte(url.Values{"payload": {string(payload)}}.Encode())
}

func TestPayload(t *testing.T) {
	body := read(t, "deployment_status_success.json")
	got, err := github.Payload("application/json", body)
	require.NoError(t, err)
	require.Equal(t, body, got, "a JSON delivery is its payload")

	got, err = github.Payload(github.FormContentType, form(body))
	require.NoError(t, err)
	require.Equal(t, body, got)
	events, err := github.Decode("deployment_status", got)
	require.NoError(t, err)
	require.Len(t, events, 2)

	tests := map[string]struct {
		body  string
		field string
		msg   string
	}{
		"no payload field": {"action=created", "payload", "is required in a form-encoded delivery"},
		"twice":            {"payload=%7B%7D&payload=%7B%7D", "payload", "must be sent once, not 2 times"},
		"bad escape":       {"payload=%7", "", "is not a valid application/x-www-form-urlencoded body"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := github.Payload(github.FormContentType, []byte(tt.body))
			var ie *metrics.InvalidError
			require.ErrorAs(t, err, &ie)
			require.Equal(t, []metrics.FieldError{{Field: tt.field, Message: tt.msg}}, ie.Problems)
		})
	}
}

// TestVerifyFormDelivery: GitHub signs a form-encoded delivery's body as it
// is sent, not the JSON inside it.
func TestVerifyFormDelivery(t *testing.T) {
	body := form(read(t, "deployment_status_success.json"))
	require.NoError(t, github.Verify(body, github.Sign(body, "s3cret"), "s3cret"))
	payload, err := github.Payload(github.FormContentType, body)
	require.NoError(t, err)
	require.ErrorIs(t, github.Verify(body, github.Sign(payload, "s3cret"), "s3cret"), metrics.ErrSignature)
}

// FuzzPayload: any form body decodes or is an invalid-payload error, and any
// payload, form-encoded, comes back as it was.
func FuzzPayload(f *testing.F) {
	f.Add([]byte("payload=%7B%22zen%22%3A%22Keep+it+logically+awesome.%22%7D"), []byte(`{"zen":"hi"}`))
	f.Add([]byte("payload=%7"), []byte("\x00"))
	f.Add([]byte("a=1;b=2&payload="), []byte(""))
	f.Add(form(read(f, "deployment_status_success.json")), read(f, "ping.json"))
	f.Fuzz(func(t *testing.T, body, payload []byte) {
		if _, err := github.Payload(github.FormContentType, body); err != nil {
			require.ErrorIs(t, err, metrics.ErrInvalid)
		}
		got, err := github.Payload(github.FormContentType, form(payload))
		require.NoError(t, err)
		require.Equal(t, string(payload), string(got))
	})
}
