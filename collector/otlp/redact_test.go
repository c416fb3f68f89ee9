package otlp

import (
	"bytes"
	"flag"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/estatehq/estate/collector"
	"github.com/estatehq/estate/collector/redact"
)

func TestRedactedBeforeQueued(t *testing.T) {
	var cfg redact.Config
	cfg.RegisterFlags(flag.NewFlagSet("test", flag.ContinueOnError), "")
	red, err := redact.New(redact.Options{Config: cfg})
	require.NoError(t, err)
	tests := []struct {
		name, body, want string
		asReceived       bool
	}{
		{"nothing to redact: the body is queued as received", "invoice inv_01JDX4 sent", "invoice inv_01JDX4 sent", true},
		{"redacted: encoded again", "invoice sent to jane.doe@example.com", "invoice sent to [REDACTED:email]", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &fakeQueue{}
			r, err := New(Options{Queue: q, Redactor: red})
			require.NoError(t, err)
			req := plogotlp.NewExportRequest()
			req.Logs().ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(tt.body)
			body, err := req.MarshalProto()
			require.NoError(t, err)
			hr := httptest.NewRequest(http.MethodPost, "/v1/logs", bytes.NewReader(body))
			hr.Header.Set("Content-Type", "application/x-protobuf")
			w := httptest.NewRecorder()
			r.Handler().ServeHTTP(w, hr)
			require.Equal(t, http.StatusOK, w.Code)
			require.Len(t, q.recs, 1)
			_, payload, err := collector.DecodeRecord(q.recs[0])
			require.NoError(t, err)
			require.Equal(t, tt.asReceived, bytes.Equal(body, payload))
			ld, err := collector.Item{Signal: collector.SignalLogs, Payload: payload}.Logs()
			require.NoError(t, err)
			require.Equal(t, tt.want, ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str())
		})
	}
}
