package elasticsearch_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/elastic/go-elasticsearch/v8"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/goleak"

	es "github.com/estatehq/estate/collector/elasticsearch"
	"github.com/estatehq/estate/collector/elasticsearch/esdouble"
	"github.com/estatehq/estate/internal/delivery"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// defaults is the configuration the flags give, pointed at url.
func defaults(t *testing.T, url string) es.Config {
	t.Helper()
	var cfg es.Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(fs, "")
	require.NoError(t, fs.Parse([]string{"--elasticsearch-url", url}))
	cfg.DeadLetterDir = filepath.Join(t.TempDir(), "deadletter")
	return cfg
}

type harness struct {
	srv    *esdouble.Server
	exp    *es.Exporter
	reg    *prometheus.Registry
	cfg    es.Config
	mu     sync.Mutex
	sleeps []time.Duration
}

func (h *harness) slept() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Duration(nil), h.sleeps...)
}

func startDouble(t *testing.T, opts esdouble.Options) *esdouble.Server {
	t.Helper()
	srv, err := esdouble.Start(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func newHarness(t *testing.T, srv *esdouble.Server, mutate func(*es.Config, *es.Options)) *harness {
	t.Helper()
	h := &harness{srv: srv, reg: prometheus.NewRegistry()}
	h.cfg = defaults(t, srv.URL())
	opts := es.Options{
		Registerer: h.reg,
		Now:        func() time.Time { return testNow },
		Sleep: func(ctx context.Context, d time.Duration) error {
			h.mu.Lock()
			h.sleeps = append(h.sleeps, d)
			h.mu.Unlock()
			return ctx.Err()
		},
	}
	if mutate != nil {
		mutate(&h.cfg, &opts)
	}
	exp, err := es.New(h.cfg, opts)
	require.NoError(t, err)
	h.exp = exp
	require.NoError(t, exp.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })
	return h
}

// makeLogs builds n records of service svc, each with a unique body and
// attribute "seq".
func makeLogs(svc string, n int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", svc)
	rl.Resource().Attributes().PutStr("host.name", "node-1")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("estate/test")
	for i := range n {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(testNow.Add(time.Duration(i) * time.Millisecond)))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(testNow.Add(time.Second)))
		lr.SetSeverityNumber(plog.SeverityNumberWarn)
		lr.Body().SetStr(fmt.Sprintf("record %d", i))
		lr.Attributes().PutInt("seq", int64(i))
		lr.Attributes().PutStr("http.method", "GET")
		lr.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(i)})
		lr.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(i)})
	}
	return ld
}

func itemsMetric(h *harness, outcome string) int {
	c, err := h.reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range c {
		if mf.GetName() != "estate_elasticsearch_exporter_items_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == outcome {
				return int(m.GetCounter().GetValue())
			}
		}
	}
	return 0
}

