package metricshttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/internal/problem"
	"github.com/estatehq/estate/internal/problem/problemtest"
	"github.com/estatehq/estate/metrics"
	metricshttp "github.com/estatehq/estate/metrics/http"
	"github.com/estatehq/estate/metrics/intake/circleci"
	"github.com/estatehq/estate/metrics/intake/github"
	"github.com/estatehq/estate/metrics/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	githubSecret   = "It's a Secret to Everybody"
	circleciSecret = "circle-s3cret"
)

var now = time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC)

type env struct {
	t      *testing.T
	store  *sqlite.Store
	server *httptest.Server
	// reg has the intakes' series; deadLetters is their dead-letter folder.
	reg         *prometheus.Registry
	deadLetters string
}

func newEnv(t *testing.T, mod ...func(*metricshttp.Options)) *env {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	reg := prometheus.NewRegistry()
	o := metricshttp.Options{
		Store:                 s,
		Now:                   func() time.Time { return now },
		GitHubSecret:          githubSecret,
		CircleCISecret:        circleciSecret,
		CircleCIDeployPattern: regexp.MustCompile(`deploy`),
		DeadLetterDir:         filepath.Join(t.TempDir(), "deadletter"),
		Registerer:            reg,
	}
	for _, m := range mod {
		m(&o)
	}
	h, err := metricshttp.NewHandler(o)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, store: s, server: srv, reg: reg, deadLetters: o.DeadLetterDir}
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

type response struct {
	status  int
	header  http.Header
	body    []byte
	problem problem.Details
	result  metricshttp.IngestResult
}

func (e *env) do(method, path string, body []byte, header map[string]string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.server.URL+path, bytes.NewReader(body))
	require.NoError(e.t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := e.server.Client().Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	r := response{status: res.StatusCode, header: res.Header, body: b}
	switch res.Header.Get("Content-Type") {
	case problem.ContentType:
		require.NoError(e.t, json.Unmarshal(b, &r.problem), string(b))
	case "application/json":
		if strings.HasPrefix(path, "/v1/events") {
			require.NoError(e.t, json.Unmarshal(b, &r.result), string(b))
		}
	}
	return r
}

func (e *env) post(path, contentType string, body []byte, header ...string) response {
	e.t.Helper()
	h := map[string]string{"Content-Type": contentType}
	for i := 0; i+1 < len(header); i += 2 {
		h[header[i]] = header[i+1]
	}
	return e.do(http.MethodPost, path, body, h)
}

func (e *env) count() int {
	e.t.Helper()
	all, err := e.store.Events(context.Background(), metrics.Filter{})
	require.NoError(e.t, err)
	return len(all)
}

const succeededEvent = `{"specversion":"1.0","id":"e1","source":"ci","type":"dev.estate.deployment.succeeded","time":"2026-11-03T10:00:00Z","data":{"deployment_id":"d1"}}`

func TestStructuredEventIsIdempotent(t *testing.T) {
	e := newEnv(t)
	r := e.post("/v1/events", "application/cloudevents+json", []byte(succeededEvent))
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Equal(t, metricshttp.IngestResult{Accepted: 1}, r.result)
	r = e.post("/v1/events", "application/cloudevents+json; charset=utf-8", []byte(succeededEvent))
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, metricshttp.IngestResult{Duplicates: 1}, r.result)
	require.Equal(t, 1, e.count())
}

func TestBinaryModeEvent(t *testing.T) {
	e := newEnv(t)
	r := e.post("/v1/events", "application/json", []byte(`{"deployment_id":"d1","service":"invoicing","environment":"production","version":"1.0.0"}`),
		"ce-specversion", "1.0", "ce-id", "b1", "ce-source", "ci", "ce-type", "dev.estate.deployment.started", "ce-time", "2026-11-03T09:00:00Z")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Equal(t, 1, r.result.Accepted)

	r = e.post("/v1/events", "application/json", []byte(`{"deployment_id":"d1","service":"invoicing"}`),
		"ce-specversion", "1.0", "ce-source", "ci", "ce-type", "dev.estate.deployment.started", "ce-time", "2026-11-03T09:00:00Z")
	require.Equal(t, http.StatusBadRequest, r.status, string(r.body))
	require.Equal(t, []problem.FieldError{
		{Message: "id is required", Location: "header.ce-id"},
		{Message: "data.environment is required", Location: "body.environment"},
		{Message: "data.version is required", Location: "body.version"},
	}, r.problem.Errors)

	r = e.post("/v1/events", "application/json", []byte(`{}`),
		"ce-specversion", "1.0", "ce-id", "b2", "ce-source", "ci", "ce-type", "dev.estate.deployment.started", "ce-time", "not a time")
	require.Equal(t, http.StatusBadRequest, r.status, string(r.body))
	require.Equal(t, []problem.FieldError{{Message: "time must be an RFC 3339 timestamp", Location: "header.ce-time"}}, r.problem.Errors)
	require.Equal(t, 1, e.count())
}

