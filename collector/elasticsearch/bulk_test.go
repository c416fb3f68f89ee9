package elasticsearch

import (
	"encoding/json"
	"flag"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

func TestParseBulkResponse(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    []itemResult
		wantErr bool
	}{
		{
			name: "all created",
			body: `{"took":3,"errors":false,"items":[{"create":{"_index":"x","_id":"a","status":201}},{"create":{"status":201}}]}`,
			want: []itemResult{{Status: 201}, {Status: 201}},
		},
		{
			name: "mixed, as filter_path returns it",
			body: `{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"[a]: version conflict"}}},{"create":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected"}}},{"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse"}}}]}`,
			want: []itemResult{
				{Status: 201},
				{Status: 409, Type: "version_conflict_engine_exception", Reason: "[a]: version conflict"},
				{Status: 429, Type: "es_rejected_execution_exception", Reason: "rejected"},
				{Status: 400, Type: "mapper_parsing_exception", Reason: "failed to parse"},
			},
		},
		{
			name: "error as a string (old servers)",
			body: `{"errors":true,"items":[{"index":{"status":500,"error":"boom"}}]}`,
			want: []itemResult{{Status: 500, Reason: "boom"}},
		},
		{name: "fewer items than actions", body: `{"errors":false,"items":[{"create":{"status":201}}]}`, wantErr: true},
		{name: "no errors field", body: `{"items":[{"create":{"status":201}},{"create":{"status":201}}]}`, wantErr: true},
		{name: "not json", body: `<html>bad gateway</html>`, wantErr: true},
		{name: "item without action", body: `{"errors":false,"items":[{},{"create":{"status":201}}]}`, wantErr: true},
		{name: "status out of range", body: `{"errors":false,"items":[{"create":{"status":0}},{"create":{"status":201}}]}`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := len(tc.want)
			if tc.wantErr {
				want = 2
			}
			got, err := parseBulkResponse([]byte(tc.body), want)
			if tc.wantErr {
				require.ErrorIs(t, err, errMalformedBulkResponse)
				return
			}
			require.NoError(t, err)
			require.Empty(t, cmp.Diff(tc.want, got))
		})
	}
}

func TestOutcome(t *testing.T) {
	for status, want := range map[int]string{
		200: outcomeCreated, 201: outcomeCreated, 409: outcomeDuplicate,
		429: outcomeRetry, 500: outcomeRetry, 503: outcomeRetry, 403: outcomeRetry, 408: outcomeRetry,
		400: outcomeDeadLetter, 404: outcomeDeadLetter, 413: outcomeDeadLetter,
	} {
		require.Equal(t, want, itemResult{Status: status}.outcome(), "status %d", status)
	}
}

func FuzzParseBulkResponse(f *testing.F) {
	f.Add([]byte(`{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":409,"error":{"type":"t","reason":"r"}}}]}`), 2)
	f.Add([]byte(`{"errors":false,"items":[{"index":{"status":500,"error":"boom"}}]}`), 1)
	f.Add([]byte(`{"errors":true,"items":[{"create":{"status":400,"error":null}}]}`), 1)
	f.Add([]byte(`{}`), 0)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		if n < 0 || n > 1<<16 {
			return
		}
		got, err := parseBulkResponse(body, n)
		if err != nil {
			return
		}
		// A parsed response always has one valid result per action, and
		// every result has an outcome.
		if len(got) != n {
			t.Fatalf("%d results for %d actions", len(got), n)
		}
		for _, r := range got {
			if r.Status < 100 || r.Status > 599 {
				t.Fatalf("status %d", r.Status)
			}
			switch r.outcome() {
			case outcomeCreated, outcomeDuplicate, outcomeRetry, outcomeDeadLetter:
			default:
				t.Fatalf("no outcome for %d", r.Status)
			}
		}
		if !json.Valid(body) {
			t.Fatalf("parsed invalid JSON: %q", body)
		}
	})
}

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{
		"Checkout":         "checkout",
		"my-service":       "my_service",
		"_private":         "private",
		"a/b c*d":          "a_b_c_d",
		"":                 "unknown",
		"___":              "unknown",
		"svc.v2":           "svc.v2",
		"Ünïcode-Straße":   "n_code_stra_e",
		"..hidden.service": "hidden.service",
	} {
		require.Equal(t, want, sanitizeName(in, "unknown"), "%q", in)
	}
}

// BenchmarkItems measures the conversion alone: ECS mapping, the
// deterministic id and JSON encoding of 1000 records.
func BenchmarkItems(b *testing.B) {
	var cfg Config
	cfg.RegisterFlags(flag.NewFlagSet("bench", flag.ContinueOnError), "")
	e := &Exporter{cfg: cfg, now: time.Now}
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "invoicing")
	rl.Resource().Attributes().PutStr("host.name", "node-1")
	sl := rl.ScopeLogs().AppendEmpty()
	for i := range 1000 {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Unix(1_800_000_000, int64(i))))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.Body().SetStr("GET /v1/invoices/inv_01JDX4 200 12.3ms user=acct_8812 tenant=t_42")
		lr.Attributes().PutStr("http.route", "/v1/invoices/{id}")
		lr.Attributes().PutInt("http.status_code", 200)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.items(ld); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(1000*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
