package prometheus_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/collector/prometheus"
	"github.com/estatehq/estate/internal/promquery/promquerytest"
)

// TestGrafanaDecodesEveryAnswer asks the embedded API, through Prometheus's
// own Go client, everything Grafana's Prometheus data source asks when it
// is added and when a panel is drawn; every answer decodes into the
// client's types and holds what the store holds.
func TestGrafanaDecodesEveryAnswer(t *testing.T) {
	_, base := loaded(t)
	api := apiClient(t, base)
	ctx := t.Context()
	at := promquerytest.At

	bi, err := api.Buildinfo(ctx)
	require.NoError(t, err)
	require.Equal(t, prometheus.PrometheusVersion, bi.Version, "the release of the Prometheus libraries, which Grafana reads features from")
	require.NotEmpty(t, bi.GoVersion)

	v, _, _, err := api.Query(ctx, `sum by (instance) (http_requests_total)`, at)
	require.NoError(t, err)
	require.Len(t, v.(model.Vector), 2)

	v, _, _, err = api.QueryRange(ctx, `sum(rate(http_requests_total[5m]))`, v1.Range{Start: at.Add(-30 * time.Minute), End: at, Step: time.Minute})
	require.NoError(t, err)
	require.Len(t, v.(model.Matrix), 1)
	require.Len(t, v.(model.Matrix)[0].Values, 31)

	sets, _, _, err := api.Series(ctx, []string{`queue_depth`}, promquerytest.Start, at)
	require.NoError(t, err)
	require.Equal(t, []model.LabelSet{{"__name__": "queue_depth", "job": "worker"}}, sets)

	names, _, _, err := api.LabelNames(ctx, nil, promquerytest.Start, at)
	require.NoError(t, err)
	require.Contains(t, names, model.LabelName("instance"))

	values, _, _, err := api.LabelValues(ctx, "job", nil, promquerytest.Start, at)
	require.NoError(t, err)
	require.Equal(t, model.LabelValues{"api", "sensor", "worker"}, values)

	// Grafana's "Save & test".
	v, _, _, err = api.Query(ctx, `1+1`, at)
	require.NoError(t, err)
	require.Equal(t, model.SampleValue(2), v.(*model.Scalar).Value)

	md, err := api.Metadata(ctx, "", "")
	require.NoError(t, err)
	require.Empty(t, md, "no scrape targets, no metadata")

	ex, err := api.QueryExemplars(ctx, `http_requests_total`, promquerytest.Start, at)
	require.NoError(t, err)
	require.Empty(t, ex)

	_, _, _, err = api.Query(ctx, `sum(`, at)
	var apiErr *v1.Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, v1.ErrBadData, apiErr.Type)
}

