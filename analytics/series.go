package analytics

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/estatehq/estate/internal/promquery"
)

// The tables of series, read from the collector's metrics store through
// PromQL at 1-minute resolution.
const (
	TableRED = "red"
	TableSLO = "slo"
)

// REDRow is one service's route over one minute (table red), from the
// span-derived RED series (estate_red_*), partitioned by the minute's day.
type REDRow struct {
	// Minute starts the minute: the row counts what happened in
	// (minute, minute + 1m].
	Minute  time.Time `parquet:"minute,timestamp(microsecond:utc)" json:"minute"`
	Service string    `parquet:"service" json:"service"`
	Route   string    `parquet:"route" json:"route"`
	// Requests and Errors are PromQL's increase() over the minute:
	// extrapolated to the minute's edges, so not always whole.
	Requests float64 `parquet:"requests" json:"requests"`
	Errors   float64 `parquet:"errors" json:"errors"`
	// LatencyP50Seconds and LatencyP99Seconds are histogram_quantile over
	// the minute's buckets; NULL without requests.
	LatencyP50Seconds *float64 `parquet:"latency_p50_seconds,optional" json:"latency_p50_seconds"`
	LatencyP99Seconds *float64 `parquet:"latency_p99_seconds,optional" json:"latency_p99_seconds"`
}

// SLORow is one SLO at the end of one minute (table slo), from the
// estate_slo_* series, partitioned by the minute's day.
type SLORow struct {
	Minute  time.Time `parquet:"minute,timestamp(microsecond:utc)" json:"minute"`
	SLO     string    `parquet:"slo" json:"slo"`
	Service string    `parquet:"service" json:"service"`
	// The SLO's last values in the minute; NULL when it had none (no
	// events in its window, for the attainment).
	ObjectiveRatio            *float64 `parquet:"objective_ratio,optional" json:"objective_ratio"`
	AttainmentRatio           *float64 `parquet:"attainment_ratio,optional" json:"attainment_ratio"`
	ErrorBudgetRemainingRatio *float64 `parquet:"error_budget_remaining_ratio,optional" json:"error_budget_remaining_ratio"`
}

// seriesQuery is one column of a series table: its PromQL, and where its
// value goes.
type seriesQuery[T any] struct {
	expr string
	set  func(*T, float64)
}

func ptr(v float64) *float64 { return &v }

var redQueries = []seriesQuery[REDRow]{
	{`sum by (service, route) (increase(estate_red_requests_total[1m]))`, func(r *REDRow, v float64) { r.Requests = v }},
	{`sum by (service, route) (increase(estate_red_errors_total[1m]))`, func(r *REDRow, v float64) { r.Errors = v }},
	{`histogram_quantile(0.5, sum by (service, route, le) (rate(estate_red_request_duration_seconds_bucket[1m])))`, func(r *REDRow, v float64) { r.LatencyP50Seconds = ptr(v) }},
	{`histogram_quantile(0.99, sum by (service, route, le) (rate(estate_red_request_duration_seconds_bucket[1m])))`, func(r *REDRow, v float64) { r.LatencyP99Seconds = ptr(v) }},
}

var sloQueries = []seriesQuery[SLORow]{
	{`max by (slo, service) (last_over_time(estate_slo_objective_ratio[1m]))`, func(r *SLORow, v float64) { r.ObjectiveRatio = ptr(v) }},
	{`max by (slo, service) (last_over_time(estate_slo_attainment_ratio[1m]))`, func(r *SLORow, v float64) { r.AttainmentRatio = ptr(v) }},
	{`max by (slo, service) (last_over_time(estate_slo_error_budget_remaining_ratio[1m]))`, func(r *SLORow, v float64) { r.ErrorBudgetRemainingRatio = ptr(v) }},
}

// seriesRows runs the queries over the day that starts at d, a step a
// minute, and joins their answers into rows by minute and the labels
// named, sorted by minute then those labels. NaN values (a quantile of no
// requests) are left NULL.
func seriesRows[T any](ctx context.Context, q promquery.Querier, d time.Time, queries []seriesQuery[T], labels []string, row func(minute time.Time, ls []string) T) ([]T, error) {
	type key struct {
		minute time.Time
		labels string
	}
	byKey := map[key]*T{}
	r := promquery.Range{Start: d.Add(time.Minute), End: d.Add(24 * time.Hour), Step: time.Minute}
	for _, sq := range queries {
		m, err := q.QueryRange(ctx, sq.expr, r)
		if err != nil {
			return nil, fmt.Errorf("querying %s: %w", sq.expr, err)
		}
		for _, s := range m {
			ls := make([]string, len(labels))
			for i, l := range labels {
				ls[i] = string(s.Metric[model.LabelName(l)])
			}
			for _, p := range s.Values {
				v := float64(p.Value)
				if v != v { // NaN
					continue
				}
				minute := p.Timestamp.Time().UTC().Add(-time.Minute)
				k := key{minute, strings.Join(ls, "\x00")}
				t, ok := byKey[k]
				if !ok {
					nt := row(minute, ls)
					t = &nt
					byKey[k] = t
				}
				sq.set(t, v)
			}
		}
	}
	keys := make([]key, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(a.minute.Compare(b.minute), strings.Compare(a.labels, b.labels)) })
	rows := make([]T, len(keys))
	for i, k := range keys {
		rows[i] = *byKey[k]
	}
	return rows, nil
}

func redRows(ctx context.Context, q promquery.Querier, d time.Time) ([]REDRow, error) {
	return seriesRows(ctx, q, d, redQueries, []string{"service", "route"},
		func(m time.Time, ls []string) REDRow { return REDRow{Minute: m, Service: ls[0], Route: ls[1]} })
}

func sloRows(ctx context.Context, q promquery.Querier, d time.Time) ([]SLORow, error) {
	return seriesRows(ctx, q, d, sloQueries, []string{"slo", "service"},
		func(m time.Time, ls []string) SLORow { return SLORow{Minute: m, SLO: ls[0], Service: ls[1]} })
}
