package http_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"

	credithttp "github.com/estatehq/estate/services/credit/http"
)

// TestCreditTenantIsolation runs two tenants against every route of the
// credit router (chi.Walk over the handler NewServer builds, so a route
// added without an entry here fails): tenant B's token, naming A's
// resources, gets the answer it gets for resources that do not exist
// (404 for an id), never A's data, and changes nothing of A's; a
// read-only member of A reads A's resources and writes nothing.
func TestCreditTenantIsolation(t *testing.T) {
	e := newEnv(t)
	a, _ := e.withHistory("a", 3, 10_000)
	b, _ := e.withHistory("b", 3, 10_000)
	c := e.register("c")
	e.apply(a, 10_000, "EUR")
	app := e.apply(a, 20_000, "EUR")["id"].(string)
	e.apply(b, 10_000, "EUR")
	inv := e.invoice(a, c, 10_000, 30)
	dd := expect(t, e.draw(a, inv, 1_000), 201).Body["id"].(string)
	other := e.invoice(a, c, 10_000, 30)
	lineBefore := e.line(a)
	expect(t, e.do(e.invoices.URL, "POST", "/v1/businesses/"+a.id+"/members", a.token, map[string]any{"subject": "auditor", "role": "read_only"}), 201)
	auditor := e.token("auditor", a.id)

	const ghost = "zz_00000000000000000000"
	// Each route: the request naming A's resources (with the id to replace
	// by a ghost's), what tenant B gets, and what A's read-only member
	// gets. Routes outside the bearer-token API have an empty entry and the
	// reason beside it.
	type route struct {
		method, path, id string
		body             func(id string) any
		tenantB          int
		readOnly         int
	}
	routes := map[string]route{
		"POST /v1/credit/applications": {method: "POST", path: "/v1/credit/applications",
			body: func(string) any { return map[string]any{"requested_limit": 1_000, "currency": "EUR"} }, tenantB: 201, readOnly: 403},
		"GET /v1/credit/applications/{id}": {method: "GET", path: "/v1/credit/applications/" + app, id: app, tenantB: 404, readOnly: 200},
		"GET /v1/credit/line":              {method: "GET", path: "/v1/credit/line", tenantB: 200, readOnly: 200},
		"POST /v1/credit/drawdowns": {method: "POST", path: "/v1/credit/drawdowns", id: other,
			body: func(id string) any { return map[string]any{"invoice_id": id, "amount": 100} }, tenantB: 404, readOnly: 403},
		"GET /v1/credit/drawdowns": {method: "GET", path: "/v1/credit/drawdowns?starting_after=" + dd, id: dd, tenantB: 404, readOnly: 200},
		"POST /v1/credit/events":   {}, // the invoicing service's outbox: no tenant token; an event is read back from invoicing, never trusted alone
		"GET /openapi.json":        {}, // the public document
	}

	handler := credithttp.NewServer(credithttp.Options{Service: e.creditSvc})
	walked := 0
	require.NoError(t, chi.Walk(handler.(chi.Routes), func(method, path string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		walked++
		r, ok := routes[method+" "+path]
		require.True(t, ok, "route %s %s has no entry in the isolation table", method, path)
		if r.method == "" {
			return nil
		}
		body := func(id string) any {
			if r.body == nil {
				return nil
			}
			return r.body(id)
		}
		t.Run(method+" "+path, func(t *testing.T) {
			got := expect(t, e.do(e.credit.URL, r.method, r.path, b.token, body(r.id)), r.tenantB)
			for _, s := range []string{a.id, app, dd, inv, other} {
				require.NotContains(t, string(got.Raw), s, "tenant B sees A's %s", s)
			}
			if r.id != "" {
				ghosted := expect(t, e.do(e.credit.URL, r.method, strings.ReplaceAll(r.path, r.id, ghost), b.token, body(ghost)), r.tenantB)
				require.Equal(t, ghosted.Body["detail"], got.Body["detail"], "A's resource shows to B")
			}
			expect(t, e.do(e.credit.URL, r.method, r.path, auditor, body(r.id)), r.readOnly)
		})
		return nil
	}))
	require.Equal(t, len(routes), walked, "every entry of the table is a route")

	// Nothing of A's changed.
	require.Equal(t, lineBefore, e.line(a))
	require.Equal(t, false, e.invoiceOf(a, other)["financed"])
	l := expect(t, e.do(e.credit.URL, "GET", "/v1/credit/drawdowns", a.token, nil), 200).Body
	require.Len(t, l["data"], 1)
}
