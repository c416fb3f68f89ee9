package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/estatehq/estate/collector/elasticsearch/esdouble"
	"github.com/estatehq/estate/internal/jaegertest"
	"github.com/estatehq/estate/internal/testenv"
)

const (
	zeroLossBatch   = 500
	zeroLossService = "zeroloss"
	// Every rejectEvery-th record (from rejectOffset) is refused by the
	// double with a 400 mapping error, every time it is sent.
	rejectEvery, rejectOffset = 5000, 1234
	// zeroLossMinStream is the shortest time the records are streamed over.
	zeroLossMinStream = 30 * time.Second
)

// zeroLossN is how many log records and how many spans the harness sends:
// ESTATE_ZERO_LOSS_N, else 100 000 in strict mode (CI) and 20 000 otherwise.
func zeroLossN(t *testing.T) int {
	t.Helper()
	if v := os.Getenv("ESTATE_ZERO_LOSS_N"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "ESTATE_ZERO_LOSS_N")
		require.Positive(t, n, "ESTATE_ZERO_LOSS_N")
		return n
	}
	if testenv.Strict() {
		return 100_000
	}
	return 20_000
}

func logMessage(i int) string { return fmt.Sprintf("zeroloss-%08d", i) }

func rejected(i int) bool { return i%rejectEvery == rejectOffset }

func traceID(batch int) pcommon.TraceID {
	var id pcommon.TraceID
	id[0], id[1] = 0xe2, 0xe0
	binary.BigEndian.PutUint32(id[12:], uint32(batch)) //nolint:gosec // batch < 2^31
	return id
}

func spanID(i int) pcommon.SpanID {
	var id pcommon.SpanID
	id[0] = 0x5a
	binary.BigEndian.PutUint32(id[4:], uint32(i)) //nolint:gosec // i < 2^31
	return id
}

// logsBatch is records [from, to) as one OTLP/HTTP protobuf request.
func logsBatch(from, to int) []byte {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", zeroLossService)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("estate/e2e")
	now := pcommon.NewTimestampFromTime(time.Now())
	for i := from; i < to; i++ {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(now)
		lr.SetObservedTimestamp(now)
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
		lr.Body().SetStr(logMessage(i))
		lr.Attributes().PutInt("seq", int64(i))
	}
	b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		panic(err) // a pdata built here always marshals
	}
	return b
}

// spansBatch is spans [from, to) as one trace (a root server span and its
// children), one OTLP/HTTP protobuf request.
func spansBatch(batch, from, to int) []byte {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", zeroLossService)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("estate/e2e")
	start := time.Now().Add(-time.Second)
	tid := traceID(batch)
	for i := from; i < to; i++ {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(tid)
		sp.SetSpanID(spanID(i))
		if i != from {
			sp.SetParentSpanID(spanID(from))
			sp.SetKind(ptrace.SpanKindInternal)
		} else {
			sp.SetKind(ptrace.SpanKindServer)
		}
		sp.SetName("work")
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Millisecond)))
		sp.Attributes().PutStr("http.request.method", "POST")
		sp.Attributes().PutStr("http.route", "/v1/zeroloss")
		sp.Attributes().PutInt("http.response.status_code", 200)
		sp.Attributes().PutInt("seq", int64(i))
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		panic(err)
	}
	return b
}

