package metricshttp_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/problem"
	"github.com/estatehq/estate/metrics"
	metricshttp "github.com/estatehq/estate/metrics/http"
	"github.com/estatehq/estate/metrics/intake/alertmanager"
	"github.com/estatehq/estate/metrics/intake/github"
)

// claim is an event posted to the events API that takes the id (and, when
// source is an intake's, the identity) of another event.
func claim(id, source string) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":%q,"type":"dev.estate.deployment.succeeded",`+
		`"time":"2026-11-03T10:00:00Z","data":{"deployment_id":"forged"}}`, id, source)
}

// TestPreemptedIDDoesNotBlockTheRealEvent: an anonymous sender posts
// events with the ids that an Alertmanager notification and a GitHub
// delivery will map to, before they arrive. Events are identified by
// source and id, so the real ones are still stored, not counted as
// duplicates.
func TestPreemptedIDDoesNotBlockTheRealEvent(t *testing.T) {
	e := newEnv(t)
	notification := read(t, "../intake/alertmanager/testdata/firing.json")
	alerts, err := alertmanager.Decode(notification, alertmanager.Options{})
	require.NoError(t, err)
	delivery := read(t, "../intake/github/testdata/deployment_status_success.json")
	deployments, err := github.Decode("deployment_status", delivery)
	require.NoError(t, err)
	real := slices.Concat(alerts.Events, deployments)
	require.NotEmpty(t, alerts.Events)
	require.NotEmpty(t, deployments)

	claims := make([]string, 0, len(real))
	for _, ev := range real {
		claims = append(claims, claim(ev.ID, "https://attacker.example.com"))
	}
	r := e.post("/v1/events", "application/cloudevents-batch+json", []byte("["+strings.Join(claims, ",")+"]"))
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Equal(t, metricshttp.IngestResult{Accepted: len(real)}, r.result)

	r = e.post("/v1/events/alertmanager", "application/json", notification)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Equal(t, metricshttp.IngestResult{Accepted: len(alerts.Events)}, r.result)
	r = e.post("/v1/events/github", "application/json", delivery,
		"X-GitHub-Event", "deployment_status", "X-Hub-Signature-256", github.Sign(delivery, githubSecret))
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Equal(t, metricshttp.IngestResult{Accepted: len(deployments)}, r.result)

	all, err := e.store.Events(t.Context(), metrics.Filter{})
	require.NoError(t, err)
	require.Len(t, all, 2*len(real))
	for _, ev := range real {
		require.Contains(t, all, ev.Normalized(), "the real event %s from %s", ev.ID, ev.Source)
	}
}

// TestPostedEventMayNotClaimAnIntakeSource: the events API refuses an
// event whose source is an intake's, whatever its case; in a batch that
// item alone, the others stored.
func TestPostedEventMayNotClaimAnIntakeSource(t *testing.T) {
	e := newEnv(t)
	notification := read(t, "../intake/alertmanager/testdata/firing.json")
	alerts, err := alertmanager.Decode(notification, alertmanager.Options{})
	require.NoError(t, err)
	target := alerts.Events[0]
	upper := "URN:ESTATE:INTAKE:" + strings.TrimPrefix(target.Source, "urn:estate:intake:")

	batch := "[" + claim(target.ID, target.Source) + "," + claim("own", "https://ci.example.com") + "," + claim(target.ID, upper) + "]"
	r := e.post("/v1/events", "application/cloudevents-batch+json", []byte(batch))
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Equal(t, 1, r.result.Accepted)
	require.Equal(t, 2, r.result.Rejected)
	require.Equal(t, []string{"body[0].source", "body[2].source"}, locations(r.result.Errors))
	require.Contains(t, r.result.Errors[0].Message, "is an intake's source")

	r = e.post("/v1/events", "application/cloudevents+json", []byte(claim(target.ID, target.Source)))
	require.Equal(t, http.StatusBadRequest, r.status, string(r.body))
	require.Equal(t, []string{"body.source"}, locations(r.problem.Errors))

	r = e.post("/v1/events", "application/json", []byte(`{"deployment_id":"forged"}`),
		"ce-specversion", "1.0", "ce-id", target.ID, "ce-source", target.Source,
		"ce-type", "dev.estate.deployment.succeeded", "ce-time", "2026-11-03T10:00:00Z")
	require.Equal(t, http.StatusBadRequest, r.status, string(r.body))
	require.Equal(t, []string{"header.ce-source"}, locations(r.problem.Errors))
	require.Equal(t, 1, e.count())
	e.requireRejected(map[string]float64{"cloudevents/invalid": 4})

	// The intake itself still stores its event.
	r = e.post("/v1/events/alertmanager", "application/json", notification)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.Equal(t, len(alerts.Events), r.result.Accepted)
	var letters []string
	for _, dl := range e.deadLettered() {
		var item struct{ Source string }
		require.NoError(t, json.Unmarshal(dl.Item, &item))
		letters = append(letters, item.Source)
	}
	require.Equal(t, []string{target.Source, upper, target.Source, ""}, letters,
		"dead-lettered as sent; the binary-mode event's item is its body, without the ce-source header")
}

func locations(errs []problem.FieldError) []string {
	out := make([]string, 0, len(errs))
	for _, fe := range errs {
		out = append(out, fe.Location)
	}
	return out
}
