package promquerytest

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// APIBackend is a server speaking Prometheus's HTTP API, loaded with Data,
// through Prometheus's own API client.
type APIBackend struct {
	Name string
	API  v1.API
}

// RunAPI asks every backend for series, label names and label values of
// Data, over its whole span: each must answer what Data holds.
func RunAPI(t *testing.T, backends ...APIBackend) {
	t.Helper()
	data := Data()
	end := Start.Add(Span)
	names, values := map[model.LabelName]bool{}, map[string]map[string]bool{}
	for _, s := range data {
		for k, v := range metric(s) {
			names[k] = true
			if values[string(k)] == nil {
				values[string(k)] = map[string]bool{}
			}
			values[string(k)][string(v)] = true
		}
	}
	seriesOf := func(match func(Series) bool) []model.LabelSet {
		var out []model.LabelSet
		for _, s := range data {
			if match(s) {
				out = append(out, model.LabelSet(metric(s)))
			}
		}
		return sortSets(out)
	}
	type apiCase struct {
		name string
		ask  func(context.Context, v1.API) (any, error)
		want any
	}
	cases := []apiCase{
		{"series", func(ctx context.Context, api v1.API) (any, error) {
			s, _, _, err := api.Series(ctx, []string{`http_requests_total{instance="b"}`}, Start, end)
			return sortSets(s), err
		}, seriesOf(func(s Series) bool { return s.Name == "http_requests_total" && s.Labels["instance"] == "b" })},
		{"series of two selectors", func(ctx context.Context, api v1.API) (any, error) {
			s, _, _, err := api.Series(ctx, []string{`queue_depth`, `{__name__=~"temperature.*"}`}, Start, end)
			return sortSets(s), err
		}, seriesOf(func(s Series) bool { return s.Type == "gauge" })},
		{"label names", func(ctx context.Context, api v1.API) (any, error) {
			n, _, _, err := api.LabelNames(ctx, nil, Start, end)
			return n, err
		}, model.LabelNames(slices.Sorted(maps.Keys(names)))},
		{"label names of a selector", func(ctx context.Context, api v1.API) (any, error) {
			n, _, _, err := api.LabelNames(ctx, []string{`queue_depth`}, Start, end)
			return n, err
		}, model.LabelNames{"__name__", "job"}},
		{"label values", func(ctx context.Context, api v1.API) (any, error) {
			v, _, _, err := api.LabelValues(ctx, "le", nil, Start, end)
			return v, err
		}, labelValues(values["le"])},
		{"metric names", func(ctx context.Context, api v1.API) (any, error) {
			v, _, _, err := api.LabelValues(ctx, model.MetricNameLabel, nil, Start, end)
			return v, err
		}, labelValues(values[model.MetricNameLabel])},
		{"label values of a selector", func(ctx context.Context, api v1.API) (any, error) {
			v, _, _, err := api.LabelValues(ctx, "job", []string{`{instance="a"}`}, Start, end)
			return v, err
		}, model.LabelValues{"api"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			for _, b := range backends {
				got, err := c.ask(ctx, b.API)
				require.NoError(t, err, b.Name)
				require.Equal(t, c.want, got, b.Name)
			}
		})
	}
}

func sortSets(s []model.LabelSet) []model.LabelSet {
	return slices.SortedFunc(slices.Values(s), func(a, b model.LabelSet) int {
		switch {
		case a.Before(b):
			return -1
		case b.Before(a):
			return 1
		}
		return 0
	})
}

func labelValues(set map[string]bool) model.LabelValues {
	out := model.LabelValues{}
	for _, v := range slices.Sorted(maps.Keys(set)) {
		out = append(out, model.LabelValue(v))
	}
	return out
}