func TestExportFlavorsAndModes(t *testing.T) {
	tests := []struct {
		name       string
		flavor     esdouble.Flavor
		mode       string
		wantIndex  string
		wantCompat bool
		wantILM    bool
		wantAttrs  string
	}{
		{"es8 data stream", esdouble.Elasticsearch8, es.ModeDataStream, "logs-estate.checkout-default", true, true, "flattened"},
		{"es8 daily index", esdouble.Elasticsearch8, es.ModeDailyIndex, "estate-logs-checkout-2026.11.26", true, true, "flattened"},
		{"es7.10 data stream", esdouble.Elasticsearch710, es.ModeDataStream, "logs-estate.checkout-default", false, true, "flattened"},
		{"opensearch data stream", esdouble.OpenSearch2, es.ModeDataStream, "logs-estate.checkout-default", false, false, "flat_object"},
		{"opensearch daily index", esdouble.OpenSearch2, es.ModeDailyIndex, "estate-logs-checkout-2026.11.26", false, false, "flat_object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startDouble(t, esdouble.Options{Flavor: tc.flavor, Now: func() time.Time { return testNow }})
			h := newHarness(t, srv, func(c *es.Config, _ *es.Options) { c.Mode = tc.mode })
			require.NoError(t, h.exp.ExportLogs(t.Context(), makeLogs("Checkout", 50)))

			docs := srv.Docs(tc.wantIndex)
			require.Len(t, docs, 50, "indices: %v", srv.Indices())
			require.Equal(t, tc.mode == es.ModeDataStream, srv.IsDataStream(tc.wantIndex))

			var got map[string]any
			for _, raw := range docs {
				var d map[string]any
				require.NoError(t, json.Unmarshal(raw, &d))
				if d["message"] == "record 7" {
					got = d
				}
			}
			require.NotNil(t, got)
			want := map[string]any{
				"@timestamp": "2026-11-26T12:00:00.007Z",
				"message":    "record 7",
				"log":        map[string]any{"level": "warn"},
				"service":    map[string]any{"name": "Checkout"},
				"trace":      map[string]any{"id": "0102030405060708090a0b0c0d0e0f07"},
				"span":       map[string]any{"id": "0102030405060707"},
				"labels":     map[string]any{"service_name": "Checkout", "host_name": "node-1", "seq": "7", "http_method": "GET"},
				"attributes": map[string]any{"seq": float64(7), "http.method": "GET"},
				"resource":   map[string]any{"attributes": map[string]any{"service.name": "Checkout", "host.name": "node-1"}},
				"scope":      map[string]any{"name": "estate/test"},
				"event":      map[string]any{"created": "2026-11-26T12:00:01Z", "severity": float64(13)},
			}
			if tc.mode == es.ModeDataStream {
				want["data_stream"] = map[string]any{"type": "logs", "dataset": "estate.checkout", "namespace": "default"}
			}
			require.Empty(t, cmp.Diff(want, got))

			tmpl, ok := srv.Template("estate-logs")
			require.True(t, ok, "template installed")
			var tm struct {
				IndexPatterns []string       `json:"index_patterns"`
				DataStream    map[string]any `json:"data_stream"`
				Template      struct {
					Settings map[string]any `json:"settings"`
					Mappings struct {
						Properties map[string]struct {
							Type string `json:"type"`
						} `json:"properties"`
					} `json:"mappings"`
				} `json:"template"`
			}
			require.NoError(t, json.Unmarshal(tmpl, &tm))
			require.Equal(t, tc.wantAttrs, tm.Template.Mappings.Properties["attributes"].Type)
			require.Equal(t, "date_nanos", tm.Template.Mappings.Properties["@timestamp"].Type)
			require.Equal(t, tc.mode == es.ModeDataStream, tm.DataStream != nil)
			_, hasPolicy := srv.Policy("estate-logs")
			require.Equal(t, tc.wantILM, hasPolicy)
			require.Equal(t, tc.wantILM, tm.Template.Settings["index.lifecycle.name"] == "estate-logs")

			for _, r := range srv.Requests() {
				if r.Path == "/" {
					continue
				}
				compat := strings.Contains(r.Header.Get("Content-Type")+r.Header.Get("Accept"), "compatible-with=8")
				require.Equal(t, tc.wantCompat, compat, "%s %s: %v", r.Method, r.Path, r.Header)
				if strings.HasPrefix(r.Path, "/_ilm") {
					require.True(t, tc.wantILM, "no ILM request to a cluster without ILM")
				}
			}
			require.Equal(t, 50, itemsMetric(h, "created"))
		})
	}
}

// The official client refuses servers without the product header; the
// exporter, which uses the client's transport, does not.
func TestOfficialClientProductCheck(t *testing.T) {
	for _, tc := range []struct {
		flavor  esdouble.Flavor
		wantErr bool
	}{{esdouble.Elasticsearch8, false}, {esdouble.Elasticsearch710, true}, {esdouble.OpenSearch2, true}} {
		t.Run(tc.flavor.String(), func(t *testing.T) {
			srv := startDouble(t, esdouble.Options{Flavor: tc.flavor})
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			client, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{srv.URL()}, Transport: tr})
			require.NoError(t, err)
			res, err := client.Info()
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			_ = res.Body.Close()
		})
	}
}