// sendUntilAcked posts body until the collector answers 2xx: a record counts
// as sent only once acknowledged. Connection errors (the collector is being
// killed) and 429/5xx are retried.
func sendUntilAcked(ctx context.Context, client *http.Client, url, contentType string, body []byte, retries *atomic.Int64) error {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", contentType)
		res, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			if res.StatusCode/100 == 2 {
				return nil
			}
			if res.StatusCode != http.StatusTooManyRequests && res.StatusCode < 500 {
				return fmt.Errorf("POST %s: %s, not retryable", url, res.Status)
			}
			err = fmt.Errorf("POST %s: %s", url, res.Status)
		}
		retries.Add(1)
		select {
		case <-ctx.Done():
			return fmt.Errorf("POST %s never acknowledged: %w (last: %w)", url, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// chaosStep happens once the share of acknowledged batches reaches at.
type chaosStep struct {
	at   float64
	name string
	do   func(ctx context.Context) error
}

// TestZeroLoss streams N log records and N spans with unique ids through
// `estate collector` (Elasticsearch double for logs, a real Jaeger v2 with
// badger storage for traces) while the collector is SIGKILLed five times,
// the double goes down and comes back and answers items 429, 503 and 400,
// and Jaeger restarts; then it checks that every acknowledged record is in
// the double exactly once or (only the planned 400s) in the dead-letter
// file, and every acknowledged span is in Jaeger.
func TestZeroLoss(t *testing.T) {
	n := zeroLossN(t)
	jg := jaegertest.Start(t, jaegertest.Options{BadgerDir: t.TempDir()})

	es, err := esdouble.Start(esdouble.Options{Flavor: esdouble.Elasticsearch8})
	require.NoError(t, err)
	t.Cleanup(func() { _ = es.Close() })
	var planned400 int
	for i := range n {
		if rejected(i) {
			planned400++
		}
	}
	es.SetPlan(esdouble.Chain(
		rejectRecords(),
		esdouble.FailEvery(97, n/50, http.StatusTooManyRequests),
		esdouble.FailEvery(89, n/100, http.StatusServiceUnavailable),
	))

	col := newCollector(t,
		"--elasticsearch-url", es.URL(),
		"--jaeger-endpoint", jg.OTLP,
		"--collector.export.max-backoff", "2s",
		"--elasticsearch-max-backoff", "1s",
		"--jaeger-max-backoff", "1s",
	)
	// Bounded: 8 minutes in all (5 to drain) per 100 000 records.
	scale := time.Duration(max(1, n/100_000))
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute*scale)
	defer cancel()
	require.NoError(t, col.start(ctx))

	peakQueue, stopSampling := sampleWhileRunning(ctx, col, filepath.Join(col.dataDir, "collector", "queue"))
	defer stopSampling()

	// Besides the five SIGKILLs: the double down from 25% to 45% (and at
	// least 3 s), Jaeger restarted at 60%.
	var downAt time.Time
	streamed, _ := stream(ctx, t, n, col, []chaosStep{
		{at: 0.25, name: "elasticsearch double down", do: func(context.Context) error {
			downAt = time.Now()
			return es.SetDown(true)
		}},
		{at: 0.45, name: "elasticsearch double up", do: func(context.Context) error {
			time.Sleep(time.Until(downAt.Add(3 * time.Second)))
			return es.SetDown(false)
		}},
		{at: 0.60, name: "jaeger restart", do: jg.Restart},
	})

	// Drain: every consumer of the queue has committed everything.
	drainStart := time.Now()
	dctx, dcancel := context.WithTimeout(ctx, 5*time.Minute*scale)
	defer dcancel()
	var page string
	lastReport := time.Now()
	err = testenv.WaitFor(dctx, 250*time.Millisecond, func() error {
		var err error
		page, err = getBody(dctx, col.API+"/metrics")
		if err != nil {
			return err
		}
		left, ok := metricSum(page, "estate_collector_queue_records", "")
		if !ok {
			return fmt.Errorf("no estate_collector_queue_records on /metrics")
		}
		if left > 0 {
			if time.Since(lastReport) > 5*time.Second {
				lastReport = time.Now()
				t.Logf("draining: %s", queueLag(page))
			}
			return fmt.Errorf("%v records not delivered yet", left)
		}
		return nil
	})
	require.NoError(t, err, "the queue did not drain")
	drained := time.Since(drainStart)
	col.sample()
	t.Logf("queue drained %v after the last acknowledgement", drained.Round(time.Millisecond))

	// Logs: exactly once in the double, or dead-lettered with a reason.
	seen := map[string]int{}
	deadIndexed := 0
	for _, ix := range es.Indices() {
		if strings.HasSuffix(ix, "-deadletter") {
			deadIndexed += len(es.Docs(ix))
			continue
		}
		for _, src := range es.Docs(ix) {
			var d struct {
				Message string `json:"message"`
			}
			require.NoError(t, json.Unmarshal(src, &d))
			seen[d.Message]++
		}
	}
	dead := readDeadLetters(t, filepath.Join(col.dataDir, "collector", "deadletter"))
	var missing, dup, wrongDead []string
	for i := range n {
		m := logMessage(i)
		switch {
		case rejected(i):
			if seen[m] != 0 || dead[m] == "" {
				wrongDead = append(wrongDead, m)
			}
		case seen[m] == 0:
			missing = append(missing, m)
		case seen[m] > 1:
			dup = append(dup, m)
		}
	}
	var unplanned []string
	for m := range dead {
		if i, err := strconv.Atoi(strings.TrimPrefix(m, "zeroloss-")); err != nil || !rejected(i) {
			unplanned = append(unplanned, m)
		}
	}
	t.Logf("logs: %d acknowledged, %d in elasticsearch, %d missing, %d duplicated, %d dead-lettered (%d planned 400s, %d wrong, %d unplanned)",
		n, len(seen), len(missing), len(dup), len(dead), planned400, len(wrongDead), len(unplanned))
	require.Empty(t, firstN(missing), "acknowledged log records missing from elasticsearch")
	require.Empty(t, firstN(dup), "log records in elasticsearch more than once")
	require.Empty(t, firstN(wrongDead), "planned 400s not (only) in the dead-letter file")
	require.Empty(t, firstN(unplanned), "dead letters that were not planned")
	// The -deadletter index is a convenience written after the file, and
	// may itself be refused (the 429 plan sees its items too); the file is
	// what must hold every dead letter.
	require.LessOrEqual(t, deadIndexed, planned400, "records in the -deadletter index")
	t.Logf("dead letters: %d in the file, %d also in the -deadletter index", len(dead), deadIndexed)

	// Spans: every one in Jaeger.
	spansMissing, spansDup, firstMissing := countSpans(ctx, t, jg, n)
	t.Logf("spans: %d acknowledged, %d missing from jaeger, %d stored more than once", n, spansMissing, spansDup)
	require.Zero(t, spansMissing, "acknowledged spans missing from jaeger: %v", firstMissing)

	refused := col.logCount("sink refused a batch for good")
	require.Zero(t, refused, "the collector passed batches a sink refused for good")

	t.Logf("collector: %d starts, peak RSS %.1f MiB (VmHWM, highest of all incarnations), queue peak disk %.1f MiB",
		col.starts, float64(col.peakRSSKB())/1024, float64(peakQueue.Load())/(1<<20))
	bulkItems := es.BulkItems()
	t.Logf("elasticsearch double: %d bulk items received for %d records", bulkItems, n)
	t.Logf("ZERO-LOSS N=%d logs_lost=%d logs_dup=%d deadletter=%d/%d spans_lost=%d kills=5 stream=%v drain=%v peak_rss_mib=%.1f queue_peak_mib=%.1f",
		n, len(missing), len(dup), len(dead), planned400, spansMissing, streamed.Round(time.Millisecond),
		drained.Round(time.Millisecond), float64(col.peakRSSKB())/1024, float64(peakQueue.Load())/(1<<20))
}

// countSpans counts the harness's spans missing from Jaeger and stored more
// than once, with the first few missing.
func countSpans(ctx context.Context, t *testing.T, jg *jaegertest.Jaeger, n int) (missing, dup int, first []string) {
	t.Helper()
	batches := (n + zeroLossBatch - 1) / zeroLossBatch
	for b := range batches {
		from, to := b*zeroLossBatch, min((b+1)*zeroLossBatch, n)
		got, err := jaegerSpans(ctx, jg.Query, traceID(b))
		require.NoError(t, err)
		for i := from; i < to; i++ {
			id := spanID(i)
			switch c := got[hex.EncodeToString(id[:])]; {
			case c == 0:
				missing++
				if len(first) < 10 {
					first = append(first, fmt.Sprintf("span %d of trace %s", i, traceID(b)))
				}
			case c > 1:
				dup++
			}
		}
	}
	return missing, dup, first
}

// sampleWhileRunning samples the collector's peak RSS and the disk use of
// dir every 100 ms until stop is called; peak is the highest disk use seen.
func sampleWhileRunning(ctx context.Context, col *collectorProc, dir string) (peak *atomic.Int64, stop func()) {
	peak = &atomic.Int64{}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			col.sample()
			if b := dirBytes(dir); b > peak.Load() {
				peak.Store(b)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	return peak, func() { cancel(); wg.Wait() }
}

// stream sends n log records and n spans to col's OTLP/HTTP receiver in
// batches, each until acknowledged, while it SIGKILLs and restarts col five
// times at random points and runs the extra chaos steps. Chaos is keyed to
// progress so that it lands while records flow whatever the machine's speed.
func stream(ctx context.Context, t *testing.T, n int, col *collectorProc, extra []chaosStep) (time.Duration, int64) {
	t.Helper()
	batches := (n + zeroLossBatch - 1) / zeroLossBatch
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 6)) //nolint:gosec // chaos timing, not security
	var steps []chaosStep
	for k := range 5 {
		steps = append(steps, chaosStep{at: 0.05 + 0.85*rng.Float64(), name: fmt.Sprintf("SIGKILL collector #%d", k+1),
			do: func(ctx context.Context) error {
				time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
				col.kill()
				return col.start(ctx)
			}})
	}
	steps = append(steps, extra...)
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].at < steps[j].at })

	var acked atomic.Int64
	var retries atomic.Int64
	total := int64(2 * batches)
	client := &http.Client{Timeout: 30 * time.Second}
	start := time.Now()
	g := newGroup(ctx)
	gctx := g.ctx
	work := make(chan int)
	g.Go(func() error {
		defer close(work)
		for b := range batches {
			// Paced to last at least zeroLossMinStream, so that the chaos
			// lands while records flow even on a fast machine.
			due := start.Add(zeroLossMinStream * time.Duration(b) / time.Duration(batches))
			select {
			case <-time.After(time.Until(due)):
			case <-gctx.Done():
				return gctx.Err()
			}
			select {
			case work <- b:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	for range 4 {
		g.Go(func() error {
			for b := range work {
				from, to := b*zeroLossBatch, min((b+1)*zeroLossBatch, n)
				if err := sendUntilAcked(gctx, client, col.OTLPHTTP+"/v1/logs", "application/x-protobuf", logsBatch(from, to), &retries); err != nil {
					return err
				}
				acked.Add(1)
				if err := sendUntilAcked(gctx, client, col.OTLPHTTP+"/v1/traces", "application/x-protobuf", spansBatch(b, from, to), &retries); err != nil {
					return err
				}
				acked.Add(1)
			}
			return nil
		})
	}
	g.Go(func() error {
		for _, s := range steps {
			for float64(acked.Load())/float64(total) < s.at {
				select {
				case <-gctx.Done():
					return gctx.Err()
				case <-time.After(10 * time.Millisecond):
				}
			}
			t0 := time.Now()
			if err := s.do(gctx); err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			t.Logf("chaos at %3.0f%% acknowledged: %s (%v)", 100*float64(acked.Load())/float64(total), s.name, time.Since(t0).Round(time.Millisecond))
		}
		return nil
	})
	require.NoError(t, g.Wait())
	streamed := time.Since(start)
	t.Logf("acknowledged %d log records and %d spans in %d+%d requests in %v (%d requests retried)",
		n, n, batches, batches, streamed.Round(time.Millisecond), retries.Load())
	return streamed, retries.Load()
}

// rejectRecords answers the planned records with 400 mapper_parsing_exception
// every time, found by the record's message rather than its _id (a hash the
// exporter computes). Dead-letter index writes pass.
func rejectRecords() esdouble.Plan {
	return func(it esdouble.Item) *esdouble.Fault {
		if strings.HasSuffix(it.Index, "-deadletter") {
			return nil
		}
		var d struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(it.Source, &d) != nil {
			return nil
		}
		i, err := strconv.Atoi(strings.TrimPrefix(d.Message, "zeroloss-"))
		if err != nil || !rejected(i) {
			return nil
		}
		return &esdouble.Fault{Status: http.StatusBadRequest, Type: "mapper_parsing_exception",
			Reason: "failed to parse field [attributes.seq] of type [date] in document with id '" + it.ID + "'"}
	}
}

// readDeadLetters maps the message of each dead-lettered record to the
// reason given, checking each entry is a 400 with a reason.
func readDeadLetters(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	files, _ := filepath.Glob(filepath.Join(dir, "deadletter-*.jsonl"))
	for _, name := range files {
		f, err := os.Open(name)
		require.NoError(t, err)
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var e struct {
				Status   int    `json:"status"`
				Reason   string `json:"reason"`
				Document struct {
					Message string `json:"message"`
				} `json:"document"`
			}
			require.NoError(t, json.Unmarshal(sc.Bytes(), &e), "dead letter %s", sc.Text())
			require.Equal(t, http.StatusBadRequest, e.Status, "dead letter %s", sc.Text())
			require.NotEmpty(t, e.Reason, "dead letter %s", sc.Text())
			out[e.Document.Message] = e.Reason
		}
		require.NoError(t, sc.Err())
		_ = f.Close()
	}
	return out
}

// jaegerSpans counts the spans of a trace in Jaeger by span id.
func jaegerSpans(ctx context.Context, query string, id pcommon.TraceID) (map[string]int, error) {
	body, err := getBody(ctx, query+"/api/traces/"+hex.EncodeToString(id[:]))
	if err != nil {
		if strings.Contains(err.Error(), "404") {
			return map[string]int{}, nil
		}
		return nil, err
	}
	var res struct {
		Data []struct {
			Spans []struct {
				SpanID string `json:"spanID"`
			} `json:"spans"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		return nil, fmt.Errorf("decoding trace: %w", err)
	}
	out := map[string]int{}
	for _, tr := range res.Data {
		for _, sp := range tr.Spans {
			out[sp.SpanID]++
		}
	}
	return out, nil
}

// queueLag lists each queue consumer's undelivered records.
func queueLag(page string) string {
	var out []string
	for _, line := range strings.Split(page, "\n") {
		if strings.HasPrefix(line, "estate_collector_queue_records{") {
			out = append(out, strings.TrimPrefix(line, "estate_collector_queue_records"))
		}
	}
	return strings.Join(out, ", ")
}

// group runs goroutines and keeps the first error, cancelling the others.
type group struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

func newGroup(ctx context.Context) *group {
	g := &group{}
	g.ctx, g.cancel = context.WithCancel(ctx)
	return g
}

func (g *group) Go(f func() error) {
	g.wg.Go(func() {
		if err := f(); err != nil {
			g.once.Do(func() {
				g.err = err
				g.cancel()
			})
		}
	})
}

func (g *group) Wait() error {
	g.wg.Wait()
	g.cancel()
	return g.err
}

func firstN(s []string) []string {
	if len(s) > 10 {
		return append(s[:10:10], fmt.Sprintf("... and %d more", len(s)-10))
	}
	return s
}
