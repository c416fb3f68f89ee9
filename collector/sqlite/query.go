package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/estatehq/estate/collector"
)

var _ collector.QueryStore = (*Store)(nil)

// QueryLogs implements collector.QueryStore.
func (s *Store) QueryLogs(ctx context.Context, q collector.LogQuery) ([]collector.LogRecord, error) {
	var where []string
	var args []any
	if q.Service != "" {
		where, args = append(where, "service = ?"), append(args, q.Service)
	}
	if q.Level != "" {
		n, ok := LevelNumber(q.Level)
		if !ok {
			return nil, fmt.Errorf("unknown level %q", q.Level)
		}
		where, args = append(where, "level >= ?"), append(args, n)
	}
	if q.TraceID != "" {
		where, args = append(where, "trace_id = ?"), append(args, strings.ToLower(q.TraceID))
	}
	if q.Text != "" {
		where, args = append(where, `body LIKE ? ESCAPE '\'`), append(args, "%"+escapeLike(q.Text)+"%")
	}
	if !q.From.IsZero() {
		where, args = append(where, "ts >= ?"), append(args, q.From.UnixNano())
	}
	if !q.To.IsZero() {
		where, args = append(where, "ts < ?"), append(args, q.To.UnixNano())
	}
	sqlq := `SELECT id, ts, service, level, severity, body, trace_id, span_id, attributes, resource FROM logs`
	if len(where) > 0 {
		sqlq += " WHERE " + strings.Join(where, " AND ")
	}
	sqlq += " ORDER BY ts DESC, id DESC LIMIT ?"
	args = append(args, limit(q.Limit))
	rows, err := s.r.QueryContext(ctx, sqlq, args...)
	if err != nil {
		return nil, fmt.Errorf("querying logs: %w", err)
	}
	defer rows.Close()
	out := []collector.LogRecord{}
	for rows.Next() {
		var l collector.LogRecord
		var ts int64
		var level int
		var attrs, res string
		if err := rows.Scan(&l.ID, &ts, &l.Service, &level, &l.SeverityNumber, &l.Body, &l.TraceID, &l.SpanID, &attrs, &res); err != nil {
			return nil, fmt.Errorf("reading logs: %w", err)
		}
		l.Time = time.Unix(0, ts).UTC()
		l.Level = levels[min(max(level, 0), len(levels)-1)]
		l.Attributes, l.Resource = fromJSON(attrs), fromJSON(res)
		out = append(out, l)
	}
	return out, rows.Err()
}

// Trace implements collector.QueryStore.
func (s *Store) Trace(ctx context.Context, id string) ([]collector.Span, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT trace_id, span_id, parent_span_id, service, name, kind, start, end,
		status_code, status_message, attributes, resource, events FROM spans WHERE trace_id = ? ORDER BY start, span_id`, strings.ToLower(id))
	if err != nil {
		return nil, fmt.Errorf("querying trace: %w", err)
	}
	defer rows.Close()
	var out []collector.Span
	for rows.Next() {
		var sp collector.Span
		var start, end int64
		var attrs, res, events string
		if err := rows.Scan(&sp.TraceID, &sp.SpanID, &sp.ParentSpanID, &sp.Service, &sp.Name, &sp.Kind, &start, &end,
			&sp.StatusCode, &sp.StatusMessage, &attrs, &res, &events); err != nil {
			return nil, fmt.Errorf("reading trace: %w", err)
		}
		sp.Start, sp.End = time.Unix(0, start).UTC(), time.Unix(0, end).UTC()
		sp.DurationMS = float64(end-start) / 1e6
		sp.Attributes, sp.Resource = fromJSON(attrs), fromJSON(res)
		if events != "[]" {
			_ = json.Unmarshal([]byte(events), &sp.Events)
		}
		out = append(out, sp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading trace: %w", err)
	}
	if len(out) == 0 {
		return nil, collector.ErrNotFound
	}
	return out, nil
}

// QueryTraces implements collector.QueryStore.
func (s *Store) QueryTraces(ctx context.Context, q collector.TraceQuery) ([]collector.TraceSummary, error) {
	var where []string
	var args []any
	if q.Service != "" {
		where, args = append(where, "service = ?"), append(args, q.Service)
	}
	if !q.From.IsZero() {
		where, args = append(where, "start >= ?"), append(args, q.From.UnixNano())
	}
	if !q.To.IsZero() {
		where, args = append(where, "start < ?"), append(args, q.To.UnixNano())
	}
	inner := "SELECT DISTINCT trace_id FROM spans"
	if len(where) > 0 {
		inner += " WHERE " + strings.Join(where, " AND ")
	}
	sqlq := `SELECT s.trace_id, MIN(s.start), MAX(s.end), COUNT(*),
		SUM(CASE WHEN s.status_code = 'error' THEN 1 ELSE 0 END),
		group_concat(DISTINCT s.service),
		(SELECT r.service || char(31) || r.name FROM spans r WHERE r.trace_id = s.trace_id AND r.parent_span_id = '' ORDER BY r.start LIMIT 1)
		FROM spans s WHERE s.trace_id IN (` + inner + `)
		GROUP BY s.trace_id HAVING MAX(s.end) - MIN(s.start) >= ?
		ORDER BY MIN(s.start) DESC LIMIT ?`
	args = append(args, int64(q.MinDuration), limit(q.Limit))
	rows, err := s.r.QueryContext(ctx, sqlq, args...)
	if err != nil {
		return nil, fmt.Errorf("querying traces: %w", err)
	}
	defer rows.Close()
	out := []collector.TraceSummary{}
	for rows.Next() {
		var t collector.TraceSummary
		var start, end int64
		var services string
		var root *string
		if err := rows.Scan(&t.TraceID, &start, &end, &t.Spans, &t.Errors, &services, &root); err != nil {
			return nil, fmt.Errorf("reading traces: %w", err)
		}
		t.Start = time.Unix(0, start).UTC()
		t.DurationMS = float64(end-start) / 1e6
		t.Services = strings.Split(services, ",")
		if root != nil {
			t.RootService, t.RootName, _ = strings.Cut(*root, "\x1f")
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func limit(n int) int {
	if n <= 0 {
		return 100
	}
	return n
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func fromJSON(s string) map[string]any {
	if s == "" || s == "{}" {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil
	}
	return m
}
