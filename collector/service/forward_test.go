package service

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/estatehq/estate/collector"
	"github.com/estatehq/estate/internal/testenv"
)

// signalCounter records the signals a sink is handed, then passes them on.
type signalCounter struct {
	collector.Sink
	mu   sync.Mutex
	seen map[collector.Signal]int
}

func (c *signalCounter) Deliver(ctx context.Context, items []collector.Item) error {
	if err := c.Sink.Deliver(ctx, items); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, it := range items {
		c.seen[it.Signal]++
	}
	return nil
}

func (c *signalCounter) count(sig collector.Signal) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[sig]
}

// TestForwardOverOTLP chains two collectors, as an agent forwards to a
// gateway: the agent keeps nothing itself and forwards every signal over
// OTLP (gRPC, then HTTP) to the gateway, which stores logs and traces and
// receives the metrics.
func TestForwardOverOTLP(t *testing.T) {
	for _, protocol := range []string{"grpc", "http"} {
		t.Run(protocol, func(t *testing.T) {
			local := &signalCounter{seen: map[collector.Signal]int{}}
			gateway := start(t, Options{Config: testConfig(t), WrapSink: func(s collector.Sink) collector.Sink {
				if s.Name() != "local" {
					return s
				}
				local.Sink = s
				return local
			}})
			cfg := testConfig(t)
			cfg.Collector.Store.Signals = []string{}
			cfg.OTLP.Protocol = protocol
			cfg.OTLP.Endpoint = "http://" + gateway.OTLPGRPCAddr()
			if protocol == "http" {
				cfg.OTLP.Endpoint = "http://" + gateway.OTLPHTTPAddr()
			}
			agent := start(t, Options{Config: cfg})
			c := client(t)

			b, err := logsRequest("fwd", "forwarded-1", "forwarded-2").MarshalProto()
			require.NoError(t, err)
			resp, _ := post(t, c, "http://"+agent.OTLPHTTPAddr()+"/v1/logs", "application/x-protobuf", b, false)
			require.Equal(t, 200, resp.StatusCode)
			b, err = tracesRequest("fwd", pcommon.TraceID{7, 7}, 2, false).MarshalProto()
			require.NoError(t, err)
			resp, _ = post(t, c, "http://"+agent.OTLPHTTPAddr()+"/v1/traces", "application/x-protobuf", b, false)
			require.Equal(t, 200, resp.StatusCode)
			resp, _ = post(t, c, "http://"+agent.OTLPHTTPAddr()+"/v1/metrics", "application/x-protobuf", gaugeRequest(t, "fwd", "fwd_gauge", 1), false)
			require.Equal(t, 200, resp.StatusCode)

			require.Len(t, waitLogs(t, c, gateway.URL(), "fwd", 2), 2, "the gateway stores the forwarded logs")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			require.NoError(t, testenv.WaitFor(ctx, 50*time.Millisecond, func() error {
				var trace struct{ Spans []collector.Span }
				if code := getJSON(t, c, gateway.URL()+"/v1/traces/07070000000000000000000000000000", &trace); code != 200 || len(trace.Spans) != 2 {
					return fmt.Errorf("trace: status %d, %d spans", code, len(trace.Spans))
				}
				if n := local.count(collector.SignalMetrics); n == 0 {
					return fmt.Errorf("no metrics reached the gateway")
				}
				return nil
			}))

			// The gateway keeps the forwarded metrics in its metrics store.
			waitQuery(t, metricsQuerier(gateway), "fwd_gauge", model.LabelSet{"job": "fwd"}, 1)

			var none struct{ Logs []collector.LogRecord }
			require.Equal(t, 200, getJSON(t, c, agent.URL()+"/v1/logs?service=fwd", &none))
			require.Empty(t, none.Logs, "the agent keeps nothing: store signals none")
		})
	}
}
