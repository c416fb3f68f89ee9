package metricshttp_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/problem"
	"github.com/estatehq/estate/metrics"
	metricshttp "github.com/estatehq/estate/metrics/http"
	"github.com/estatehq/estate/metrics/intake/circleci"
	"github.com/estatehq/estate/metrics/intake/github"
)

// deadLetter is a line of the intakes' dead-letter file.
type deadLetter struct {
	Time     string               `json:"time"`
	Intake   string               `json:"intake"`
	Reason   string               `json:"reason"`
	Path     string               `json:"path"`
	Location string               `json:"location"`
	Errors   []problem.FieldError `json:"errors"`
	Headers  map[string]string    `json:"headers"`
	Item     json.RawMessage      `json:"item"`
	ItemText string               `json:"item_text"`
}

// deadLettered reads the dead-letter file of the day of now.
func (e *env) deadLettered() []deadLetter {
	e.t.Helper()
	fh, err := os.Open(filepath.Join(e.deadLetters, "intake-"+now.Format("2006-01-02")+".jsonl"))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(e.t, err)
	defer fh.Close()
	var out []deadLetter
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var dl deadLetter
		require.NoError(e.t, json.Unmarshal(sc.Bytes(), &dl), sc.Text())
		require.Equal(e.t, now.Format("2006-01-02T15:04:05Z"), dl.Time)
		out = append(out, dl)
	}
	require.NoError(e.t, sc.Err())
	return out
}

// requireRejected checks estate_intake_rejected_total: want's series
// ("intake/reason") at their value, and every other series of every
// intake present at 0.
func (e *env) requireRejected(want map[string]float64) {
	e.t.Helper()
	require.Empty(e.t, e.rejectedDiff(want), "estate_intake_rejected_total")
}

// rejectedDiff is how estate_intake_rejected_total differs from what
// requireRejected wants: empty when it is so.
func (e *env) rejectedDiff(want map[string]float64) string {
	e.t.Helper()
	families, err := e.reg.Gather()
	require.NoError(e.t, err)
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "estate_intake_rejected_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got[labels["intake"]+"/"+labels["reason"]] = m.GetCounter().GetValue()
		}
	}
	all := map[string]float64{}
	for _, intake := range []string{"cloudevents", "cdevents", "alertmanager", "github", "circleci"} {
		all[intake+"/invalid"] = 0
		all[intake+"/too_large"] = 0
	}
	all["github/signature"], all["circleci/signature"] = 0, 0
	for k, v := range want {
		all[k] = v
	}
	return cmp.Diff(all, got)
}

// TestAlertmanagerNotificationStoresEveryAlertThatMaps: a grouped
// notification whose alerts are good, lack an environment or a service
// label, or cannot be mapped at all: the alerts that map are stored (the
// environment defaulted, the service from the job), the others are
// counted and dead-lettered as sent, and the answer is 200, which
// Alertmanager takes as delivered.
func TestAlertmanagerNotificationStoresEveryAlertThatMaps(t *testing.T) {
	e := newEnv(t)
	body := read(t, "../intake/alertmanager/testdata/mixed.json")
	r := e.post("/v1/events/alertmanager", "application/json", body)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Equal(t, metricshttp.IngestResult{Accepted: 4, Rejected: 2, Errors: []problem.FieldError{
		{Message: "alerts[2].labels.service is required (or, in its place, labels.job)", Location: "body.alerts[2].labels.service"},
		{Message: "alerts[4].startsAt must be an RFC 3339 timestamp", Location: "body.alerts[4].startsAt"},
	}}, r.result)

	all, err := e.store.Events(t.Context(), metrics.Filter{})
	require.NoError(t, err)
	var opened []string
	for _, ev := range all {
		if o, ok := ev.Data.(metrics.IncidentOpened); ok {
			opened = append(opened, o.Service+"/"+o.Environment)
		}
	}
	require.ElementsMatch(t, []string{"invoicing/production", "credit/production", "payments/staging"}, opened)

	e.requireRejected(map[string]float64{"alertmanager/invalid": 2})
	var alerts struct{ Alerts []json.RawMessage }
	require.NoError(t, json.Unmarshal(body, &alerts))
	letters := e.deadLettered()
	require.Len(t, letters, 2)
	for i, want := range []struct {
		location string
		alert    json.RawMessage
	}{{"body.alerts[2]", alerts.Alerts[2]}, {"body.alerts[4]", alerts.Alerts[4]}} {
		dl := letters[i]
		require.Equal(t, "alertmanager", dl.Intake)
		require.Equal(t, "invalid", dl.Reason)
		require.Equal(t, "/v1/events/alertmanager", dl.Path)
		require.Equal(t, want.location, dl.Location)
		require.Equal(t, r.result.Errors[i:i+1], dl.Errors)
		require.JSONEq(t, string(want.alert), string(dl.Item))
		require.Equal(t, "application/json", dl.Headers["Content-Type"])
	}

	// Redelivered, as Alertmanager does on its repeat interval: nothing new.
	r = e.post("/v1/events/alertmanager", "application/json", body)
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, 4, r.result.Duplicates)
	require.Len(t, e.deadLettered(), 4)
}