// TestPrometheusWireFormat checks the answers byte by byte where the
// clients depend on them: the envelope, the error format and its status
// codes, form bodies, and the routes that are not served.
func TestPrometheusWireFormat(t *testing.T) {
	_, base := loaded(t)
	at := promquerytest.At.Format(time.RFC3339)
	tests := []struct {
		name       string
		method     string
		path       string
		form       url.Values
		wantStatus int
		wantBody   string
	}{
		{
			name: "instant query", method: http.MethodGet, path: "/api/v1/query",
			form:       url.Values{"query": {`queue_depth`}, "time": {at}},
			wantStatus: http.StatusOK,
			wantBody:   `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"queue_depth","job":"worker"},"value":[1735695007,"30"]}]}}`,
		},
		{
			name: "instant query posted as a form", method: http.MethodPost, path: "/api/v1/query",
			form:       url.Values{"query": {`scalar(queue_depth)`}, "time": {at}},
			wantStatus: http.StatusOK,
			wantBody:   `{"status":"success","data":{"resultType":"scalar","result":[1735695007,"30"]}}`,
		},
		{
			name: "range query", method: http.MethodPost, path: "/api/v1/query_range",
			form:       url.Values{"query": {`queue_depth`}, "start": {"1735695007"}, "end": {"1735695067"}, "step": {"60"}},
			wantStatus: http.StatusOK,
			wantBody:   `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"queue_depth","job":"worker"},"values":[[1735695007,"30"],[1735695067,"32"]]}]}}`,
		},
		{
			name: "label values", method: http.MethodGet, path: "/api/v1/label/instance/values",
			form:       url.Values{"start": {"1735689600"}, "end": {"1735696800"}},
			wantStatus: http.StatusOK,
			wantBody:   `{"status":"success","data":["a","b"]}`,
		},
		{
			name: "series posted as a form", method: http.MethodPost, path: "/api/v1/series",
			form:       url.Values{"match[]": {`temperature_celsius`}, "start": {"1735689600"}, "end": {"1735696800"}},
			wantStatus: http.StatusOK,
			wantBody:   `{"status":"success","data":[{"__name__":"temperature_celsius","job":"sensor","room":"lab"}]}`,
		},
		{
			name: "parse error", method: http.MethodGet, path: "/api/v1/query",
			form:       url.Values{"query": {`sum(`}},
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis"}`,
		},
		{
			name: "execution error", method: http.MethodGet, path: "/api/v1/query",
			form:       url.Values{"query": {`http_requests_total + on (job) http_requests_total`}, "time": {at}},
			wantStatus: http.StatusUnprocessableEntity,
		},
		{
			name: "series without a selector", method: http.MethodGet, path: "/api/v1/series",
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"status":"error","errorType":"bad_data","error":"no match[] parameter provided"}`,
		},
		{name: "admin API not served", method: http.MethodPost, path: "/api/v1/admin/tsdb/snapshot", wantStatus: http.StatusNotFound},
		{name: "remote write not served", method: http.MethodPost, path: "/api/v1/write", wantStatus: http.StatusNotFound},
		{name: "configuration not served", method: http.MethodGet, path: "/api/v1/status/config", wantStatus: http.StatusNotFound},
		{
			name: "no rules", method: http.MethodGet, path: "/api/v1/rules",
			wantStatus: http.StatusOK,
			wantBody:   `{"status":"success","data":{"groups":[]}}`,
		},
		{
			name: "no alerts", method: http.MethodGet, path: "/api/v1/alerts",
			wantStatus: http.StatusOK,
			wantBody:   `{"status":"success","data":{"alerts":[]}}`,
		},
		{name: "label values only by GET", method: http.MethodPost, path: "/api/v1/label/job/values", wantStatus: http.StatusMethodNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := call(t, tc.method, base+tc.path, tc.form)
			require.Equal(t, tc.wantStatus, status, body)
			if tc.wantBody != "" {
				require.Equal(t, tc.wantBody, body)
			}
			if status >= 400 && strings.HasPrefix(tc.path, "/api/v1/query") {
				var e struct{ Status, ErrorType, Error string }
				require.NoError(t, json.Unmarshal([]byte(body), &e))
				require.Equal(t, "error", e.Status)
				require.NotEmpty(t, e.ErrorType)
				require.NotEmpty(t, e.Error)
			}
		})
	}
}

// TestPrometheusVersionIsGoMods holds PrometheusVersion to the module
// version in go.mod: v0.MMmm.p is release M.mm.p.
func TestPrometheusVersionIsGoMods(t *testing.T) {
	mod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^\s*github\.com/prometheus/prometheus v0\.(\d+)(\d\d)\.(\d+)\b`).FindStringSubmatch(string(mod))
	require.NotNil(t, m, "github.com/prometheus/prometheus in go.mod")
	minor, err := strconv.Atoi(m[2])
	require.NoError(t, err)
	require.Equal(t, prometheus.PrometheusVersion, fmt.Sprintf("%s.%d.%s", m[1], minor, m[3]))
}

func call(t *testing.T, method, u string, form url.Values) (int, string) {
	t.Helper()
	var body io.Reader
	if method == http.MethodGet {
		u += "?" + form.Encode()
	} else {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, body)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}