// TestBatchStoresTheValidEvents: the valid events of a batch are stored
// whatever the others hold; each invalid one is named in the answer,
// counted and dead-lettered as it was sent.
func TestBatchStoresTheValidEvents(t *testing.T) {
	e := newEnv(t)
	good := func(id string) string { return strings.Replace(succeededEvent, `"e1"`, `"`+id+`"`, 1) }
	bad := strings.Replace(good("e3"), `"deployment_id":"d1"`, `"deployment_id":""`, 1)
	worse := `{"specversion":"1.0","id":"e5","type":"dev.estate.deployment.failed","time":"yesterday","data":{}}`
	batch := "[" + strings.Join([]string{good("e1"), good("e2"), bad, good("e4"), worse}, ",") + "]"

	r := e.post("/v1/events", "application/cloudevents-batch+json", []byte(batch))
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Equal(t, metricshttp.IngestResult{Accepted: 3, Rejected: 2, Errors: []problem.FieldError{
		{Message: "data.deployment_id is required", Location: "body[2].data.deployment_id"},
		{Message: "time must be an RFC 3339 timestamp", Location: "body[4].time"},
	}}, r.result)
	require.Equal(t, 3, e.count())
	e.requireRejected(map[string]float64{"cloudevents/invalid": 2})
	letters := e.deadLettered()
	require.Len(t, letters, 2)
	require.Equal(t, "body[2]", letters[0].Location)
	require.JSONEq(t, bad, string(letters[0].Item))
	require.Equal(t, "body[4]", letters[1].Location)
	require.JSONEq(t, worse, string(letters[1].Item))

	// Sent again: the good ones are duplicates, the bad ones rejected again.
	r = e.post("/v1/events", "application/cloudevents-batch+json", []byte(batch))
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Equal(t, 3, r.result.Duplicates)
	require.Equal(t, 2, r.result.Rejected)

	r = e.post("/v1/events", "application/cloudevents-batch+json", []byte("["+bad+","+worse+"]"))
	require.Equal(t, http.StatusBadRequest, r.status, string(r.body))
	require.Equal(t, "all 2 events in the batch are invalid; nothing was stored", r.problem.Detail)
	require.Len(t, r.problem.Errors, 2)
	require.Equal(t, 3, e.count())

	r = e.post("/v1/events", "application/cloudevents-batch+json", []byte("{}"))
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, "body", r.problem.Errors[0].Location)

	r = e.post("/v1/events", "application/cloudevents-batch+json", []byte("[]"))
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, metricshttp.IngestResult{}, r.result)
	e.requireRejected(map[string]float64{"cloudevents/invalid": 7})
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t, func(o *metricshttp.Options) { o.MaxBodyBytes = 1024 })
	r := e.post("/v1/events", "application/cloudevents+json", []byte(`{"specversion":"1.0","id":"x","source":"s","type":"dev.estate.deployment.succeeded","time":"2026-11-03T10:00:00Z","data":{"deployment_id":"`+strings.Repeat("x", 2000)+`"}}`))
	require.Equal(t, http.StatusRequestEntityTooLarge, r.status, string(r.body))
	require.Equal(t, problem.ContentType, r.header.Get("Content-Type"))

	r = e.post("/v1/events", "text/plain", []byte("hello"))
	require.Equal(t, http.StatusUnsupportedMediaType, r.status)
	require.Equal(t, "header.Content-Type", r.problem.Errors[0].Location)

	r = e.post("/v1/events", "application/cloudevents+json", []byte(`{"specversion":"1.0","id":"x","source":"s","type":"dev.estate.deployment.succeeded","time":"2026-11-03T10:00:00Z","data":{"deployment":"d1"}}`))
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, []problem.FieldError{
		{Message: "data.deployment is not a known field", Location: "body.data.deployment"},
		{Message: "data.deployment_id is required", Location: "body.data.deployment_id"},
	}, r.problem.Errors)

	r = e.do(http.MethodGet, "/v1/nothing", nil, nil)
	require.Equal(t, http.StatusNotFound, r.status)
	require.Equal(t, problem.ContentType, r.header.Get("Content-Type"))
	r = e.do(http.MethodDelete, "/v1/events", nil, nil)
	require.Equal(t, http.StatusMethodNotAllowed, r.status)
	require.Equal(t, problem.ContentType, r.header.Get("Content-Type"))
	require.Equal(t, 0, e.count())
}

