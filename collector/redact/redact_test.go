package redact_test

import (
	"flag"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/estatehq/estate/collector/redact"
)

// Real-looking secrets: test card numbers of the networks, the IBAN
// examples of the registry, a JWT as jwt.io shows it.
const (
	visa       = "4111 1111 1111 1111"
	badVisa    = "4111 1111 1111 1112"
	mastercard = "5555-5555-5555-4444"
	iban       = "GB82 WEST 1234 5698 7654 32"
	badIBAN    = "GB83 WEST 1234 5698 7654 32"
	ibanDE     = "DE89370400440532013000"
	jwt        = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
	hashKey    = "0123456789abcdef0123456789abcdef-test-key"
)

func defaults(t testing.TB) redact.Config {
	t.Helper()
	var c redact.Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlags(fs, "")
	require.NoError(t, fs.Parse(nil))
	return c
}

func newRedactor(t testing.TB, edit func(*redact.Config)) (*redact.Redactor, *prometheus.Registry) {
	t.Helper()
	c := defaults(t)
	if edit != nil {
		edit(&c)
	}
	reg := prometheus.NewRegistry()
	r, err := redact.New(redact.Options{Config: c, Registerer: reg})
	require.NoError(t, err)
	return r, reg
}

// record is one log record's body and attributes, as raw values.
type record struct {
	Body  any
	Attrs map[string]any
}

func logs(t testing.TB, resource map[string]any, recs ...record) plog.Logs {
	t.Helper()
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	require.NoError(t, rl.Resource().Attributes().FromRaw(resource))
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for _, r := range recs {
		lr := lrs.AppendEmpty()
		require.NoError(t, lr.Body().FromRaw(r.Body))
		require.NoError(t, lr.Attributes().FromRaw(r.Attrs))
	}
	return ld
}

func records(ld plog.Logs) []record {
	var out []record
	lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	for i := range lrs.Len() {
		out = append(out, record{Body: lrs.At(i).Body().AsRaw(), Attrs: lrs.At(i).Attributes().AsRaw()})
	}
	return out
}