// TestIntakesRecordWhatTheyRefuse: a delivery of one item that cannot be
// taken is answered 400 (nothing in it could be stored) and recorded
// like a rejected item of a batch; the good deliveries beside it are
// stored.
func TestIntakesRecordWhatTheyRefuse(t *testing.T) {
	gh := func(name string) (string, []byte, []string) {
		body := read(t, "../intake/github/testdata/"+name)
		return "application/json", body, []string{"X-GitHub-Event", "deployment_status", "X-Hub-Signature-256", github.Sign(body, githubSecret)}
	}
	circle := func(name string) (string, []byte, []string) {
		body := read(t, "../intake/circleci/testdata/"+name)
		return "application/json", body, []string{"circleci-signature", circleci.Sign(body, circleciSecret)}
	}
	plain := func(dir, name string) func() (string, []byte, []string) {
		return func() (string, []byte, []string) {
			return "application/json", read(t, "../intake/"+dir+"/testdata/"+name), nil
		}
	}
	type delivery = func() (string, []byte, []string)
	tests := []struct {
		intake, path string
		good, bad    delivery
		location     string
	}{
		{"github", "/v1/events/github", func() (string, []byte, []string) { return gh("deployment_status_success.json") },
			func() (string, []byte, []string) { return gh("bad_deployment_id_string.json") }, "body"},
		{"circleci", "/v1/events/circleci", func() (string, []byte, []string) { return circle("workflow_completed_success.json") },
			func() (string, []byte, []string) { return circle("bad_created_at_number.json") }, "body"},
		{"cdevents", "/v1/events/cdevents", plain("cdevents", "service_deployed.json"), plain("cdevents", "bad_no_environment.json"), "body"},
		{"cloudevents", "/v1/events", func() (string, []byte, []string) {
			return "application/cloudevents+json", []byte(succeededEvent), nil
		}, func() (string, []byte, []string) {
			return "application/json", []byte(`{"deployment_id":"d1"}`), []string{"ce-specversion", "1.0", "ce-id", "b1", "ce-source", "ci",
				"ce-type", "dev.estate.deployment.started", "ce-time", "2026-11-03T09:00:00Z"}
		}, "body"},
	}
	for _, tt := range tests {
		t.Run(tt.intake, func(t *testing.T) {
			e := newEnv(t)
			ct, body, headers := tt.good()
			r := e.post(tt.path, ct, body, headers...)
			require.Equal(t, http.StatusOK, r.status, string(r.body))
			stored := e.count()
			require.Positive(t, stored)

			ct, body, headers = tt.bad()
			r = e.post(tt.path, ct, body, headers...)
			require.Equal(t, http.StatusBadRequest, r.status, string(r.body))
			require.NotEmpty(t, r.problem.Errors)
			require.Equal(t, stored, e.count())

			e.requireRejected(map[string]float64{tt.intake + "/invalid": 1})
			letters := e.deadLettered()
			require.Len(t, letters, 1)
			require.Equal(t, tt.intake, letters[0].Intake)
			require.Equal(t, tt.location, letters[0].Location)
			require.Equal(t, r.problem.Errors, letters[0].Errors)
			require.JSONEq(t, string(body), string(letters[0].Item))
			for i := 0; i+1 < len(headers); i += 2 {
				if strings.HasPrefix(headers[i], "ce-") || headers[i] == "X-GitHub-Event" {
					require.Equal(t, headers[i+1], letters[0].Headers[http.CanonicalHeaderKey(headers[i])], headers[i])
				}
			}
		})
	}
}

