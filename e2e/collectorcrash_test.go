package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/testenv"
)

// The collector crash test's bounds.
const (
	collectorCrashRate  = 25 // requests a second to the services, open loop
	collectorCrashPhase = 5 * time.Second
	// collectorCrashDown is from the SIGKILL to the restart: longer than
	// the 10 s for which the OTel SDK retries an export by default.
	collectorCrashDown   = 15 * time.Second
	collectorCrashSettle = 90 * time.Second
)

// crashTraffic is what the clients of a collector crash test sent and
// were answered.
type crashTraffic struct {
	mu       sync.Mutex
	answered map[string]string // client-made trace id → service
	events   atomic.Int64      // deployments whose events the collector acknowledged
}

// TestCollectorCrashLosesNoTelemetry runs `estate collector`, `estate
// invoicing` and `estate credit` as separate processes, the services
// exporting their spans and logs to the collector over OTLP/gRPC. Clients
// send the services requests, each in a trace of its own (a traceparent
// the client makes), and post deployment events to the collector's events
// API, while the collector is SIGKILLed, stays down for
// collectorCrashDown, and restarts on the same data dir and ports. Then
// every request the services answered has its server span and its log
// line in the collector's stores, found through the query API, and every
// acknowledged event is counted in /v1/dora: the exporters held and
// retried what they had been handed (bounded by --telemetry.otlp-retry-for;
// TestCollectorOutagePastTheRetryBound shows what an outage past that
// bound loses), and the events API acknowledged only what it kept.
func TestCollectorCrashLosesNoTelemetry(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills child processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	col, s, tr, started := crashCollector(ctx, t, time.Minute)

	// Everything answered reaches the collector, within a bound.
	var missing []string
	settle, stop := context.WithTimeout(ctx, collectorCrashSettle)
	defer stop()
	err := testenv.WaitFor(settle, time.Second, func() error {
		var err error
		missing, err = missingTelemetry(settle, col, tr, started)
		if err != nil {
			return err
		}
		if len(missing) > 0 {
			return fmt.Errorf("%d of %d answered requests lack their span or log line, such as %v", len(missing), len(tr.answered), firstN(missing))
		}
		return nil
	})
	require.NoError(t, err)
	t.Logf("%d answered requests, every one with its server span and log line on the collector", len(tr.answered))
	require.Zero(t, droppedTelemetry(ctx, t, s), "no service dropped telemetry")

	// Every acknowledged event is in the event store, once.
	require.Equal(t, tr.events.Load(), deploymentsCounted(ctx, t, col, started), "deployments acknowledged and counted")
	require.Positive(t, tr.events.Load())
}

// TestCollectorOutagePastTheRetryBound is the same crash with the
// services' exports retried for 2 s only, less than the outage: what
// they held when the collector went away is dropped, and counted in
// estate_telemetry_export_dropped_total; the events, which their client
// retries until acknowledged, are all kept.
func TestCollectorOutagePastTheRetryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills child processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	col, s, tr, started := crashCollector(ctx, t, 2*time.Second)

	// Settled: the exporters have caught up with the restarted collector.
	var dropped float64
	var missing []string
	settle, stop := context.WithTimeout(ctx, collectorCrashSettle)
	defer stop()
	last := -1
	err := testenv.WaitFor(settle, 2*time.Second, func() error {
		var err error
		if missing, err = missingTelemetry(settle, col, tr, started); err != nil {
			return err
		}
		if len(missing) != last {
			last = len(missing)
			return fmt.Errorf("%d requests lack telemetry, and counting", last)
		}
		return nil
	})
	require.NoError(t, err)
	dropped = droppedTelemetry(ctx, t, s)
	t.Logf("outage of %v against a retry bound of 2s: %d of %d answered requests lack their span or log line; the services counted %v spans and log records dropped",
		collectorCrashDown, len(missing), len(tr.answered), dropped)
	require.Positive(t, dropped, "the drops are counted")
	require.NotEmpty(t, missing, "an outage past the bound loses telemetry (else the bound is not what the docs say)")
	require.Equal(t, tr.events.Load(), deploymentsCounted(ctx, t, col, started), "deployments acknowledged and counted")
}

// crashCollector starts the collector and the services exporting to it
// with exports retried for retryFor, drives traffic, and kills the
// collector and restarts it in the middle.
func crashCollector(ctx context.Context, t *testing.T, retryFor time.Duration) (*collectorProc, *services, *crashTraffic, time.Time) {
	t.Helper()
	estateBinary(t) // before the clocks start
	col := newCollector(t)
	require.NoError(t, col.start(ctx))
	s := exportingServices(t, col, retryFor)
	started := time.Now()
	tr := driveTraffic(ctx, t, s, col, func() {
		col.kill()
		t.Logf("collector killed at %s", time.Now().Format(time.TimeOnly))
		time.Sleep(collectorCrashDown)
		require.NoError(t, col.start(ctx))
		t.Logf("collector back at %s", time.Now().Format(time.TimeOnly))
	})
	return col, s, tr, started
}

// droppedTelemetry sums estate_telemetry_export_dropped_total over both
// services.
func droppedTelemetry(ctx context.Context, t *testing.T, s *services) float64 {
	t.Helper()
	var sum float64
	for _, svc := range []*collectorProc{s.invoicing, s.credit} {
		page, err := getBody(ctx, svc.API+"/metrics")
		require.NoError(t, err)
		dropped, ok := metricSum(page, "estate_telemetry_export_dropped_total", "")
		require.True(t, ok, "%s has no estate_telemetry_export_dropped_total", svc.name)
		sum += dropped
	}
	return sum
}

