//go:build otelcol

// The comparison with the OpenTelemetry Collector needs a collector built
// with its builder (about 10 minutes cold), so it is not part of `make
// test`: run it with -tags otelcol, as docs/benchmarks.md says.

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/estatehq/estate/internal/jaegertest"
	"github.com/estatehq/estate/internal/testenv"
)

// otelcolConfig is the OpenTelemetry Collector 0.165 side of the zero-loss
// comparison, built from bench/otelcol/builder-config.yaml: OTLP/HTTP in;
// logs to the OTLP/HTTP sink and traces to Jaeger's OTLP/HTTP receiver, each
// through a persistent sending queue on file_storage with fsync on (its
// closest equivalent of Estate's durable queue); retry settings are the
// defaults.
const otelcolConfig = `extensions:
  file_storage:
    directory: %[1]s
    fsync: true
    create_directory: true
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%[2]d
exporters:
  otlp_http/logs:
    endpoint: %[3]s
    compression: none
    sending_queue:
      enabled: true
      storage: file_storage
      queue_size: 1000000
      sizer: items
  otlp_http/traces:
    endpoint: %[4]s
    compression: none
    sending_queue:
      enabled: true
      storage: file_storage
      queue_size: 1000000
      sizer: items
service:
  extensions: [file_storage]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [otlp_http/logs]
    traces:
      receivers: [otlp]
      exporters: [otlp_http/traces]
`

// TestZeroLossOpenTelemetryCollector runs the zero-loss harness against the
// OpenTelemetry Collector 0.165 for comparison: five SIGKILLs, the log sink
// down for a while and answering some requests 503, Jaeger restarted. It
// reports losses rather than failing on them; ESTATE_OTELCOL_BIN names the
// collector built from bench/otelcol/.
func TestZeroLossOpenTelemetryCollector(t *testing.T) {
	bin := testenv.Binary(t, "otelcol-bench", "ESTATE_OTELCOL_BIN", "build the OpenTelemetry Collector from bench/otelcol/builder-config.yaml and set ESTATE_OTELCOL_BIN")
	n := zeroLossN(t)
	jg := jaegertest.Start(t, jaegertest.Options{BadgerDir: t.TempDir()})
	sink := startSink(t, n/zeroLossBatch)

	dir := t.TempDir()
	port := jaegertest.FreePorts(t, 1)[0]
	cfgPath := filepath.Join(dir, "otelcol.yaml")
	require.NoError(t, os.WriteFile(cfgPath,
		fmt.Appendf(nil, otelcolConfig, filepath.Join(dir, "queue"), port, sink.url(), jg.OTLPHTTP), 0o600))
	col := &collectorProc{
		bin: bin, dataDir: dir, args: []string{"--config", cfgPath},
		OTLPHTTP: fmt.Sprintf("http://127.0.0.1:%d", port),
		logPath:  filepath.Join(dir, "otelcol.log"),
	}
	col.ready = func() error {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	}
	col.cleanup(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	require.NoError(t, col.start(ctx))
	peakQueue, stopSampling := sampleWhileRunning(ctx, col, filepath.Join(dir, "queue"))
	defer stopSampling()

	var downAt time.Time
	streamed, _ := stream(ctx, t, n, col, []chaosStep{
		{at: 0.25, name: "log sink down", do: func(context.Context) error {
			downAt = time.Now()
			sink.down()
			return nil
		}},
		{at: 0.45, name: "log sink up", do: func(context.Context) error {
			time.Sleep(time.Until(downAt.Add(3 * time.Second)))
			return sink.up()
		}},
		{at: 0.60, name: "jaeger restart", do: jg.Restart},
	})

	// There is no queue gauge to wait on: wait until the sink holds every
	// record, or nothing has arrived for 60 s.
	drainStart := time.Now()
	last, lastChange := -1, time.Now()
	for time.Since(lastChange) < 60*time.Second && time.Since(drainStart) < 4*time.Minute {
		if got := sink.unique(); got != last {
			last, lastChange = got, time.Now()
			if got >= n {
				break
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	col.sample()
	var missing, dup int
	for i := range n {
		switch c := sink.count(logMessage(i)); {
		case c == 0:
			missing++
		case c > 1:
			dup++
		}
	}
	spansMissing, spansDup, _ := countSpans(ctx, t, jg, n)
	for spansMissing > 0 && time.Since(drainStart) < 5*time.Minute {
		time.Sleep(5 * time.Second)
		m, d, _ := countSpans(ctx, t, jg, n)
		if m == spansMissing {
			break
		}
		spansMissing, spansDup = m, d
	}
	t.Logf("OTELCOL-ZERO-LOSS N=%d logs_lost=%d logs_dup=%d spans_lost=%d spans_dup=%d kills=5 stream=%v drain=%v peak_rss_mib=%.1f queue_peak_mib=%.1f",
		n, missing, dup, spansMissing, spansDup, streamed.Round(time.Millisecond), time.Since(drainStart).Round(time.Millisecond),
		float64(col.peakRSSKB())/1024, float64(peakQueue.Load())/(1<<20))
	if testenv.Strict() && (missing > 0 || spansMissing > 0) {
		t.Logf("the OpenTelemetry Collector lost records; this comparison reports it and does not fail")
	}
}

// logSink is an OTLP/HTTP logs receiver that counts each record's body and
// can go down (connection refused) and come back on the same port. The
// first failFirst times, every 10th request is answered 503.
type logSink struct {
	addr string

	mu        sync.Mutex
	srv       *http.Server
	seen      map[string]int
	requests  int
	failFirst int
}

func startSink(t *testing.T, failFirst int) *logSink {
	t.Helper()
	s := &logSink{addr: fmt.Sprintf("127.0.0.1:%d", jaegertest.FreePorts(t, 1)[0]), seen: map[string]int{}, failFirst: failFirst}
	require.NoError(t, s.up())
	t.Cleanup(s.down)
	return s
}

func (s *logSink) url() string { return "http://" + s.addr }

func (s *logSink) up() error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			panic(err)
		}
	}()
	return nil
}

func (s *logSink) down() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

func (s *logSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.requests++
	if s.requests%10 == 0 && s.failFirst > 0 {
		s.failFirst--
		s.mu.Unlock()
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	rls := req.Logs().ResourceLogs()
	for i := range rls.Len() {
		sls := rls.At(i).ScopeLogs()
		for j := range sls.Len() {
			lrs := sls.At(j).LogRecords()
			for k := range lrs.Len() {
				s.seen[lrs.At(k).Body().Str()]++
			}
		}
	}
	s.mu.Unlock()
	out, _ := plogotlp.NewExportResponse().MarshalProto()
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (s *logSink) unique() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

func (s *logSink) count(body string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[body]
}
