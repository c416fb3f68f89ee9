package http_test

import (
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	credithttp "github.com/estatehq/estate/services/credit/http"
)

var update = flag.Bool("update", false, "rewrite the checked-in OpenAPI document")

const openAPIFile = "../openapi.json"

// TestOpenAPIDocument fails when services/credit/openapi.json is not the
// document the code generates; `go test -run TestOpenAPIDocument -update`
// rewrites it.
func TestOpenAPIDocument(t *testing.T) {
	got, err := json.MarshalIndent(credithttp.OpenAPI(), "", "  ")
	require.NoError(t, err)
	got = append(got, '\n')
	var head struct {
		OpenAPI string `json:"openapi"`
	}
	require.NoError(t, json.Unmarshal(got, &head))
	require.Equal(t, "3.1.0", head.OpenAPI)
	if *update {
		require.NoError(t, os.WriteFile(openAPIFile, got, 0o644))
	}
	want, err := os.ReadFile(openAPIFile)
	require.NoError(t, err, "run go test -run TestOpenAPIDocument -update")
	require.Equal(t, string(want), string(got), "services/credit/openapi.json is stale: run go test ./services/credit/http -run TestOpenAPIDocument -update")
}

// TestServedOpenAPI: the server serves the document checked in, version
// included.
func TestServedOpenAPI(t *testing.T) {
	e := newEnv(t)
	res, err := http.Get(e.credit.URL + "/openapi.json")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	var served, checkedIn map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&served))
	b, err := os.ReadFile(openAPIFile)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &checkedIn))
	require.Equal(t, checkedIn, served)
	require.Equal(t, credithttp.APIVersion, served["info"].(map[string]any)["version"])
}

func TestApplication(t *testing.T) {
	e := newEnv(t)
	good, _ := e.withHistory("good", 3, 10_000)
	short, _ := e.withHistory("short", 2, 10_000)

	r := expect(t, e.do(e.credit.URL, "POST", "/v1/credit/applications", good.token, map[string]any{"requested_limit": 50_000, "currency": "eur"}), 201)
	require.Equal(t, "approved", r.Body["status"])
	require.Equal(t, int64(15_000), num(r.Body["approved_limit"]), "half of 30 000 paid")
	require.NotEmpty(t, r.Body["reasons"])
	require.Equal(t, "/v1/credit/applications/"+r.Body["id"].(string), r.Header.Get("Location"))

	got := expect(t, e.do(e.credit.URL, "GET", "/v1/credit/applications/"+r.Body["id"].(string), good.token, nil), 200)
	require.Equal(t, r.Body, got.Body)
	expect(t, e.do(e.credit.URL, "GET", "/v1/credit/applications/"+r.Body["id"].(string), short.token, nil), 404)

	line := e.line(good)
	require.Equal(t, map[string]any{"limit": 15_000.0, "drawn": 0.0, "available": 15_000.0, "currency": "EUR"}, line)

	r = expect(t, e.do(e.credit.URL, "POST", "/v1/credit/applications", short.token, map[string]any{"requested_limit": 1000, "currency": "eur"}), 201)
	require.Equal(t, "declined", r.Body["status"])
	require.True(t, strings.HasPrefix(r.Body["reasons"].([]any)[0].(string), "history_too_short"))
	expect(t, e.do(e.credit.URL, "GET", "/v1/credit/line", short.token, nil), 404)

	// Bad input and no token.
	expect(t, e.do(e.credit.URL, "POST", "/v1/credit/applications", good.token, map[string]any{"requested_limit": 0, "currency": "EUR"}), 422)
	expect(t, e.do(e.credit.URL, "POST", "/v1/credit/applications", "", map[string]any{"requested_limit": 1, "currency": "eur"}), 401)
}

func TestDrawdownRules(t *testing.T) {
	e := newEnv(t)
	me, customer := e.withHistory("me", 3, 10_000)
	other, _ := e.withHistory("other", 3, 10_000)
	expect(t, e.do(e.credit.URL, "POST", "/v1/credit/applications", me.token, map[string]any{"requested_limit": 10_000, "currency": "eur"}), 201)

	open := e.invoice(me, customer, 10_000, 30)
	big := e.invoice(me, customer, 100_000, 30)
	paid := e.invoice(me, customer, 1000, 30)
	e.pay(me, paid, 1000)
	theirs := e.invoice(other, me, 10_000, 30) // the caller is its customer

	draw := func(invoice string, amount int64, idem string) resp {
		return e.do(e.credit.URL, "POST", "/v1/credit/drawdowns", me.token, map[string]any{"invoice_id": invoice, "amount": amount}, "Idempotency-Key", idem)
	}
	tests := []struct {
		name    string
		invoice string
		amount  int64
		status  int
		detail  string
	}{
		{"over 80% of the amount due", open, 8001, 422, "at most 80%"},
		{"over the available credit", big, 10_001, 409, "exceeds the available credit"},
		{"someone else's invoice", theirs, 100, 403, "only the issuer"},
		{"a paid invoice", paid, 100, 409, "the invoice is paid"},
		{"an unknown invoice", "in_nope", 100, 404, "no such invoice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := expect(t, draw(tc.invoice, tc.amount, key(tc.name)), tc.status)
			require.Contains(t, r.Body["detail"], tc.detail)
		})
	}
	require.Equal(t, int64(0), num(e.line(me)["drawn"]), "no refused drawdown drew anything")

	r := expect(t, draw(open, 8000, "first"), 201)
	require.Equal(t, "active", r.Body["status"])
	again := expect(t, draw(open, 8000, "first"), 201)
	require.Equal(t, r.Body["id"], again.Body["id"], "the same Idempotency-Key replays the drawdown")
	twice := expect(t, draw(open, 100, "second"), 409)
	require.Contains(t, twice.Body["detail"], "already financed")
	require.Equal(t, int64(8000), num(e.line(me)["drawn"]))

	list := expect(t, e.do(e.credit.URL, "GET", "/v1/credit/drawdowns", me.token, nil), 200)
	require.Len(t, list.Body["data"], 1)
	require.Equal(t, false, list.Body["has_more"])
	list = expect(t, e.do(e.credit.URL, "GET", "/v1/credit/drawdowns", other.token, nil), 200)
	require.Empty(t, list.Body["data"], "a tenant never sees another's drawdowns")
}

// TestKitRefusals: the refusals of the service kit's middleware and of
// huma are answered as the document says (do checks each response).
func TestKitRefusals(t *testing.T) {
	e := newEnv(t)
	me := e.register("me")
	apply := map[string]any{"requested_limit": 10_000, "currency": "eur"}
	expect(t, e.do(e.credit.URL, "POST", "/v1/credit/applications", "", apply), 401)
	expect(t, e.do(e.credit.URL, "POST", "/v1/credit/applications", me.token, apply, "Content-Type", "text/plain"), 415)
	expect(t, e.do(e.credit.URL, "POST", "/v1/credit/applications", me.token, apply, "Idempotency-Key", strings.Repeat("k", 256)), 400)
	expect(t, e.do(e.credit.URL, "POST", "/v1/credit/drawdowns", me.token, map[string]any{"invoice_id": strings.Repeat("x", 1<<20), "amount": 1}), 413)
	expect(t, e.do(e.credit.URL, "GET", "/v1/credit/drawdowns?limit=0", me.token, nil), 422)
	expect(t, e.do(e.credit.URL, "GET", "/v1/credit/line", me.token, nil), 404)
}