// exportingServices starts invoicing and credit on SQLite, exporting to
// col with exports retried for retryFor.
func exportingServices(t *testing.T, col *collectorProc, retryFor time.Duration) *services {
	t.Helper()
	token := filepath.Join(t.TempDir(), "otlp-token")
	require.NoError(t, os.WriteFile(token, []byte(collectorToken), 0o600))
	return runServices(t, "", "", "--telemetry.otlp-endpoint", col.OTLPGRPC, "--telemetry.otlp-token-file", token,
		"--telemetry.otlp-retry-for", retryFor.String(), "--log.level", "info")
}

// driveTraffic sends requests to both services and deployment events to
// the collector for collectorCrashPhase, runs fault, and goes on for
// another collectorCrashPhase. Events are posted until acknowledged.
func driveTraffic(ctx context.Context, t *testing.T, s *services, col *collectorProc, fault func()) *crashTraffic {
	t.Helper()
	_, token := s.register(ctx, t, &crashClient{http: &http.Client{Timeout: 5 * time.Second}}, "alice")
	tr := &crashTraffic{answered: map[string]string{}}
	client := &http.Client{Timeout: 5 * time.Second}
	load, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second / collectorCrashRate)
		defer tick.Stop()
		for n := 0; load.Err() == nil; n++ {
			select {
			case <-load.Done():
			case <-tick.C:
				wg.Go(func() {
					svc, path := s.invoicing, "/v1/invoices"
					if n%2 == 1 {
						svc, path = s.credit, "/v1/credit/line"
					}
					tid, sid := randomHex(16), randomHex(8)
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, svc.API+path, nil)
					req.Header.Set("Authorization", "Bearer "+token)
					req.Header.Set("Traceparent", "00-"+tid+"-"+sid+"-01")
					res, err := client.Do(req)
					if err != nil {
						return // no answer: nothing the service must have exported
					}
					_, _ = io.Copy(io.Discard, res.Body)
					_ = res.Body.Close()
					tr.mu.Lock()
					tr.answered[tid] = svc.name
					tr.mu.Unlock()
				})
			}
		}
	})
	wg.Go(func() {
		var retries atomic.Int64
		base := time.Now().Add(-time.Hour)
		for n := 0; load.Err() == nil; n++ {
			at := base.Add(time.Duration(n) * time.Second)
			id := fmt.Sprintf("crash-d%04d", n)
			batch := fmt.Sprintf(`[{"specversion":"1.0","id":%q,"source":"https://ci.example.com/crash","type":"dev.estate.deployment.started","time":%q,"datacontenttype":"application/json","data":{"deployment_id":%q,"service":"crashtest","environment":"production","version":"1.0.%d"}},`+
				`{"specversion":"1.0","id":%q,"source":"https://ci.example.com/crash","type":"dev.estate.deployment.succeeded","time":%q,"datacontenttype":"application/json","data":{"deployment_id":%q}}]`,
				id+"-started", at.UTC().Format(time.RFC3339), id, n, id+"-succeeded", at.Add(30*time.Second).UTC().Format(time.RFC3339), id)
			if err := sendUntilAcked(ctx, client, col.API+"/v1/events", "application/cloudevents-batch+json", []byte(batch), &retries); err != nil {
				t.Errorf("event %s: %v", id, err)
				return
			}
			tr.events.Add(1)
			time.Sleep(200 * time.Millisecond)
		}
	})
	time.Sleep(collectorCrashPhase)
	fault()
	time.Sleep(collectorCrashPhase)
	stopLoad()
	wg.Wait()
	return tr
}

// missingTelemetry lists the answered requests whose server span or log
// line the collector does not have.
func missingTelemetry(ctx context.Context, col *collectorProc, tr *crashTraffic, since time.Time) ([]string, error) {
	window := "&from=" + url.QueryEscape(since.Add(-time.Minute).UTC().Format(time.RFC3339)) +
		"&to=" + url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339)) + "&limit=10000"
	spans, logs := map[string]bool{}, map[string]bool{}
	for _, svc := range []string{"invoicing", "credit"} {
		var traces struct {
			Traces []struct {
				TraceID string `json:"trace_id"`
			} `json:"traces"`
		}
		if err := getJSON(ctx, col.API+"/v1/traces?service="+svc+window, &traces); err != nil {
			return nil, err
		}
		for _, tr := range traces.Traces {
			spans[svc+"/"+tr.TraceID] = true
		}
		var records struct {
			Logs []struct {
				TraceID string `json:"trace_id"`
			} `json:"logs"`
		}
		if err := getJSON(ctx, col.API+"/v1/logs?service="+svc+window, &records); err != nil {
			return nil, err
		}
		for _, r := range records.Logs {
			logs[svc+"/"+r.TraceID] = true
		}
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var missing []string
	for tid, svc := range tr.answered {
		if k := svc + "/" + tid; !spans[k] || !logs[k] {
			missing = append(missing, fmt.Sprintf("%s (span %v, log %v)", k, spans[k], logs[k]))
		}
	}
	return missing, nil
}

// deploymentsCounted is the collector's count of crashtest deployments
// since the test began.
func deploymentsCounted(ctx context.Context, t *testing.T, col *collectorProc, since time.Time) int64 {
	t.Helper()
	var dora struct {
		Services []struct {
			Service     string `json:"service"`
			Deployments int64  `json:"deployments"`
		} `json:"services"`
	}
	require.NoError(t, getJSON(ctx, col.API+"/v1/dora?from="+url.QueryEscape(since.Add(-2*time.Hour).UTC().Format(time.RFC3339))+
		"&to="+url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), &dora))
	for _, s := range dora.Services {
		if s.Service == "crashtest" {
			return s.Deployments
		}
	}
	return 0
}

func getJSON(ctx context.Context, url string, v any) error {
	body, err := getBody(ctx, url)
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(body), v)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
