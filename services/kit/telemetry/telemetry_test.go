package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/services/kit/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLogsCarryTraceIDs(t *testing.T) {
	var buf bytes.Buffer
	tel, err := telemetry.New(context.Background(), telemetry.Options{ServiceName: "test", Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	require.NoError(t, err)
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()

	ctx, span := tel.TracerProvider.Tracer("t").Start(context.Background(), "op")
	tel.Logger().With("k", "v").InfoContext(ctx, "inside")
	span.End()
	tel.Logger().Info("outside")

	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	require.Len(t, lines, 2)
	var in, out map[string]any
	require.NoError(t, json.Unmarshal(lines[0], &in))
	require.NoError(t, json.Unmarshal(lines[1], &out))
	require.Equal(t, span.SpanContext().TraceID().String(), in["trace_id"])
	require.Equal(t, span.SpanContext().SpanID().String(), in["span_id"])
	require.Equal(t, "v", in["k"])
	require.NotContains(t, out, "trace_id")
}

func TestExportOnlyWhenConfigured(t *testing.T) {
	// With no endpoint, nothing is exported and nothing complains.
	var buf bytes.Buffer
	tel, err := telemetry.New(context.Background(), telemetry.Options{ServiceName: "test", Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	require.NoError(t, err)
	_, span := tel.TracerProvider.Tracer("t").Start(context.Background(), "op")
	span.End()
	require.NoError(t, tel.Shutdown(context.Background()))
	require.Empty(t, buf.String())

	// With an endpoint that is down, the service still starts; the exporters
	// connect lazily and stop within the shutdown deadline.
	tel, err = telemetry.New(context.Background(), telemetry.Options{ServiceName: "test", Config: telemetry.Config{OTLPEndpoint: "127.0.0.1:1", OTLPInsecure: true}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = tel.Shutdown(ctx) // an unreachable collector may report the unsent batch
}

func TestConfigValidate(t *testing.T) {
	require.NoError(t, (&telemetry.Config{}).Validate())
	require.NoError(t, (&telemetry.Config{OTLPEndpoint: "collector:4317"}).Validate())
	require.ErrorContains(t, (&telemetry.Config{OTLPEndpoint: "collector"}).Validate(), "telemetry.otlp_endpoint")
	require.ErrorContains(t, (&telemetry.Config{OTLPRetryFor: -time.Second}).Validate(), "telemetry.otlp_retry_for")
}

// An export that fails for otlp_retry_for is dropped, and its spans and
// log records are counted.
func TestFailedExportsAreCounted(t *testing.T) {
	tel, err := telemetry.New(context.Background(), telemetry.Options{ServiceName: "test",
		Config: telemetry.Config{OTLPEndpoint: "127.0.0.1:1", OTLPInsecure: true, OTLPRetryFor: 300 * time.Millisecond}})
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	reg.MustRegister(tel.Collector())
	ctx, span := tel.TracerProvider.Tracer("t").Start(context.Background(), "op")
	tel.Logger().InfoContext(ctx, "inside")
	span.End()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = tel.Shutdown(sctx) // flushes: each export fails after 300 ms of retries

	got := map[string]float64{}
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		require.Equal(t, "estate_telemetry_export_dropped_total", f.GetName())
		for _, m := range f.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	require.Equal(t, map[string]float64{"traces": 1, "logs": 1}, got)
}