func TestLogs(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(*redact.Config)
		in         record
		want       record
		wantCounts redact.Counts
	}{
		{
			name: "email in a structured line and in an attribute",
			in: record{
				Body:  `{"time":"2026-12-02T10:04:11Z","level":"INFO","msg":"invoice sent","invoice_id":"inv_01JDX4","to":"jane.doe@example.com"}`,
				Attrs: map[string]any{"recipient": "Jane Doe <jane.doe@example.com>", "invoice_id": "inv_01JDX4"},
			},
			want: record{
				Body:  `{"time":"2026-12-02T10:04:11Z","level":"INFO","msg":"invoice sent","invoice_id":"inv_01JDX4","to":"[REDACTED:email]"}`,
				Attrs: map[string]any{"recipient": "Jane Doe <[REDACTED:email]>", "invoice_id": "inv_01JDX4"},
			},
			wantCounts: redact.Counts{"email": 2},
		},
		{
			name: "cards: Luhn passes, Luhn fails",
			in: record{
				Body:  "payment by card " + visa + " declined; retried with " + mastercard + "; typo " + badVisa,
				Attrs: map[string]any{"order": int64(4111111111111111), "amount": "1250.00"},
			},
			want: record{
				Body:  "payment by card [REDACTED:card] declined; retried with [REDACTED:card]; typo " + badVisa,
				Attrs: map[string]any{"order": int64(4111111111111111), "amount": "1250.00"},
			},
			wantCounts: redact.Counts{"card": 2},
		},
		{
			name: "IBANs: checksum passes, checksum fails",
			in: record{
				Body:  "payout to " + iban + " (fallback " + badIBAN + ")",
				Attrs: map[string]any{"payout.account": ibanDE},
			},
			want: record{
				Body:  "payout to [REDACTED:iban] (fallback " + badIBAN + ")",
				Attrs: map[string]any{"payout.account": "[REDACTED:iban]"},
			},
			wantCounts: redact.Counts{"iban": 2},
		},
		{
			name: "map body: headers, personal fields and values within",
			in: record{
				Body: map[string]any{
					"msg": "request",
					"headers": map[string]any{
						"Authorization": "Bearer " + jwt,
						"Cookie":        "session=9f86d081884c7d65; theme=dark",
						"Accept":        "application/json",
					},
					"business": map[string]any{"legal_name": "Northwind Traders Ltd", "registration_number": int64(12345678), "country": "GB"},
					"notes":    []any{"call back", "write to ap@northwind.example"},
				},
				Attrs: map[string]any{},
			},
			want: record{
				Body: map[string]any{
					"msg": "request",
					"headers": map[string]any{
						"Authorization": "[REDACTED:authorization]",
						"Cookie":        "[REDACTED:cookie]",
						"Accept":        "application/json",
					},
					"business": map[string]any{"legal_name": "[REDACTED:personal]", "registration_number": "[REDACTED:personal]", "country": "GB"},
					"notes":    []any{"call back", "write to [REDACTED:email]"},
				},
				Attrs: map[string]any{},
			},
			wantCounts: redact.Counts{"authorization": 1, "cookie": 1, "personal": 2, "email": 1},
		},
		{
			name: "headers in a text line",
			in: record{
				Body:  "upstream request failed: POST /v1/drawdowns\r\nAuthorization: Basic Y3JlZGl0OnMzY3JldA==\r\nCookie: sid=31d4d96e407aad42\r\n",
				Attrs: map[string]any{},
			},
			want: record{
				Body:  "upstream request failed: POST /v1/drawdowns\r\nAuthorization: [REDACTED:authorization]\r\nCookie: [REDACTED:cookie]\r\n",
				Attrs: map[string]any{},
			},
			wantCounts: redact.Counts{"authorization": 1, "cookie": 1},
		},
		{
			name:       "a default rule turned off",
			edit:       func(c *redact.Config) { c.Email = false },
			in:         record{Body: "to jane.doe@example.com card " + visa, Attrs: map[string]any{"billing_email": "jane.doe@example.com"}},
			want:       record{Body: "to jane.doe@example.com card [REDACTED:card]", Attrs: map[string]any{"billing_email": "[REDACTED:personal]"}},
			wantCounts: redact.Counts{"card": 1, "personal": 1},
		},
		{
			name: "configured patterns, keys and dropped keys",
			edit: func(c *redact.Config) {
				c.Patterns = map[string]string{"order_ref": `ORD-[0-9]{8}`, "phone": `\+44 ?[0-9 ]{10,12}[0-9]`}
				c.Keys = []string{"estate.customer.address"}
				c.DropKeys = []string{"http.request.body", "Debug.Dump"}
			},
			in: record{
				Body: "order ORD-20261202 for +44 20 7946 0958",
				Attrs: map[string]any{
					"estate.customer.address": "1 Main Street, Leeds",
					"http.request.body":       `{"card":"` + visa + `"}`,
					"app.debug.dump":          "everything",
					"http.route":              "/v1/invoices",
				},
			},
			want: record{
				Body:  "order [REDACTED:order_ref] for [REDACTED:phone]",
				Attrs: map[string]any{"estate.customer.address": "[REDACTED:keys]", "http.route": "/v1/invoices"},
			},
			wantCounts: redact.Counts{"order_ref": 1, "phone": 1, "keys": 1, "dropped": 2},
		},
		{
			name: "keyed hashes keep equal values equal",
			edit: func(c *redact.Config) { c.Replacement, c.HashKey = "[HMAC:{rule}:{hash}]", hashKey },
			in:   record{Body: "from jane.doe@example.com to jane.doe@example.com", Attrs: map[string]any{"user.email": "jane.doe@example.com"}},
			want: record{
				Body:  "from [HMAC:email:" + hmacOf("jane.doe@example.com") + "] to [HMAC:email:" + hmacOf("jane.doe@example.com") + "]",
				Attrs: map[string]any{"user.email": "[HMAC:personal:" + hmacOf("jane.doe@example.com") + "]"},
			},
			wantCounts: redact.Counts{"email": 2, "personal": 1},
		},
		{
			name:       "off",
			edit:       func(c *redact.Config) { c.Enabled = false },
			in:         record{Body: "to jane.doe@example.com", Attrs: map[string]any{"authorization": "Bearer x"}},
			want:       record{Body: "to jane.doe@example.com", Attrs: map[string]any{"authorization": "Bearer x"}},
			wantCounts: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newRedactor(t, tt.edit)
			ld := logs(t, map[string]any{"service.name": "invoicing"}, tt.in)
			counts := r.Logs(ld)
			if diff := cmp.Diff([]record{tt.want}, records(ld)); diff != "" {
				t.Errorf("redacted (-want +got):\n%s", diff)
			}
			require.Equal(t, tt.wantCounts, counts)
			again := r.Logs(ld)
			require.Nil(t, again, "redacting again finds nothing")
			if diff := cmp.Diff([]record{tt.want}, records(ld)); diff != "" {
				t.Errorf("redacted twice (-want +got):\n%s", diff)
			}
		})
	}
}