func TestReplayIsIdempotent(t *testing.T) {
	srv := startDouble(t, esdouble.Options{})
	h := newHarness(t, srv, nil)
	ld := makeLogs("svc", 30)
	require.NoError(t, h.exp.ExportLogs(t.Context(), ld))
	require.NoError(t, h.exp.ExportLogs(t.Context(), ld))
	require.Len(t, srv.Docs("logs-estate.svc-default"), 30)
	require.Equal(t, 30, itemsMetric(h, "created"))
	require.Equal(t, 30, itemsMetric(h, "duplicate"))

	// A second exporter (a restarted collector) computes the same ids.
	h2 := newHarness(t, srv, nil)
	require.NoError(t, h2.exp.ExportLogs(t.Context(), ld))
	require.Len(t, srv.Docs("logs-estate.svc-default"), 30)
	require.Equal(t, 30, itemsMetric(h2, "duplicate"))
}

func TestIdenticalRecordsInDifferentResourcesAreDistinct(t *testing.T) {
	srv := startDouble(t, esdouble.Options{})
	h := newHarness(t, srv, nil)
	ld := makeLogs("svc", 1)
	other := ld.ResourceLogs().AppendEmpty()
	ld.ResourceLogs().At(0).CopyTo(other)
	other.Resource().Attributes().PutStr("host.name", "node-2")
	require.NoError(t, h.exp.ExportLogs(t.Context(), ld))
	require.Len(t, srv.Docs("logs-estate.svc-default"), 2)
}

type deadLetterLine struct {
	Index     string          `json:"index"`
	ID        string          `json:"id"`
	Status    int             `json:"status"`
	ErrorType string          `json:"error_type"`
	Reason    string          `json:"reason"`
	Document  json.RawMessage `json:"document"`
}

func readDeadLetters(t *testing.T, dir string) []deadLetterLine {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "deadletter-2026-11-26.jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(t, err)
	defer f.Close()
	var out []deadLetterLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l deadLetterLine
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l))
		out = append(out, l)
	}
	require.NoError(t, sc.Err())
	return out
}

func TestMixedItemFaults(t *testing.T) {
	srv := startDouble(t, esdouble.Options{})
	rejected := map[string]bool{"record 3": true, "record 17": true, "record 42": true}
	reject := func(it esdouble.Item) *esdouble.Fault {
		var d struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(it.Source, &d)
		if rejected[d.Message] {
			return &esdouble.Fault{Status: 400, Type: "mapper_parsing_exception", Reason: "failed to parse field [attributes.seq]"}
		}
		return nil
	}
	srv.SetPlan(esdouble.Chain(reject, esdouble.FailNext(5, 429), esdouble.FailEvery(7, 4, 503)))
	h := newHarness(t, srv, nil)
	ld := makeLogs("svc", 60)
	require.NoError(t, h.exp.ExportLogs(t.Context(), ld))

	docs := srv.Docs("logs-estate.svc-default")
	require.Len(t, docs, 57)
	for _, raw := range docs {
		var d struct {
			Message string `json:"message"`
		}
		require.NoError(t, json.Unmarshal(raw, &d))
		require.False(t, rejected[d.Message])
	}
	require.Equal(t, 57, itemsMetric(h, "created"))
	require.Equal(t, 3, itemsMetric(h, "dead_letter"))
	require.Equal(t, 9, itemsMetric(h, "retry"))
	require.Equal(t, []time.Duration{100 * time.Millisecond}, h.slept(), "one round of retries")

	lines := readDeadLetters(t, h.cfg.DeadLetterDir)
	require.Len(t, lines, 3)
	dlDocs := srv.Docs("logs-estate.svc-default-deadletter")
	require.Len(t, dlDocs, 3)
	for _, l := range lines {
		require.Equal(t, 400, l.Status)
		require.Equal(t, "mapper_parsing_exception", l.ErrorType)
		require.Contains(t, l.Reason, "failed to parse")
		require.Equal(t, "logs-estate.svc-default", l.Index)
		var d struct {
			Message string `json:"message"`
		}
		require.NoError(t, json.Unmarshal(l.Document, &d))
		require.True(t, rejected[d.Message])

		raw, ok := dlDocs[l.ID]
		require.True(t, ok, "dead letter %s in the index", l.ID)
		var dd struct {
			Deadletter struct {
				Reason   string `json:"reason"`
				Status   int    `json:"status"`
				Document string `json:"document"`
			} `json:"deadletter"`
		}
		require.NoError(t, json.Unmarshal(raw, &dd))
		require.Equal(t, l.Reason, dd.Deadletter.Reason)
		require.JSONEq(t, string(l.Document), dd.Deadletter.Document)
	}
	require.Equal(t, 0, metricValue(t, h.reg, "estate_elasticsearch_exporter_dead_letter_index_failures_total"))
	require.Equal(t, 3, metricValue(t, h.reg, "estate_elasticsearch_exporter_dead_letter_records_total"))
}