func TestWebhookSignatures(t *testing.T) {
	e := newEnv(t)
	body := read(t, "../intake/github/testdata/deployment_status_success.json")
	r := e.post("/v1/events/github", "application/json", body, "X-GitHub-Event", "deployment_status", "X-Hub-Signature-256", github.Sign(body, "wrong"))
	require.Equal(t, http.StatusUnauthorized, r.status, string(r.body))
	require.Equal(t, []problem.FieldError{{Message: "X-Hub-Signature-256 does not match the payload", Location: "header.X-Hub-Signature-256"}}, r.problem.Errors)
	r = e.post("/v1/events/github", "application/json", body, "X-GitHub-Event", "deployment_status")
	require.Equal(t, http.StatusUnauthorized, r.status)

	cbody := read(t, "../intake/circleci/testdata/workflow_completed_success.json")
	r = e.post("/v1/events/circleci", "application/json", cbody, "circleci-signature", "v1=deadbeef")
	require.Equal(t, http.StatusUnauthorized, r.status)
	require.Equal(t, "header.Circleci-Signature", r.problem.Errors[0].Location)
	require.Equal(t, 0, e.count())

	off := newEnv(t, func(o *metricshttp.Options) { o.GitHubSecret, o.CircleCISecret = "", "" })
	r = off.post("/v1/events/github", "application/json", body, "X-GitHub-Event", "deployment_status", "X-Hub-Signature-256", github.Sign(body, ""))
	require.Equal(t, http.StatusNotFound, r.status)
	r = off.post("/v1/events/circleci", "application/json", cbody, "circleci-signature", circleci.Sign(cbody, ""))
	require.Equal(t, http.StatusNotFound, r.status)
	require.Equal(t, 0, off.count())
}

func TestMalformedWebhookBodies(t *testing.T) {
	e := newEnv(t)
	bad := read(t, "../intake/github/testdata/bad_deployment_id_string.json")
	r := e.post("/v1/events/github", "application/json", bad, "X-GitHub-Event", "deployment_status", "X-Hub-Signature-256", github.Sign(bad, githubSecret))
	require.Equal(t, http.StatusBadRequest, r.status, string(r.body))
	require.Equal(t, "body.deployment.id", r.problem.Errors[0].Location)

	r = e.post("/v1/events/alertmanager", "application/json", []byte(`{"version":"4","alerts":[{"status":"firing","fingerprint":"f","startsAt":"2026-11-03T10:00:00Z","labels":{"alertname":"Down"}}]}`))
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, "body.alerts[0].labels.service", r.problem.Errors[0].Location)

	r = e.post("/v1/events/cdevents", "application/json", read(t, "../intake/cdevents/testdata/bad_no_environment.json"))
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, "body.subject.content.environment.id", r.problem.Errors[0].Location)

	// A rollback of a service never deployed: nothing to roll back yet.
	r = e.post("/v1/events/cdevents", "application/json", read(t, "../intake/cdevents/testdata/service_rolledback.json"))
	require.Equal(t, http.StatusConflict, r.status, string(r.body))

	cbad := read(t, "../intake/circleci/testdata/bad_truncated.json")
	r = e.post("/v1/events/circleci", "application/json", cbad, "circleci-signature", circleci.Sign(cbad, circleciSecret))
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, 0, e.count())
}