// TestGitHubFormEncodedDelivery: a webhook set to send
// application/x-www-form-urlencoded posts payload=<JSON>, signed as sent;
// it maps as the JSON delivery does.
func TestGitHubFormEncodedDelivery(t *testing.T) {
	e := newEnv(t)
	payload := read(t, "../intake/github/testdata/deployment_status_success.json")
	form := []byte(url.Values{"payload": {string(payload)}}.Encode())
	post := func(body []byte, signature string) response {
		return e.post("/v1/events/github", github.FormContentType, body, "X-GitHub-Event", "deployment_status", "X-Hub-Signature-256", signature)
	}

	r := post(form, github.Sign(payload, githubSecret))
	require.Equal(t, http.StatusUnauthorized, r.status, "the signature is over the form body, not the JSON in it")
	r = post(form, github.Sign(form, "wrong"))
	require.Equal(t, http.StatusUnauthorized, r.status)
	require.Equal(t, []problem.FieldError{{Message: "X-Hub-Signature-256 does not match the payload", Location: "header.X-Hub-Signature-256"}}, r.problem.Errors)
	require.Equal(t, 0, e.count())

	r = post(form, github.Sign(form, githubSecret))
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Equal(t, metricshttp.IngestResult{Accepted: 2}, r.result)
	// The same delivery as JSON is a duplicate.
	r = e.post("/v1/events/github", "application/json", payload, "X-GitHub-Event", "deployment_status", "X-Hub-Signature-256", github.Sign(payload, githubSecret))
	require.Equal(t, metricshttp.IngestResult{Duplicates: 2}, r.result)

	bad := read(t, "../intake/github/testdata/bad_deployment_id_string.json")
	badForm := []byte(url.Values{"payload": {string(bad)}}.Encode())
	r = post(badForm, github.Sign(badForm, githubSecret))
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, "body.payload.deployment.id", r.problem.Errors[0].Location)
	noPayload := []byte("action=created")
	r = post(noPayload, github.Sign(noPayload, githubSecret))
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, []problem.FieldError{{Message: "payload is required in a form-encoded delivery", Location: "body.payload"}}, r.problem.Errors)
	require.Equal(t, 2, e.count())

	e.requireRejected(map[string]float64{"github/signature": 2, "github/invalid": 2})
	letters := e.deadLettered()
	require.Len(t, letters, 2, "signature failures are not dead-lettered: nothing of them can be trusted")
	require.JSONEq(t, string(bad), string(letters[0].Item), "the JSON the form carried")
	require.Equal(t, "action=created", letters[1].ItemText, "a body that is not JSON, as text")
}

func TestTooLargeIsCounted(t *testing.T) {
	e := newEnv(t, func(o *metricshttp.Options) { o.MaxBodyBytes = 64 })
	r := e.post("/v1/events/alertmanager", "application/json", read(t, "../intake/alertmanager/testdata/firing.json"))
	require.Equal(t, http.StatusRequestEntityTooLarge, r.status)
	e.requireRejected(map[string]float64{"alertmanager/too_large": 1})
	require.Empty(t, e.deadLettered(), "the body was not read whole")
}

// TestDeadLetterFailureFailsTheRequest: a rejected item that cannot be
// dead-lettered fails the request with 500, so that the sender sends it
// again; the good items, already stored, are then duplicates.
func TestDeadLetterFailureFailsTheRequest(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	e := newEnv(t, func(o *metricshttp.Options) { o.DeadLetterDir = filepath.Join(file, "deadletter") })
	body := read(t, "../intake/alertmanager/testdata/mixed.json")
	r := e.post("/v1/events/alertmanager", "application/json", body)
	require.Equal(t, http.StatusInternalServerError, r.status, string(r.body))
	require.NotContains(t, string(r.body), "deadletter", "no internal error's text")
	e.requireRejected(nil)
	r = e.post("/v1/events/cdevents", "application/json", read(t, "../intake/cdevents/testdata/bad_no_environment.json"))
	require.Equal(t, http.StatusInternalServerError, r.status, string(r.body))
	e.requireRejected(nil)
}

// TestWithoutDeadLetterDir: with no dead-letter folder, rejected items
// are still counted.
func TestWithoutDeadLetterDir(t *testing.T) {
	e := newEnv(t, func(o *metricshttp.Options) { o.DeadLetterDir = "" })
	r := e.post("/v1/events/alertmanager", "application/json", read(t, "../intake/alertmanager/testdata/mixed.json"))
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Equal(t, 2, r.result.Rejected)
	e.requireRejected(map[string]float64{"alertmanager/invalid": 2})
}