// metricValue reads an unlabelled counter.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return int(mf.GetMetric()[0].GetCounter().GetValue())
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

func TestThrottledItemsExhaustAttempts(t *testing.T) {
	srv := startDouble(t, esdouble.Options{})
	srv.SetPlan(esdouble.FailNext(1000, 429))
	h := newHarness(t, srv, func(c *es.Config, _ *es.Options) { c.MaxAttempts = 3 })
	ld := makeLogs("svc", 10)
	err := h.exp.ExportLogs(t.Context(), ld)
	var te *delivery.ThrottleError
	require.ErrorAs(t, err, &te)
	require.Equal(t, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, h.slept())
	require.Empty(t, srv.Docs("logs-estate.svc-default"))

	srv.SetPlan(esdouble.FailNext(3, 429))
	require.NoError(t, h.exp.ExportLogs(t.Context(), ld))
	require.Len(t, srv.Docs("logs-estate.svc-default"), 10)
	require.Empty(t, readDeadLetters(t, h.cfg.DeadLetterDir))
}

func TestServerDownThenUp(t *testing.T) {
	srv := startDouble(t, esdouble.Options{})
	h := newHarness(t, srv, nil)
	first := makeLogs("svc", 20)
	require.NoError(t, h.exp.ExportLogs(t.Context(), first))

	require.NoError(t, srv.SetDown(true))
	all := makeLogs("svc", 40) // the first 20 records again, and 20 new
	err := h.exp.ExportLogs(t.Context(), all)
	require.Error(t, err)
	var perm *delivery.PermanentError
	var shut *delivery.ShutdownError
	require.NotErrorAs(t, err, &perm, "an outage is not permanent")
	require.NotErrorAs(t, err, &shut)

	require.NoError(t, srv.SetDown(false))
	require.NoError(t, h.exp.ExportLogs(t.Context(), all))
	require.Len(t, srv.Docs("logs-estate.svc-default"), 40)
	require.Equal(t, 40, itemsMetric(h, "created"))
	require.Equal(t, 20, itemsMetric(h, "duplicate"))
}

func TestDownAtStart(t *testing.T) {
	srv := startDouble(t, esdouble.Options{})
	require.NoError(t, srv.SetDown(true))
	h := newHarness(t, srv, nil) // Start succeeds: the queue holds records meanwhile
	ld := makeLogs("svc", 5)
	require.Error(t, h.exp.ExportLogs(t.Context(), ld))
	require.NoError(t, srv.SetDown(false))
	require.NoError(t, h.exp.ExportLogs(t.Context(), ld))
	require.Len(t, srv.Docs("logs-estate.svc-default"), 5)
	flavor, version := h.exp.Cluster()
	require.Equal(t, "elasticsearch", flavor)
	require.Equal(t, "8.19.0", version)
}

func TestWholeRequestErrors(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		throttled bool
	}{
		{"429 is a throttle", http.StatusTooManyRequests, true},
		{"503 is transient", http.StatusServiceUnavailable, false},
		{"401 is transient: credentials to fix, records wait", http.StatusUnauthorized, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startDouble(t, esdouble.Options{})
			h := newHarness(t, srv, nil)
			srv.SetRequestStatus(tc.status)
			err := h.exp.ExportLogs(t.Context(), makeLogs("svc", 3))
			require.Error(t, err)
			var te *delivery.ThrottleError
			require.Equal(t, tc.throttled, errors.As(err, &te), "%v", err)
			var perm *delivery.PermanentError
			require.NotErrorAs(t, err, &perm)
			srv.SetRequestStatus(0)
			require.NoError(t, h.exp.ExportLogs(t.Context(), makeLogs("svc", 3)))
			require.Len(t, srv.Docs("logs-estate.svc-default"), 3)
		})
	}
}

