package otlpexporter_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/estatehq/estate/collector"
	"github.com/estatehq/estate/collector/otlp"
	"github.com/estatehq/estate/collector/otlpexporter"
	"github.com/estatehq/estate/internal/delivery"
	"github.com/estatehq/estate/internal/delivery/deliverytest"
)

// memoryQueue is the receiver's Appender in memory: it records what it was
// given, after refusing the first appends as a full queue does.
type memoryQueue struct {
	mu      sync.Mutex
	refuse  int
	records [][]byte
}

func (q *memoryQueue) Append(_ context.Context, records ...[]byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.refuse > 0 {
		q.refuse--
		return delivery.Throttle(errors.New("queue full"), 2*time.Second)
	}
	q.records = append(q.records, records...)
	return nil
}

func (q *memoryQueue) items(t *testing.T) []collector.Item {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	var items []collector.Item
	for _, rec := range q.records {
		sig, payload, err := collector.DecodeRecord(rec)
		require.NoError(t, err)
		items = append(items, collector.Item{Signal: sig, Payload: payload})
	}
	return items
}

// TestRoundTripThroughTheCollectorsReceiver proves the exporter against a
// real OTLP receiver, the collector's own, in both protocols: what it sends
// is what the receiver queues, and the receiver's push-back (a full queue)
// is waited out as the receiver asks.
func TestRoundTripThroughTheCollectorsReceiver(t *testing.T) {
	for _, protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			q := &memoryQueue{refuse: 1}
			rcv, err := otlp.New(otlp.Options{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Queue: q, Registry: prometheus.NewRegistry()})
			require.NoError(t, err)
			require.NoError(t, rcv.Start(t.Context()))
			t.Cleanup(func() { require.NoError(t, rcv.Shutdown(context.Background())) })
			addr := rcv.GRPCAddr()
			if protocol == otlpexporter.ProtocolHTTP {
				addr = rcv.HTTPAddr()
			}

			var sl deliverytest.Sleeps
			cfg := defaults(t, "--otlp-endpoint", "http://"+addr, "--otlp-protocol", protocol)
			exp, err := otlpexporter.New(cfg, otlpexporter.Options{Sleep: sl.Sleep})
			require.NoError(t, err)
			require.NoError(t, exp.Start(t.Context()))
			defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()

			td, ld, md := makeTraces(4), makeLogs(3), makeMetrics(2)
			require.NoError(t, exp.ExportTraces(t.Context(), td))
			require.NoError(t, exp.ExportLogs(t.Context(), ld))
			require.NoError(t, exp.ExportMetrics(t.Context(), md))
			require.Equal(t, []time.Duration{2 * time.Second}, sl.All(), "the receiver's delay for its full queue")

			items := q.items(t)
			require.Len(t, items, 3)
			gotTraces, err := items[0].Traces()
			require.NoError(t, err)
			gotLogs, err := items[1].Logs()
			require.NoError(t, err)
			gotMetrics, err := items[2].Metrics()
			require.NoError(t, err)
			require.Equal(t, protoOf(t, ptraceotlp.NewExportRequestFromTraces(td)), protoOf(t, ptraceotlp.NewExportRequestFromTraces(gotTraces)))
			require.Equal(t, protoOf(t, plogotlp.NewExportRequestFromLogs(ld)), protoOf(t, plogotlp.NewExportRequestFromLogs(gotLogs)))
			require.Equal(t, protoOf(t, pmetricotlp.NewExportRequestFromMetrics(md)), protoOf(t, pmetricotlp.NewExportRequestFromMetrics(gotMetrics)))
		})
	}
}

func protoOf(t *testing.T, m interface{ MarshalProto() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.MarshalProto()
	require.NoError(t, err)
	return b
}
