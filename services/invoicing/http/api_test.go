package http_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/services/contracts"
	invoicinghttp "github.com/estatehq/estate/services/invoicing/http"
)

var update = flag.Bool("update", false, "rewrite the checked-in OpenAPI document")

const openAPIFile = "../openapi.json"

// TestOpenAPIDocument fails when services/invoicing/openapi.json is not the
// document the code generates; `go test -run TestOpenAPIDocument -update`
// rewrites it.
func TestOpenAPIDocument(t *testing.T) {
	got, err := json.MarshalIndent(invoicinghttp.OpenAPI(), "", "  ")
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
	require.NoError(t, err, "run go test ./services/invoicing/http -run TestOpenAPIDocument -update")
	require.Equal(t, string(want), string(got), "services/invoicing/openapi.json is stale: run go test ./services/invoicing/http -run TestOpenAPIDocument -update")
}

func TestServedOpenAPI(t *testing.T) {
	e := newEnv(t, backends[0].open(t))
	r := expect(t, e.do(t, req{method: "GET", path: "/openapi.json"}), 200)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &doc))
	require.Equal(t, "3.1.0", doc["openapi"])
	require.Contains(t, doc["paths"], "/v1/invoices/{id}/payments")
	// The server serves the document checked in, version included.
	var checkedIn map[string]any
	b, err := os.ReadFile(openAPIFile)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &checkedIn))
	require.Equal(t, checkedIn, doc)
	require.Equal(t, invoicinghttp.APIVersion, must[map[string]any](t, doc["info"])["version"])
}

// TestResponseValidationBites proves the lifecycle's response check is
// real: a response off the document is caught.
func TestResponseValidationBites(t *testing.T) {
	e := newEnv(t, backends[0].open(t))
	h := http.Header{"Content-Type": {"application/json"}}
	err := e.validate("GET", "/v1/invoices/in_1", h, resp{Status: 200, Header: h, Body: []byte(`{"id": 3}`)})
	require.Error(t, err)
}