func TestTemplateInstalledOnce(t *testing.T) {
	srv := startDouble(t, esdouble.Options{})
	for range 2 { // two starts, as after a restart
		h := newHarness(t, srv, nil)
		require.NoError(t, h.exp.ExportLogs(t.Context(), makeLogs("svc", 1)))
		require.NoError(t, h.exp.ExportLogs(t.Context(), makeLogs("svc", 2)))
	}
	puts := map[string]int{}
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPut {
			puts[r.Path]++
		}
	}
	require.Empty(t, cmp.Diff(map[string]int{"/_index_template/estate-logs": 1, "/_ilm/policy/estate-logs": 1}, puts))
}

func TestAuthentication(t *testing.T) {
	tests := []struct {
		name     string
		auth     esdouble.Auth
		mutate   func(*es.Config, *es.Options)
		wantAuth string
		wantErr  bool
	}{
		{
			name:     "basic",
			auth:     esdouble.Auth{Username: "elastic", Password: "s3cret"},
			mutate:   func(c *es.Config, _ *es.Options) { c.Username, c.Password = "elastic", "s3cret" },
			wantAuth: "Basic ZWxhc3RpYzpzM2NyZXQ=",
		},
		{
			name:     "api key",
			auth:     esdouble.Auth{APIKey: "aWQ6a2V5"},
			mutate:   func(c *es.Config, _ *es.Options) { c.APIKey = "aWQ6a2V5" },
			wantAuth: "APIKey aWQ6a2V5", // the client's spelling; schemes are case-insensitive
		},
		{
			name:     "wrong password",
			auth:     esdouble.Auth{Username: "elastic", Password: "s3cret"},
			mutate:   func(c *es.Config, _ *es.Options) { c.Username, c.Password = "elastic", "nope" },
			wantErr:  true,
			wantAuth: "Basic ZWxhc3RpYzpub3Bl",
		},
		{
			name: "aws sigv4",
			auth: esdouble.Auth{SigV4Region: "eu-west-1", SigV4Service: "es"},
			mutate: func(c *es.Config, o *es.Options) {
				c.AWS = es.AWSConfig{SigV4: true, Region: "eu-west-1", Service: "es"}
				o.AWSCredentials = credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "")
			},
			wantAuth: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/eu-west-1/es/aws4_request, SignedHeaders=",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startDouble(t, esdouble.Options{Flavor: esdouble.OpenSearch2, Auth: tc.auth})
			h := newHarness(t, srv, tc.mutate)
			err := h.exp.ExportLogs(t.Context(), makeLogs("svc", 4))
			reqs := srv.Requests()
			require.NotEmpty(t, reqs)
			for _, r := range reqs {
				require.True(t, strings.HasPrefix(r.Header.Get("Authorization"), tc.wantAuth), "%s %s: %q", r.Method, r.Path, r.Header.Get("Authorization"))
				if tc.auth.SigV4Region != "" {
					require.NotEmpty(t, r.Header.Get("X-Amz-Date"))
					require.Len(t, r.Header.Get("X-Amz-Content-Sha256"), 64)
				}
			}
			if tc.wantErr {
				require.Error(t, err)
				var perm *delivery.PermanentError
				require.NotErrorAs(t, err, &perm)
				return
			}
			require.NoError(t, err)
			require.Len(t, srv.Docs("logs-estate.svc-default"), 4)
		})
	}
}

func TestShutdown(t *testing.T) {
	srv := startDouble(t, esdouble.Options{})
	h := newHarness(t, srv, nil)
	require.NoError(t, h.exp.Shutdown(t.Context()))
	var shut *delivery.ShutdownError
	require.ErrorAs(t, h.exp.ExportLogs(t.Context(), makeLogs("svc", 1)), &shut)

	// A caller's context that ends during a backoff is a shutdown too.
	srv.SetPlan(esdouble.FailNext(1000, 503))
	ctx, cancel := context.WithCancel(t.Context())
	h2 := newHarness(t, srv, func(_ *es.Config, o *es.Options) {
		o.Sleep = func(ctx context.Context, _ time.Duration) error { cancel(); return ctx.Err() }
	})
	require.ErrorAs(t, h2.exp.ExportLogs(ctx, makeLogs("svc", 1)), &shut)
}