func hmacOf(v string) string {
	r, err := redact.New(redact.Options{Config: redact.Config{Enabled: true, Email: true, Replacement: "{hash}", HashKey: hashKey}})
	if err != nil {
		panic(err)
	}
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.Body().SetStr(v)
	r.Logs(ld)
	return lr.Body().Str()
}

func TestKeyedHashDiffersByKey(t *testing.T) {
	a := hmacOf("jane.doe@example.com")
	require.Len(t, a, 32)
	require.NotEqual(t, a, hmacOf("john.doe@example.com"))
	r, _ := newRedactor(t, func(c *redact.Config) { c.Replacement, c.HashKey = "{hash}", strings.Repeat("k", 32) })
	ld := logs(t, nil, record{Body: "jane.doe@example.com", Attrs: map[string]any{}})
	r.Logs(ld)
	require.NotEqual(t, a, records(ld)[0].Body, "another key, another hash")
}

func TestTraces(t *testing.T) {
	r, reg := newRedactor(t, nil)
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "credit")
	rs.Resource().Attributes().PutStr("deployment.owner", "sre-team@estate.example")
	span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.SetName("GET /v1/businesses/{id}/invoice-history")
	span.Status().SetMessage("customer ap@northwind.example refused")
	attrs := span.Attributes()
	require.NoError(t, attrs.FromRaw(map[string]any{
		"http.request.method":                 "GET",
		"http.request.header.authorization":   []any{"Bearer " + jwt},
		"http.request.header.cookie":          []any{"sid=31d4d96e407aad42"},
		"http.response.header.set-cookie":     []any{"sid=8f14e45f; Path=/; HttpOnly", "theme=dark"},
		"http.request.header.accept":          []any{"application/json"},
		"url.full":                            "https://invoicing.internal/v1/invoices?access_token=" + jwt + "&page=2",
		"estate.business.billing_email":       "finance@northwind.example",
		"estate.business.legal_name":          "Northwind Traders Ltd",
		"estate.business.registration_number": "09446231",
		"estate.payment.card_hint":            badVisa,
		"estate.payment.iban_hint":            badIBAN,
		"estate.invoice.id":                   "inv_01JDX4",
	}))
	ev := span.Events().AppendEmpty()
	ev.SetName("exception")
	ev.Attributes().PutStr("exception.message", `pq: duplicate key value violates unique constraint "businesses_billing_email_key": Key (billing_email)=(finance@northwind.example) already exists`)
	link := span.Links().AppendEmpty()
	link.Attributes().PutStr("messaging.message.body", "card "+visa)

	counts := r.Traces(td)

	want := map[string]any{
		"http.request.method":                 "GET",
		"http.request.header.authorization":   []any{"[REDACTED:authorization]"},
		"http.request.header.cookie":          []any{"[REDACTED:cookie]"},
		"http.response.header.set-cookie":     []any{"[REDACTED:cookie]", "[REDACTED:cookie]"},
		"http.request.header.accept":          []any{"application/json"},
		"url.full":                            "https://invoicing.internal/v1/invoices?access_token=[REDACTED:jwt]&page=2",
		"estate.business.billing_email":       "[REDACTED:personal]",
		"estate.business.legal_name":          "[REDACTED:personal]",
		"estate.business.registration_number": "[REDACTED:personal]",
		"estate.payment.card_hint":            badVisa,
		"estate.payment.iban_hint":            badIBAN,
		"estate.invoice.id":                   "inv_01JDX4",
	}
	if diff := cmp.Diff(want, span.Attributes().AsRaw()); diff != "" {
		t.Errorf("span attributes (-want +got):\n%s", diff)
	}
	require.Equal(t, "GET /v1/businesses/{id}/invoice-history", span.Name())
	require.Equal(t, "customer [REDACTED:email] refused", span.Status().Message())
	require.Equal(t, `pq: duplicate key value violates unique constraint "businesses_billing_email_key": Key (billing_email)=([REDACTED:email]) already exists`,
		ev.Attributes().AsRaw()["exception.message"])
	require.Equal(t, "card [REDACTED:card]", link.Attributes().AsRaw()["messaging.message.body"])
	require.Equal(t, map[string]any{"service.name": "credit", "deployment.owner": "[REDACTED:email]"}, rs.Resource().Attributes().AsRaw())
	wantCounts := redact.Counts{"authorization": 1, "cookie": 3, "jwt": 1, "personal": 3, "email": 3, "card": 1}
	require.Equal(t, wantCounts, counts)
	for rule, n := range wantCounts {
		require.InDelta(t, float64(n), (counter(t, reg, rule, "traces")), 0, rule)
	}
	require.Nil(t, r.Traces(td), "redacting again finds nothing")
}

