package reviewhttp_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/internal/problem"
	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/sqlite"
	"github.com/estatehq/estate/sloreport/review"
	reviewhttp "github.com/estatehq/estate/sloreport/review/http"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// incident is incident A of the review package's dataset.
const incident = "81b9fb60c82ef41d@2026-11-03T10:00:00Z"

var now = time.Date(2026, 11, 3, 13, 0, 0, 0, time.UTC)

// store is a real SQLite event store holding the review package's
// dataset and an incident whose id holds a slash.
func store(t *testing.T) metrics.Store {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "events.jsonl"))
	require.NoError(t, err)
	defer f.Close()
	events, err := metrics.ReadJSONL(f)
	require.NoError(t, err)
	events = append(events, metrics.Event{
		ID: "team-42-opened", Source: "https://pager.example.com", Time: now.Add(-time.Hour),
		Data: metrics.IncidentOpened{IncidentID: "team/42", Service: "credit", Environment: "production", Severity: "minor"},
	})
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	_, err = st.Append(t.Context(), events)
	require.NoError(t, err)
	return st
}

// serve mounts the API with o (its store and clock filled in) on a real
// server.
func serve(t *testing.T, o reviewhttp.Options) *httptest.Server {
	t.Helper()
	if o.Events == nil {
		o.Events = store(t)
	}
	o.Now = func() time.Time { return now }
	r := chi.NewRouter()
	require.NoError(t, reviewhttp.Routes(r, o))
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

// answer is a response, read whole.
type answer struct {
	StatusCode int
	Header     http.Header
}

func get(t *testing.T, url string, header map[string]string) (answer, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{resp.StatusCode, resp.Header}, b
}

func timelineURL(base, id string) string {
	return base + "/v1/incidents/" + url.PathEscape(id) + "/timeline"
}

// rendered is what the review package renders of the incident in format.
func rendered(t *testing.T, st metrics.Store, id, format string) string {
	t.Helper()
	f, err := review.Timeline(t.Context(), review.Inputs{Events: st, IncidentID: id, Now: now})
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, f.Write(&b, format))
	return b.String()
}

// TestTimelineFormats asks for the review in each format, by query and by
// Accept, and gets exactly what the review package renders.
func TestTimelineFormats(t *testing.T) {
	st := store(t)
	srv := serve(t, reviewhttp.Options{Events: st})
	tests := []struct {
		name        string
		query       string
		accept      string
		format      string
		contentType string
	}{
		{"default", "", "", "json", "application/json"},
		{"format json", "?format=json", "text/markdown", "json", "application/json"},
		{"format markdown", "?format=markdown", "", "markdown", "text/markdown; charset=utf-8"},
		{"format text", "?format=text", "", "text", "text/plain; charset=utf-8"},
		{"accept markdown", "", "text/markdown", "markdown", "text/markdown; charset=utf-8"},
		{"accept by preference", "", "text/plain;q=0.5, text/markdown;q=0.9", "markdown", "text/markdown; charset=utf-8"},
		{"accept in order", "", "text/plain, text/markdown", "text", "text/plain; charset=utf-8"},
		{"a browser", "", "text/html,application/xhtml+xml,*/*;q=0.8", "json", "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, timelineURL(srv.URL, incident)+tt.query, map[string]string{"Accept": tt.accept})
			require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
			require.Equal(t, tt.contentType, resp.Header.Get("Content-Type"))
			require.Equal(t, "Accept", resp.Header.Get("Vary"))
			require.Equal(t, rendered(t, st, incident, tt.format), string(body))
		})
	}
}

// TestTimelineEscapedID reviews an incident whose id holds a slash.
func TestTimelineEscapedID(t *testing.T) {
	srv := serve(t, reviewhttp.Options{})
	resp, body := get(t, timelineURL(srv.URL, "team/42"), nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var got struct {
		Incident struct{ ID, Service string }
	}
	require.NoError(t, json.Unmarshal(body, &got))
	require.Equal(t, "team/42", got.Incident.ID)
	require.Equal(t, "credit", got.Incident.Service)
}

func TestTimelineProblems(t *testing.T) {
	srv := serve(t, reviewhttp.Options{})
	tests := []struct {
		name string
		url  string
		want problem.Details
	}{
		{"unknown incident", timelineURL(srv.URL, "inc-404"), problem.Details{
			Title: "Not Found", Status: 404, Detail: `no incident has the id "inc-404"`, Instance: "/v1/incidents/inc-404/timeline",
		}},
		{"an incident never opened", timelineURL(srv.URL, "inc-ghost"), problem.Details{
			Title: "Not Found", Status: 404, Detail: `no incident has the id "inc-ghost"`, Instance: "/v1/incidents/inc-ghost/timeline",
		}},
		{"unknown format", timelineURL(srv.URL, incident) + "?format=html", problem.Details{
			Title: "Bad Request", Status: 400, Detail: "the format is json, markdown or text", Instance: "/v1/incidents/" + incident + "/timeline",
			Errors: []problem.FieldError{{Message: "must be json, markdown or text", Location: "query.format", Value: "html"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, tt.url, nil)
			require.Equal(t, tt.want.Status, resp.StatusCode, string(body))
			require.Equal(t, problem.ContentType, resp.Header.Get("Content-Type"))
			var got problem.Details
			require.NoError(t, json.Unmarshal(body, &got))
			require.Equal(t, tt.want, got)
		})
	}
}

// TestTimelineMetricsStoreDown answers 503 when the metrics store cannot
// be reached: asking again may work.
func TestTimelineMetricsStoreDown(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	q, err := promquery.NewHTTP(promquery.HTTPOptions{URL: down.URL})
	require.NoError(t, err)
	srv := serve(t, reviewhttp.Options{Querier: q})
	resp, body := get(t, timelineURL(srv.URL, incident), nil)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, string(body))
	require.Contains(t, string(body), "the metrics store did not answer in time; ask again")
}

// TestTimelineAtAnotherRoute mounts the review where the report server
// does.
func TestTimelineAtAnotherRoute(t *testing.T) {
	st := store(t)
	srv := serve(t, reviewhttp.Options{Events: st, Pattern: "/incidents/{id}"})
	resp, body := get(t, srv.URL+"/incidents/"+url.PathEscape(incident)+"?format=markdown", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Equal(t, rendered(t, st, incident, "markdown"), string(body))
	resp, _ = get(t, timelineURL(srv.URL, incident), nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestRoutesRefuseOptionsThatCannotWork(t *testing.T) {
	tests := []struct {
		name string
		o    reviewhttp.Options
		want string
	}{
		{"no store", reviewhttp.Options{}, "incident review API: events: the event store is required"},
		{"no id in the pattern", reviewhttp.Options{Events: store(t), Pattern: "/incidents"}, `incident review API: pattern: must start with / and hold {id}, not "/incidents"`},
		{"negative around", reviewhttp.Options{Events: store(t), Around: -time.Minute}, "incident review API: lookback (0s) and around (-1m0s): must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.EqualError(t, reviewhttp.Routes(chi.NewRouter(), tt.o), tt.want)
		})
	}
}