func TestSmallBulkLimitSplitsRequests(t *testing.T) {
	srv := startDouble(t, esdouble.Options{})
	h := newHarness(t, srv, func(c *es.Config, _ *es.Options) { c.MaxBulkBytes = 4096 })
	require.NoError(t, h.exp.ExportLogs(t.Context(), makeLogs("svc", 100)))
	require.Len(t, srv.Docs("logs-estate.svc-default"), 100)
	bulks := 0
	for _, r := range srv.Requests() {
		if r.Path == "/_bulk" {
			bulks++
		}
	}
	require.Greater(t, bulks, 5)
}

func TestUnsupportedVersionFailsStart(t *testing.T) {
	// An Elasticsearch 7.9 answer, served by a plain handler.
	srv := startDouble(t, esdouble.Options{})
	cfg := defaults(t, srv.URL())
	exp, err := es.New(cfg, es.Options{Transport: rewriteInfo{base: &http.Transport{}}})
	require.NoError(t, err)
	var perm *delivery.PermanentError
	require.ErrorAs(t, exp.Start(t.Context()), &perm)
	require.NoError(t, exp.Shutdown(t.Context()))
}

type rewriteInfo struct{ base *http.Transport }

func (r rewriteInfo) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := r.base.RoundTrip(req)
	if err != nil || req.URL.Path != "/" {
		return res, err
	}
	_ = res.Body.Close()
	res.Body = nopBody{strings.NewReader(`{"version":{"number":"7.9.3","build_flavor":"default"}}`)}
	res.ContentLength = -1
	return res, nil
}

func (r rewriteInfo) CloseIdleConnections() { r.base.CloseIdleConnections() }

type nopBody struct{ *strings.Reader }

func (nopBody) Close() error { return nil }

func TestCustomCA(t *testing.T) {
	srv := startDouble(t, esdouble.Options{TLS: true})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, srv.CACert(), 0o600))

	// Without the CA the certificate is unknown: an error, not a panic or a
	// silent success.
	h := newHarness(t, srv, nil)
	require.ErrorContains(t, h.exp.ExportLogs(t.Context(), makeLogs("svc", 2)), "certificate")

	h = newHarness(t, srv, func(c *es.Config, _ *es.Options) { c.CAFile = ca })
	require.NoError(t, h.exp.ExportLogs(t.Context(), makeLogs("svc", 2)))
	require.Len(t, srv.Docs("logs-estate.svc-default"), 2)
}

func TestTooLargeRequestsAreSplit(t *testing.T) {
	srv := startDouble(t, esdouble.Options{MaxContentLength: 3000})
	h := newHarness(t, srv, nil)
	ld := makeLogs("svc", 40)
	// One record too large for the cluster: dead-lettered with the reason.
	ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(5).Body().SetStr(strings.Repeat("x", 4000))
	require.NoError(t, h.exp.ExportLogs(t.Context(), ld))
	require.Len(t, srv.Docs("logs-estate.svc-default"), 39)
	lines := readDeadLetters(t, h.cfg.DeadLetterDir)
	require.Len(t, lines, 1)
	require.Equal(t, http.StatusRequestEntityTooLarge, lines[0].Status)
	// Its copy for the dead-letter index is too large as well: counted.
	require.Equal(t, 1, metricValue(t, h.reg, "estate_elasticsearch_exporter_dead_letter_index_failures_total"))
}

func TestHungServerTimesOut(t *testing.T) {
	// Connections are accepted by the kernel and never answered.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	cfg := defaults(t, "http://"+ln.Addr().String())
	cfg.RequestTimeout = 200 * time.Millisecond
	exp, err := es.New(cfg, es.Options{})
	require.NoError(t, err)
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()
	require.NoError(t, exp.Start(t.Context()))
	err = exp.ExportLogs(t.Context(), makeLogs("svc", 1))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var shut *delivery.ShutdownError
	require.NotErrorAs(t, err, &shut, "the caller did not stop")
}

func TestConcurrentExports(t *testing.T) {
	srv := startDouble(t, esdouble.Options{})
	srv.SetPlan(esdouble.FailEvery(5, 40, 429))
	h := newHarness(t, srv, nil)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.exp.ExportLogs(t.Context(), makeLogs(fmt.Sprintf("svc%d", i), 50))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err)
		require.Len(t, srv.Docs(fmt.Sprintf("logs-estate.svc%d-default", i)), 50)
	}
}
