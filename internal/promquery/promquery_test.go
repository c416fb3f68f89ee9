package promquery

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/stretchr/testify/require"
)

// loaded is an engine over a few series, in promqltest's load syntax:
// times are offsets from the Unix epoch.
func loaded(t *testing.T) *Engine {
	t.Helper()
	st := promqltest.LoadedStorage(t, `
load 1m
	requests_total{service="inv",code="200"} 0+10x10
	requests_total{service="inv",code="500"} 0+1x10
`)
	return NewEngine(promqltest.NewTestEngine(t, false, 5*time.Minute, 50000000), st)
}

func TestEngineInstantVectorAndScalar(t *testing.T) {
	e := loaded(t)
	ctx := context.Background()
	at := time.Unix(600, 0)
	v, err := e.Query(ctx, `sum by (code) (requests_total)`, at)
	require.NoError(t, err)
	vec, ok := v.(model.Vector)
	require.True(t, ok, "%T", v)
	require.Len(t, vec, 2)
	got := map[string]float64{}
	for _, s := range vec {
		got[string(s.Metric["code"])] = float64(s.Value)
		require.Equal(t, model.TimeFromUnix(600), s.Timestamp)
	}
	require.Equal(t, map[string]float64{"200": 100, "500": 10}, got)

	v, err = e.Query(ctx, `scalar(sum(requests_total{code="500"})) / 2`, at)
	require.NoError(t, err)
	require.Equal(t, model.SampleValue(5), v.(*model.Scalar).Value)
}

func TestEngineRangeSelectorGivesRawSamples(t *testing.T) {
	e := loaded(t)
	v, err := e.Query(context.Background(), `requests_total{code="500"}[3m]`, time.Unix(600, 0))
	require.NoError(t, err)
	m := v.(model.Matrix)
	require.Len(t, m, 1)
	var values []float64
	for _, p := range m[0].Values {
		values = append(values, float64(p.Value))
	}
	require.Equal(t, []float64{8, 9, 10}, values, "samples in (t-3m, t]")
}

func TestEngineRangeQuery(t *testing.T) {
	e := loaded(t)
	m, err := e.QueryRange(context.Background(), `sum(requests_total)`, Range{Start: time.Unix(0, 0), End: time.Unix(120, 0), Step: time.Minute})
	require.NoError(t, err)
	require.Len(t, m, 1)
	require.Equal(t, []model.SamplePair{{Timestamp: 0, Value: 0}, {Timestamp: 60000, Value: 11}, {Timestamp: 120000, Value: 22}}, m[0].Values)

	_, err = e.QueryRange(context.Background(), `sum(requests_total)`, Range{Start: time.Unix(0, 0), End: time.Unix(120, 0)})
	requireErrorType(t, err, ErrBadData)
	// As Prometheus's API answers: a range query of a range vector is bad
	// data, not an execution error.
	_, err = e.QueryRange(context.Background(), `requests_total[5m]`, Range{Start: time.Unix(0, 0), End: time.Unix(120, 0), Step: time.Minute})
	requireErrorType(t, err, ErrBadData)
}

func TestEngineErrorTypes(t *testing.T) {
	e := loaded(t)
	_, err := e.Query(context.Background(), `sum(requests_total`, time.Unix(600, 0))
	requireErrorType(t, err, ErrBadData)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = e.Query(ctx, `sum(requests_total)`, time.Unix(600, 0))
	requireErrorType(t, err, ErrCanceled)
}

func requireErrorType(t *testing.T, err error, want ErrorType) {
	t.Helper()
	var qe *Error
	require.ErrorAs(t, err, &qe)
	require.Equal(t, want, qe.Type, qe.Msg)
}

// TestHTTPAnswersAndErrors reads Prometheus's API answers, as a server
// speaking it writes them.
func TestHTTPAnswersAndErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.FormValue("query") {
		case "up":
			_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"inv"},"value":[600,"1"]}]}}`))
		case "bad(":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"status":"error","errorType":"bad_data","error":"1:5: parse error: unclosed left parenthesis"}`))
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"error","errorType":"unavailable","error":"the store is closing"}`))
		}
	}))
	defer srv.Close()
	h, err := NewHTTP(HTTPOptions{URL: srv.URL})
	require.NoError(t, err)
	ctx := context.Background()
	v, err := h.Query(ctx, "up", time.Unix(600, 0))
	require.NoError(t, err)
	require.Equal(t, model.Vector{{Metric: model.Metric{"__name__": "up", "job": "inv"}, Value: 1, Timestamp: model.TimeFromUnix(600)}}, v)
	_, err = h.Query(ctx, "bad(", time.Unix(600, 0))
	requireErrorType(t, err, ErrBadData)
	_, err = h.Query(ctx, "other", time.Unix(600, 0))
	requireErrorType(t, err, ErrUnavailable)

	srv.Close()
	_, err = h.Query(ctx, "up", time.Unix(600, 0))
	requireErrorType(t, err, ErrUnavailable)
}