// counter is the value of estate_collector_redacted_total{rule, signal}.
func counter(t *testing.T, reg *prometheus.Registry, rule, signal string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "estate_collector_redacted_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["rule"] == rule && labels["signal"] == signal {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no series rule=%s signal=%s", rule, signal)
	return 0
}

func TestCounterNeverCarriesValues(t *testing.T) {
	r, reg := newRedactor(t, nil)
	for range 3 {
		r.Logs(logs(t, nil, record{Body: "to jane.doe@example.com", Attrs: map[string]any{"authorization": "Bearer s3cret"}}))
	}
	require.InDelta(t, 3.0, (counter(t, reg, "email", "logs")), 0)
	require.InDelta(t, 3.0, (counter(t, reg, "authorization", "logs")), 0)
	require.InDelta(t, 0.0, (counter(t, reg, "card", "logs")), 0, "every rule's series exists from the start")
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		s := mf.String()
		require.NotContains(t, s, "jane.doe")
		require.NotContains(t, s, "s3cret")
	}
}

func TestMetricsOnlyHeadersAndTokens(t *testing.T) {
	r, reg := newRedactor(t, nil)
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "credit")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("http.server.request.duration")
	dp := m.SetEmptyHistogram().DataPoints().AppendEmpty()
	dp.SetSum(12.5)
	require.NoError(t, dp.Attributes().FromRaw(map[string]any{
		"http.request.header.authorization": "Bearer abc",
		"url.query":                         "token=" + jwt,
		"tenant.contact":                    "ops@northwind.example",
		"billing_email":                     "finance@northwind.example",
	}))
	g := rm.ScopeMetrics().At(0).Metrics().AppendEmpty()
	g.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(4111111111111111)

	counts := r.Metrics(md)

	require.Equal(t, map[string]any{
		"http.request.header.authorization": "[REDACTED:authorization]",
		"url.query":                         "token=[REDACTED:jwt]",
		"tenant.contact":                    "ops@northwind.example",
		"billing_email":                     "finance@northwind.example",
	}, dp.Attributes().AsRaw())
	require.InDelta(t, 12.5, dp.Sum(), 0)
	require.Equal(t, int64(4111111111111111), g.Gauge().DataPoints().At(0).IntValue(), "values are left alone")
	require.Equal(t, redact.Counts{"authorization": 1, "jwt": 1}, counts)
	require.InDelta(t, 1.0, (counter(t, reg, "jwt", "metrics")), 0)
}

func TestNilAndDisabledRedactorsChangeNothing(t *testing.T) {
	var nilRedactor *redact.Redactor
	off, _ := newRedactor(t, func(c *redact.Config) { c.Enabled = false })
	for _, r := range []*redact.Redactor{nilRedactor, off} {
		ld := logs(t, nil, record{Body: "jane.doe@example.com", Attrs: map[string]any{}})
		require.Nil(t, r.Logs(ld))
		require.Nil(t, r.Traces(ptrace.NewTraces()))
		require.Nil(t, r.Metrics(pmetric.NewMetrics()))
		require.Equal(t, "jane.doe@example.com", records(ld)[0].Body)
	}
}

func TestStringSliceAndBytesUnderKeys(t *testing.T) {
	r, _ := newRedactor(t, func(c *redact.Config) { c.Keys = []string{"raw"} })
	ld := plog.NewLogs()
	attrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Attributes()
	attrs.PutEmptyBytes("raw").FromRaw([]byte("secret"))
	attrs.PutEmpty("cookie")
	attrs.PutEmptyMap("authorization").PutStr("scheme", "Bearer")
	counts := r.Logs(ld)
	require.Equal(t, "[REDACTED:keys]", attrs.AsRaw()["raw"])
	require.Nil(t, attrs.AsRaw()["cookie"], "an empty value stays empty")
	require.Equal(t, "[REDACTED:authorization]", attrs.AsRaw()["authorization"])
	require.Equal(t, redact.Counts{"keys": 1, "authorization": 1}, counts)
}