// TestAllFiveFormatsThenQuery ingests every format into one SQLite store
// and reads the figures back through /v1/dora.
func TestAllFiveFormatsThenQuery(t *testing.T) {
	e := newEnv(t)

	// 1. CloudEvents batch: the example, which must come back
	// exactly as the issue prints it.
	lines := strings.Split(strings.TrimSpace(string(read(t, "../testdata/issue_example.jsonl"))), "\n")
	r := e.post("/v1/events", "application/cloudevents-batch+json", []byte("["+strings.Join(lines, ",")+"]"))
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Equal(t, metricshttp.IngestResult{Accepted: len(lines) - 1, Duplicates: 1}, r.result)

	r = e.do(http.MethodGet, "/v1/dora?from=2026-11-02T00:00:00Z&to=2026-11-09T00:00:00Z&service=invoicing", nil, nil)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	want := `{"from":"2026-11-02T00:00:00Z","to":"2026-11-09T00:00:00Z","services":[{"service":"invoicing","environment":"production",` +
		`"deployments":10,"failed_deployments":1,"rollbacks":2,"rollback_rate":0.2,"change_failure_rate":0.3,` +
		`"deployment_frequency_per_day":1.4285714,"lead_time_seconds":{"p50":86400,"p90":259200},"incidents":2,"downtime_seconds":5400,` +
		`"mttr_seconds":2700,"mttr_median_seconds":1800,"mtbf_seconds":299700,"chaos_incidents":1}]}`
	require.Equal(t, want, compact(t, r.body))
	// The default window is the week up to now, which is the same here.
	r = e.do(http.MethodGet, "/v1/dora?service=invoicing&environment=production", nil, nil)
	require.Equal(t, want, compact(t, r.body))

	// 2. CDEvents: a deployment and an upgrade of credit, a rollback of
	// the upgrade, an incident (wrapped in a CloudEvent once).
	cd := func(name string) []byte { return read(t, "../intake/cdevents/testdata/"+name) }
	for _, f := range []string{"service_deployed.json", "service_upgraded.json", "service_rolledback.json", "incident_detected.json", "incident_resolved.json"} {
		body := bytes.ReplaceAll(cd(f), []byte(`"invoicing"`), []byte(`"credit"`))
		r = e.post("/v1/events/cdevents", "application/json", body)
		require.Equal(t, http.StatusOK, r.status, "%s: %s", f, r.body)
	}
	r = e.post("/v1/events/cdevents", "application/cloudevents+json", cd("cloudevent_service_deployed.json"))
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	// The same CDEvent as the first one posted, carried by a CloudEvent:
	// its ids derive from the CDEvent's, so it is a duplicate.
	require.Equal(t, metricshttp.IngestResult{Duplicates: 2}, r.result)

	// 3. Alertmanager: an incident of "payments" fires and resolves.
	am := func(name string) []byte {
		return bytes.ReplaceAll(read(t, "../intake/alertmanager/testdata/"+name), []byte(`"service": "invoicing"`), []byte(`"service": "payments"`))
	}
	r = e.post("/v1/events/alertmanager", "application/json", am("firing.json"))
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Equal(t, metricshttp.IngestResult{Accepted: 2}, r.result)
	r = e.post("/v1/events/alertmanager", "application/json", am("resolved.json"))
	require.Equal(t, metricshttp.IngestResult{Accepted: 1, Duplicates: 1}, r.result)

	// 4. GitHub: Hello-World deploys to production.
	for _, f := range []string{"deployment_status_in_progress.json", "deployment_status_success.json", "deployment_status_success.json"} {
		body := read(t, "../intake/github/testdata/"+f)
		r = e.post("/v1/events/github", "application/json", body, "X-GitHub-Event", "deployment_status", "X-Hub-Signature-256", github.Sign(body, githubSecret))
		require.Equal(t, http.StatusOK, r.status, string(r.body))
	}
	require.Equal(t, metricshttp.IngestResult{Duplicates: 2}, r.result, "a redelivery")
	ping := read(t, "../intake/github/testdata/ping.json")
	r = e.post("/v1/events/github", "application/json", ping, "X-GitHub-Event", "ping", "X-Hub-Signature-256", github.Sign(ping, githubSecret))
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, metricshttp.IngestResult{}, r.result)

	// 5. CircleCI: webhook-service deploys.
	body := read(t, "../intake/circleci/testdata/workflow_completed_success.json")
	r = e.post("/v1/events/circleci", "application/json", body, "circleci-signature", circleci.Sign(body, circleciSecret))
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Equal(t, metricshttp.IngestResult{Accepted: 2}, r.result)

	// Each shows up in its own report.
	type svc = struct {
		Service           string   `json:"service"`
		Environment       string   `json:"environment"`
		Deployments       int      `json:"deployments"`
		Rollbacks         int      `json:"rollbacks"`
		Incidents         int      `json:"incidents"`
		MTTR              *float64 `json:"mttr_seconds"`
		LeadTime          any      `json:"lead_time_seconds"`
		DeploymentsPerDay float64  `json:"deployment_frequency_per_day"`
	}
	query := func(from, to string) map[string]svc {
		r := e.do(http.MethodGet, "/v1/dora?from="+url.QueryEscape(from)+"&to="+url.QueryEscape(to), nil, nil)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		var rep struct{ Services []svc }
		require.NoError(t, json.Unmarshal(r.body, &rep))
		out := map[string]svc{}
		for _, s := range rep.Services {
			out[s.Service+"/"+s.Environment] = s
		}
		return out
	}
	got := query("2026-11-02T00:00:00Z", "2026-11-09T00:00:00Z")
	require.Equal(t, 2, got["credit/production"].Deployments)
	require.Equal(t, 1, got["credit/production"].Rollbacks)
	// One from CDEvents, resolved; one from Alertmanager, still firing.
	require.Equal(t, 2, got["credit/production"].Incidents)
	require.Equal(t, 2079.921, *got["credit/production"].MTTR) // 09:30:20.079 to 10:05:00
	require.Equal(t, 1, got["payments/production"].Incidents)
	require.Equal(t, 2700.0, *got["payments/production"].MTTR)
	require.Contains(t, got, "invoicing/production")
	require.Contains(t, got, "credit/production")
	old := query("2019-05-01T00:00:00Z", "2021-10-01T00:00:00Z")
	require.Equal(t, 1, old["Hello-World/production"].Deployments)
	require.Equal(t, 1, old["webhook-service/production"].Deployments)
	require.NotNil(t, old["webhook-service/production"].LeadTime)

	// The text form, for people.
	r = e.do(http.MethodGet, "/v1/dora?from=2026-11-02T00:00:00Z&to=2026-11-09T00:00:00Z&format=text", nil, nil)
	require.Equal(t, http.StatusOK, r.status)
	require.Regexp(t, `\ninvoicing +production +10 +1 +20.0% \(2/10\)`, string(r.body))
}

