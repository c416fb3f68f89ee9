package collector

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by queries for one thing that is not there.
var ErrNotFound = errors.New("not found")

// LogQuery selects log records; zero fields do not filter.
type LogQuery struct {
	Service string
	// Level is a severity name (trace, debug, info, warn, error, fatal):
	// records at that level or above.
	Level   string
	Text    string
	TraceID string
	From    time.Time
	To      time.Time
	Limit   int
}

// LogRecord is a stored log record.
type LogRecord struct {
	ID             string         `json:"id"`
	Time           time.Time      `json:"time"`
	Service        string         `json:"service"`
	Level          string         `json:"level"`
	SeverityNumber int            `json:"severity_number"`
	Body           string         `json:"body"`
	TraceID        string         `json:"trace_id,omitempty"`
	SpanID         string         `json:"span_id,omitempty"`
	Attributes     map[string]any `json:"attributes,omitempty"`
	Resource       map[string]any `json:"resource,omitempty"`
}

// TraceQuery selects traces; zero fields do not filter.
type TraceQuery struct {
	// Service keeps traces with at least one span of the service.
	Service     string
	MinDuration time.Duration
	From        time.Time
	To          time.Time
	Limit       int
}

// Span is a stored span.
type Span struct {
	TraceID       string         `json:"trace_id"`
	SpanID        string         `json:"span_id"`
	ParentSpanID  string         `json:"parent_span_id,omitempty"`
	Service       string         `json:"service"`
	Name          string         `json:"name"`
	Kind          string         `json:"kind"`
	Start         time.Time      `json:"start"`
	End           time.Time      `json:"end"`
	DurationMS    float64        `json:"duration_ms"`
	StatusCode    string         `json:"status_code"`
	StatusMessage string         `json:"status_message,omitempty"`
	Attributes    map[string]any `json:"attributes,omitempty"`
	Resource      map[string]any `json:"resource,omitempty"`
	Events        []SpanEvent    `json:"events,omitempty"`
}

// SpanEvent is an event of a span.
type SpanEvent struct {
	Time       time.Time      `json:"time"`
	Name       string         `json:"name"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

// TraceSummary is one trace in a list.
type TraceSummary struct {
	TraceID     string    `json:"trace_id"`
	RootService string    `json:"root_service,omitempty"`
	RootName    string    `json:"root_name,omitempty"`
	Start       time.Time `json:"start"`
	DurationMS  float64   `json:"duration_ms"`
	Spans       int       `json:"spans"`
	Errors      int       `json:"errors"`
	Services    []string  `json:"services"`
}

// QueryStore answers the query API. The embedded store implements it.
type QueryStore interface {
	// QueryLogs returns matching records, newest first.
	QueryLogs(ctx context.Context, q LogQuery) ([]LogRecord, error)
	// Trace returns a trace's spans by start time, or ErrNotFound.
	Trace(ctx context.Context, traceID string) ([]Span, error)
	// QueryTraces returns matching traces, newest first.
	QueryTraces(ctx context.Context, q TraceQuery) ([]TraceSummary, error)
}
