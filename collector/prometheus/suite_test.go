package prometheus_test

import (
	"testing"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/collector/prometheus"
	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/internal/promquery/promquerytest"
)

// loaded is a store holding the suite's series, appended as a feed
// appends, and the URL of its Prometheus API.
func loaded(t *testing.T) (*prometheus.Store, string) {
	t.Helper()
	s := open(t, t.TempDir(), defaults(t), nil)
	require.NoError(t, promquerytest.Append(t.Context(), s.Appendable(), promquerytest.Data()))
	return s, serve(t, s, prometheus.APIOptions{})
}

func httpBackend(t *testing.T, url string) promquery.Querier {
	t.Helper()
	q, err := promquery.NewHTTP(promquery.HTTPOptions{URL: url})
	require.NoError(t, err)
	return q
}

func apiClient(t *testing.T, url string) v1.API {
	t.Helper()
	c, err := api.NewClient(api.Config{Address: url})
	require.NoError(t, err)
	return v1.NewAPI(c)
}

// TestQueryInterface runs the query suite against a real Prometheus 2.42,
// whose blocks promtool made from the suite's series, and against the
// embedded store, in process and through its HTTP API: every question has
// the same answer on all three.
func TestQueryInterface(t *testing.T) {
	real := promquerytest.StartPrometheus(t, promquerytest.PrometheusOptions{DataDir: promquerytest.CreateBlocks(t, promquerytest.Data())})
	s, url := loaded(t)
	promquerytest.Run(t,
		promquerytest.Backend{Name: "prometheus 2.42", Querier: httpBackend(t, real)},
		promquerytest.Backend{Name: "embedded", Querier: s.Querier()},
		promquerytest.Backend{Name: "embedded API", Querier: httpBackend(t, url)},
	)
	promquerytest.RunAPI(t,
		promquerytest.APIBackend{Name: "prometheus 2.42", API: apiClient(t, real)},
		promquerytest.APIBackend{Name: "embedded API", API: apiClient(t, url)},
	)
}