func TestQueryErrors(t *testing.T) {
	e := newEnv(t)
	tests := map[string][]problem.FieldError{
		"from=yesterday": {{Message: "must be an RFC 3339 timestamp, such as 2026-11-02T00:00:00Z", Location: "query.from"}},
		"from=2026-11-09T00:00:00Z&to=2026-11-02T00:00:00Z": {{Message: "from (2026-11-09T00:00:00Z) must be before to (2026-11-02T00:00:00Z)", Location: "query.from"}},
		"from=1600-01-01T00:00:00Z":                         {{Message: "must be between 1677-09-21T00:12:44Z and 2262-04-11T23:47:16Z", Location: "query.from"}},
		"from=2026-11-02T00:00:00Z&to=2300-01-01T00:00:00Z": {{Message: "must be between 1677-09-21T00:12:44Z and 2262-04-11T23:47:16Z", Location: "query.to"}},
		"servce=invoicing":                                  {{Message: "is not a known parameter (known: [service environment from to include_chaos format])", Location: "query.servce"}},
		"include_chaos=perhaps":                             {{Message: "must be true or false", Location: "query.include_chaos"}},
		"format=pdf":                                        {{Message: "must be json or text", Location: "query.format"}},
	}
	for q, want := range tests {
		t.Run(q, func(t *testing.T) {
			r := e.do(http.MethodGet, "/v1/dora?"+q, nil, nil)
			require.Equal(t, http.StatusBadRequest, r.status, string(r.body))
			require.Equal(t, want, r.problem.Errors)
		})
	}
	r := e.do(http.MethodGet, "/v1/dora?include_chaos=true", nil, nil)
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, `{"from":"2026-11-02T00:00:00Z","to":"2026-11-09T00:00:00Z","services":[]}`, compact(t, r.body))
}

func TestNewHandlerNeedsAStore(t *testing.T) {
	_, err := metricshttp.NewHandler(metricshttp.Options{})
	require.ErrorContains(t, err, "store is required")
}

func compact(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, json.Compact(&buf, b))
	return buf.String()
}

func TestUnroutedAnswersProblems(t *testing.T) {
	e := newEnv(t)
	problemtest.RequireUnrouted(t, e.server.Config.Handler,
		problemtest.Unrouted{Method: http.MethodGet, Path: "/v1/nowhere"},
		problemtest.Unrouted{Method: http.MethodGet, Path: "/v1/events", Allow: "POST"},
		problemtest.Unrouted{Method: http.MethodPut, Path: "/v1/events/github", Allow: "POST"},
		problemtest.Unrouted{Method: http.MethodPost, Path: "/v1/dora", Allow: "GET"},
	)
}