func TestBadInput(t *testing.T) {
	e := newEnv(t, backends[0].open(t))
	alice := e.register(t, "alice", "Alice")
	bob := e.register(t, "bob", "Bob")
	tests := []struct {
		name   string
		r      req
		status int
		loc    string
	}{
		{"no token", req{method: "GET", path: "/v1/invoices"}, 401, ""},
		{"bad token", req{method: "GET", path: "/v1/invoices", token: "abc.def.ghi"}, 401, ""},
		{"malformed JSON", req{method: "POST", path: "/v1/invoices", token: alice.token, body: `{"customer": `}, 400, "body"},
		{"JSON of the wrong type", req{method: "POST", path: "/v1/invoices", token: alice.token, body: `[1,2]`}, 422, ""},
		{"missing fields", req{method: "POST", path: "/v1/invoices", token: alice.token, body: `{}`}, 422, "body"},
		{"unknown field", req{method: "POST", path: "/v1/invoices", token: alice.token, body: fmt.Sprintf(`{"customer":%q,"currency":"eur","due_date":"2030-01-01","line_items":[{"description":"a","quantity":1,"unit_amount":1}],"amount":5}`, bob.id)}, 422, ""},
		{"bad currency", req{method: "POST", path: "/v1/invoices", token: alice.token, body: map[string]any{"customer": bob.id, "currency": "zzz", "due_date": "2030-01-01", "line_items": []map[string]any{{"description": "a", "quantity": 1, "unit_amount": 1}}}}, 422, "body.currency"},
		{"negative quantity", req{method: "POST", path: "/v1/invoices", token: alice.token, body: map[string]any{"customer": bob.id, "currency": "eur", "due_date": "2030-01-01", "line_items": []map[string]any{{"description": "a", "quantity": -1, "unit_amount": 1}}}}, 422, "body.line_items[0].quantity"},
		{"float amount", req{method: "POST", path: "/v1/invoices", token: alice.token, body: `{"customer":"x","currency":"eur","due_date":"2030-01-01","line_items":[{"description":"a","quantity":1,"unit_amount":1.5}]}`}, 422, ""},
		{"bad date", req{method: "POST", path: "/v1/invoices", token: alice.token, body: map[string]any{"customer": bob.id, "currency": "eur", "due_date": "2030-02-30", "line_items": []map[string]any{{"description": "a", "quantity": 1, "unit_amount": 1}}}}, 422, "body.due_date"},
		{"tax over 100%", req{method: "POST", path: "/v1/invoices", token: alice.token, body: map[string]any{"customer": bob.id, "currency": "eur", "due_date": "2030-01-01", "line_items": []map[string]any{{"description": "a", "quantity": 1, "unit_amount": 1, "tax_rate": "100.5"}}}}, 422, "body.line_items[0].tax_rate"},
		{"invoice to self", req{method: "POST", path: "/v1/invoices", token: alice.token, body: invoiceBody(alice.id, 1)}, 422, "body.customer"},
		{"unknown customer", req{method: "POST", path: "/v1/invoices", token: alice.token, body: invoiceBody("bus_nope", 1)}, 422, "body.customer"},
		{"total too large", req{method: "POST", path: "/v1/invoices", token: alice.token, body: map[string]any{"customer": bob.id, "currency": "eur", "due_date": "2030-01-01", "line_items": []map[string]any{{"description": "a", "quantity": 1000000, "unit_amount": 999999999999}}}}, 422, "body.line_items[0]"},
		{"bad country", req{method: "POST", path: "/v1/businesses", token: e.token("carol", ""), body: map[string]any{"legal_name": "C", "country": "XX", "registration_number": "1", "billing_email": "c@example.com"}}, 422, "body.country"},
		{"second business", req{method: "POST", path: "/v1/businesses", token: alice.token, body: map[string]any{"legal_name": "A2", "country": "FR", "registration_number": "1", "billing_email": "a@example.com"}}, 409, ""},
		{"limit too high", req{method: "GET", path: "/v1/invoices?limit=1000", token: alice.token}, 422, "query.limit"},
		{"bad role", req{method: "GET", path: "/v1/invoices?role=mine", token: alice.token}, 422, "query.role"},
		{"bad cursor", req{method: "GET", path: "/v1/invoices?starting_after=in_nope", token: alice.token}, 422, "query.starting_after"},
		{"no business yet", req{method: "POST", path: "/v1/invoices", token: e.token("dave", ""), body: invoiceBody(bob.id, 1)}, 403, ""},
		{"unknown route", req{method: "GET", path: "/v2/nothing", token: alice.token}, 404, ""},
		{"not JSON", req{method: "POST", path: "/v1/invoices", token: alice.token, body: "<invoice/>", header: map[string]string{"Content-Type": "application/xml"}}, 415, "body"},
		{"body too large", req{method: "POST", path: "/v1/invoices", token: alice.token, body: `{"memo":"` + strings.Repeat("x", 1<<20) + `"}`}, 413, ""},
		{"body too large with an Idempotency-Key", req{method: "POST", path: "/v1/invoices", token: alice.token, body: `{"memo":"` + strings.Repeat("x", 1<<20) + `"}`, header: map[string]string{"Idempotency-Key": "big"}}, 413, ""},
		{"Idempotency-Key too long", req{method: "POST", path: "/v1/invoices", token: alice.token, body: invoiceBody(bob.id, 1), header: map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}}, 400, "header.Idempotency-Key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := expect(t, e.do(t, tc.r), tc.status)
			p := r.json(t)
			require.EqualValues(t, tc.status, p["status"])
			if tc.loc != "" {
				var locs []string
				for _, d := range must[[]any](t, p["errors"]) {
					locs = append(locs, must[string](t, must[map[string]any](t, d)["location"]))
				}
				require.Contains(t, locs, tc.loc)
			}
		})
	}
}

func TestIdempotency(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b.open(t))
			alice := e.register(t, "alice", "Alice")
			bob := e.register(t, "bob", "Bob")
			key := map[string]string{"Idempotency-Key": "create-1"}
			first := expect(t, e.do(t, req{method: "POST", path: "/v1/invoices", token: alice.token, body: invoiceBody(bob.id, 100), header: key}), 201)
			again := expect(t, e.do(t, req{method: "POST", path: "/v1/invoices", token: alice.token, body: invoiceBody(bob.id, 100), header: key}), 201)
			require.Equal(t, string(first.Body), string(again.Body))
			require.Equal(t, first.Header.Get("ETag"), again.Header.Get("ETag"))
			require.Equal(t, first.Header.Get("Location"), again.Header.Get("Location"))
			require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
			other := expect(t, e.do(t, req{method: "POST", path: "/v1/invoices", token: alice.token, body: invoiceBody(bob.id, 999), header: key}), 409)
			require.Contains(t, other.str(t, "detail"), "another request")
			// Keys belong to their tenant: bob's same key is a new request.
			expect(t, e.do(t, req{method: "POST", path: "/v1/invoices", token: bob.token, body: invoiceBody(alice.id, 100), header: key}), 201)
			list := expect(t, e.do(t, req{method: "GET", path: "/v1/invoices", token: alice.token}), 200).json(t)
			require.Len(t, list["data"], 1)

			// 50 concurrent POSTs with one key create one invoice.
			var wg sync.WaitGroup
			var created, busy atomic.Int64
			ids := sync.Map{}
			for range 50 {
				wg.Go(func() {
					r := e.do(t, req{method: "POST", path: "/v1/invoices", token: alice.token, body: invoiceBody(bob.id, 7), header: map[string]string{"Idempotency-Key": "race"}})
					switch r.Status {
					case 201:
						created.Add(1)
						ids.Store(r.str(t, "id"), true)
					case 409:
						busy.Add(1)
					default:
						t.Errorf("status %d: %s", r.Status, r.Body)
					}
				})
			}
			wg.Wait()
			n := 0
			ids.Range(func(any, any) bool { n++; return true })
			require.Equal(t, 1, n, "one invoice, replayed to every winner")
			require.Equal(t, int64(50), created.Load()+busy.Load())
			list = expect(t, e.do(t, req{method: "GET", path: "/v1/invoices", token: alice.token}), 200).json(t)
			require.Len(t, list["data"], 2)
		})
	}
}

