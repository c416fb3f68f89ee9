package red

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func span(kind ptrace.SpanKind, name string, attrs map[string]any, status ptrace.StatusCode) ptrace.Span {
	s := ptrace.NewSpan()
	s.SetKind(kind)
	s.SetName(name)
	_ = s.Attributes().FromRaw(attrs)
	s.Status().SetCode(status)
	start := time.Date(2026, 1, 1, 10, 0, 59, 0, time.UTC)
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(1500 * time.Millisecond)))
	return s
}

func TestFromSpan(t *testing.T) {
	minute := time.Date(2026, 1, 1, 10, 1, 0, 0, time.UTC)
	tests := []struct {
		name string
		span ptrace.Span
		want Observation
		ok   bool
	}{
		{"client spans do not count", span(ptrace.SpanKindClient, "GET", nil, 0), Observation{}, false},
		{"http route and status", span(ptrace.SpanKindServer, "GET /invoices/{id}", map[string]any{
			"http.route": "/invoices/{id}", "http.request.method": "GET", "http.response.status_code": 503}, 0),
			Observation{Key{"inv", "GET /invoices/{id}", "5xx"}, minute, 1500 * time.Millisecond, true}, true},
		{"old semconv", span(ptrace.SpanKindServer, "x", map[string]any{"http.status_code": "404"}, 0),
			Observation{Key{"inv", "x", "4xx"}, minute, 1500 * time.Millisecond, false}, true},
		{"rpc", span(ptrace.SpanKindServer, "x", map[string]any{"rpc.service": "credit.v1.Credit", "rpc.method": "Apply"}, ptrace.StatusCodeError),
			Observation{Key{"inv", "credit.v1.Credit/Apply", "error"}, minute, 1500 * time.Millisecond, true}, true},
		{"consumer, ok", span(ptrace.SpanKindConsumer, "invoice.sent process", nil, ptrace.StatusCodeOk),
			Observation{Key{"inv", "invoice.sent process", "ok"}, minute, 1500 * time.Millisecond, false}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := FromSpan("inv", tt.span)
			require.Equal(t, tt.ok, ok)
			require.Empty(t, cmp.Diff(tt.want, got))
		})
	}
}

func TestAdmitBoundsSeries(t *testing.T) {
	r := New(Options{MaxSeries: 2})
	a, b, c := Key{"s", "a", "2xx"}, Key{"s", "b", "2xx"}, Key{"s", "c", "5xx"}
	require.Equal(t, a, r.Admit(a))
	require.Equal(t, b, r.Admit(b))
	require.Equal(t, Key{Overflow, Overflow, "5xx"}, r.Admit(c))
	require.Equal(t, a, r.Admit(a), "known series stay")
}