func TestConcurrentPaymentsNeverOverpay(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b.open(t))
			alice := e.register(t, "alice", "Alice")
			bob := e.register(t, "bob", "Bob")
			id := newOpen(t, e, alice, bob, 1000)
			var wg sync.WaitGroup
			var ok, conflict atomic.Int64
			for i := range 30 {
				wg.Go(func() {
					r := e.do(t, req{method: "POST", path: "/v1/invoices/" + id + "/payments", token: alice.token,
						body: map[string]any{"amount": 100, "method": "card"}, header: map[string]string{"Idempotency-Key": fmt.Sprintf("pay-%d", i)}})
					switch r.Status {
					case 201:
						ok.Add(1)
					case 409:
						conflict.Add(1)
					default:
						t.Errorf("status %d: %s", r.Status, r.Body)
					}
				})
			}
			wg.Wait()
			require.Equal(t, int64(10), ok.Load())
			inv := expect(t, e.do(t, req{method: "GET", path: "/v1/invoices/" + id, token: alice.token}), 200).json(t)
			require.EqualValues(t, 1000, inv["amount_paid"])
			require.Equal(t, "paid", inv["status"])
		})
	}
}

// TestTenantIsolation sends a third business's token against every route of
// the API with the ids of the other two businesses' invoices: it gets 404
// or 403 and never their data.
func TestTenantIsolation(t *testing.T) {
	e := newEnv(t, backends[0].open(t))
	alice := e.register(t, "alice", "Alice")
	bob := e.register(t, "bob", "Bob")
	mallory := e.register(t, "mallory", "Mallory")
	draft := expect(t, e.do(t, req{method: "POST", path: "/v1/invoices", token: alice.token, body: invoiceBody(bob.id, 100)}), 201).str(t, "id")
	open := newOpen(t, e, alice, bob, 200)
	paid := newOpen(t, e, bob, alice, 300)
	payment := expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + paid + "/payments", token: bob.token, body: map[string]any{"amount": 300, "method": "card"}}), 201).str(t, "id")
	// Mallory's own machine token with the financing scope reaches no
	// invoice of the others either.
	malloryMachine := e.token("mallory-credit", mallory.id, contracts.FinancingScope)

	// Every operation of the document is covered.
	covered := map[string]bool{}
	for _, id := range []string{draft, open, paid} {
		routes := []req{
			{method: "GET", path: "/v1/invoices/" + id},
			{method: "PATCH", path: "/v1/invoices/" + id, body: map[string]any{"memo": "x"}},
			{method: "DELETE", path: "/v1/invoices/" + id},
			{method: "POST", path: "/v1/invoices/" + id + "/send"},
			{method: "POST", path: "/v1/invoices/" + id + "/payments", body: map[string]any{"amount": 1, "method": "card"}},
			{method: "GET", path: "/v1/invoices/" + id + "/payments"},
			{method: "POST", path: "/v1/invoices/" + id + "/void"},
			{method: "POST", path: "/v1/invoices/" + id + "/mark-uncollectible"},
			{method: "POST", path: "/v1/invoices/" + id + "/payments/" + payment + "/confirm"},
			{method: "PUT", path: "/v1/invoices/" + id + "/financing/dd_mallory"},
			{method: "DELETE", path: "/v1/invoices/" + id + "/financing/dd_mallory"},
			{method: "PUT", path: "/v1/invoices/" + id + "/financing/dd_mallory", token: malloryMachine},
			{method: "DELETE", path: "/v1/invoices/" + id + "/financing/dd_mallory", token: malloryMachine},
		}
		for _, biz := range []string{alice.id, bob.id} {
			members := "/v1/businesses/" + biz + "/members"
			routes = append(routes, req{method: "GET", path: "/v1/businesses/" + biz + "/invoice-history"},
				req{method: "GET", path: members},
				req{method: "POST", path: members, body: map[string]any{"subject": "mallory", "role": "owner"}},
				req{method: "GET", path: members + "/alice"},
				req{method: "PATCH", path: members + "/alice", body: map[string]any{"role": "read_only"}},
				req{method: "DELETE", path: members + "/alice"})
		}
		for _, r := range routes {
			if r.token == "" {
				r.token = mallory.token
			}
			t.Run(r.method+" "+strings.ReplaceAll(r.path, id, "{id}"), func(t *testing.T) {
				got := e.do(t, r)
				require.Contains(t, []int{403, 404}, got.Status, "%s", got.Body)
				require.NotContains(t, string(got.Body), id)
				require.NotContains(t, string(got.Body), "Alice")
				// The same request naming resources that do not exist
				// gets the same answer: existence does not show.
				ghost := r
				ghost.path = strings.NewReplacer(id, "in_00000000000000000000", payment, "py_00000000000000000000",
					alice.id, "bus_00000000000000000000", bob.id, "bus_00000000000000000000").Replace(r.path)
				other := e.do(t, ghost)
				require.Equal(t, other.Status, got.Status, "%s: %s, and for nothing: %s", r.path, got.Body, other.Body)
				require.Equal(t, other.json(t)["detail"], got.json(t)["detail"])
			})
			path := strings.ReplaceAll(strings.ReplaceAll(r.path, payment, "{payment_id}"), "dd_mallory", "{drawdown_id}")
			covered[r.method+" "+strings.ReplaceAll(templ(path, id, alice.id, bob.id), "/alice", "/{subject}")] = true
		}
	}
	// The payment webhook takes no bearer token, a customer's least of all.
	r := expect(t, e.do(t, req{method: "POST", path: invoicinghttp.PaymentWebhookPath, token: alice.token,
		body: map[string]any{"id": "pi_mallory", "invoice_id": open, "amount": 200, "method": "card"}}), 401)
	require.NotContains(t, string(r.Body), open)
	covered["POST "+invoicinghttp.PaymentWebhookPath] = true
	// Lists show mallory nothing of the others.
	for _, role := range []string{"issued", "received"} {
		l := expect(t, e.do(t, req{method: "GET", path: "/v1/invoices?role=" + role, token: mallory.token}), 200).json(t)
		require.Empty(t, l["data"])
		covered["GET /v1/invoices"] = true
	}
	// Creating with another's resources: a cursor of theirs is refused.
	expect(t, e.do(t, req{method: "GET", path: "/v1/invoices?starting_after=" + open, token: mallory.token}), 422)
	covered["POST /v1/invoices"] = true
	// Another business's profile is public (name and country) but nothing
	// more.
	p := expect(t, e.do(t, req{method: "GET", path: "/v1/businesses/" + alice.id, token: mallory.token}), 200).json(t)
	require.NotContains(t, p, "billing_email")
	covered["GET /v1/businesses/{id}"] = true
	covered["POST /v1/businesses"] = true // registers the caller's own
	// Another subject's memberships are a trusted machine client's only.
	expect(t, e.do(t, req{method: "GET", path: "/v1/memberships?subject=alice", token: mallory.token}), 403)
	covered["GET /v1/memberships"] = true

	var all []string
	for path, ops := range invoicinghttp.OpenAPI().Paths {
		for m, op := range map[string]*huma.Operation{"GET": ops.Get, "POST": ops.Post, "PUT": ops.Put, "PATCH": ops.Patch, "DELETE": ops.Delete} {
			if op != nil {
				all = append(all, m+" "+path)
			}
		}
	}
	for _, op := range all {
		require.True(t, covered[op], "route %s is not covered by the isolation test", op)
	}
}

func templ(path, id string, biz ...string) string {
	path = strings.ReplaceAll(path, id, "{id}")
	for _, b := range biz {
		path = strings.ReplaceAll(path, b, "{id}")
	}
	return path
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, backends[0].open(t), func(o *invoicinghttp.Options) { o.RateLimit, o.RateBurst = 1, 3 })
	tok := e.token("alice", "")
	var limited resp
	for range 10 {
		if r := e.do(t, req{method: "GET", path: "/v1/invoices", token: tok}); r.Status == 429 {
			limited = r
			break
		}
	}
	require.Equal(t, 429, limited.Status)
	require.NotEmpty(t, limited.Header.Get("Retry-After"))
	// Another tenant is not limited.
	expect(t, e.do(t, req{method: "GET", path: "/v1/businesses/bus_x", token: e.token("bob", "")}), 404)
	_ = context.Background()
}
