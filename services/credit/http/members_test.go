package http_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCreditResolvesTheBusinessAsInvoicing: the credit API acts for the
// business the invoicing service says the token's subject is a member of,
// with its role: a token invoicing accepts without a business claim is
// accepted, a token naming a business its subject is not a member of is
// refused, a read-only member only reads, and a removed member is refused
// once the memberships credit remembers have expired.
func TestCreditResolvesTheBusinessAsInvoicing(t *testing.T) {
	e := newEnv(t)
	me, _ := e.withHistory("me", 3, 10_000)
	other := e.register("other")
	apply := map[string]any{"requested_limit": 10_000, "currency": "EUR"}

	// No business claim: its subject's one business.
	noClaim := e.token("me", "")
	expect(t, e.do(e.invoices.URL, "GET", "/v1/invoices", noClaim, nil), 200)
	expect(t, e.do(e.credit.URL, "POST", "/v1/credit/applications", noClaim, apply), 201)
	require.Equal(t, int64(10_000), num(e.line(me)["limit"]), "the line of the subject's business")

	// A claim of a business the subject is not a member of.
	forged := e.token("me", other.id)
	expect(t, e.do(e.invoices.URL, "GET", "/v1/invoices", forged, nil), 403)
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/credit/line"}, {"GET", "/v1/credit/drawdowns"}, {"GET", "/v1/credit/applications/capp_x"},
		{"POST", "/v1/credit/applications"}, {"POST", "/v1/credit/drawdowns"},
	} {
		var body any
		switch r.path {
		case "/v1/credit/applications":
			body = apply
		case "/v1/credit/drawdowns":
			body = map[string]any{"invoice_id": "in_x", "amount": 1}
		}
		expect(t, e.do(e.credit.URL, r.method, r.path, forged, body), 403)
	}

	// A read-only member reads and writes nothing.
	members := "/v1/businesses/" + me.id + "/members"
	expect(t, e.do(e.invoices.URL, "POST", members, me.token, map[string]any{"subject": "auditor", "role": "read_only"}), 201)
	auditor := e.token("auditor", me.id)
	expect(t, e.do(e.credit.URL, "GET", "/v1/credit/line", auditor, nil), 200)
	expect(t, e.do(e.credit.URL, "POST", "/v1/credit/applications", auditor, apply), 403)
	inv := e.invoice(me, other, 1_000, 30)
	expect(t, e.do(e.credit.URL, "POST", "/v1/credit/drawdowns", auditor, map[string]any{"invoice_id": inv, "amount": 100}), 403)

	// A finance member draws; once removed, it is refused when what credit
	// remembers of its memberships has expired.
	expect(t, e.do(e.invoices.URL, "POST", members, me.token, map[string]any{"subject": "cfo", "role": "finance"}), 201)
	cfo := e.token("cfo", me.id)
	expect(t, e.do(e.credit.URL, "POST", "/v1/credit/drawdowns", cfo, map[string]any{"invoice_id": inv, "amount": 100}), 201)
	expect(t, e.do(e.invoices.URL, "DELETE", members+"/cfo", me.token, nil), 204)
	expect(t, e.do(e.credit.URL, "GET", "/v1/credit/line", cfo, nil), 200) // remembered
	e.clock.Add(31 * time.Second)
	expect(t, e.do(e.credit.URL, "GET", "/v1/credit/line", cfo, nil), 403)

	// A member just invited is not refused on what credit remembered of
	// it before.
	late := e.token("late", me.id)
	expect(t, e.do(e.credit.URL, "GET", "/v1/credit/line", late, nil), 403)
	expect(t, e.do(e.invoices.URL, "POST", members, me.token, map[string]any{"subject": "late", "role": "read_only"}), 201)
	e.clock.Add(2 * time.Second)
	expect(t, e.do(e.credit.URL, "GET", "/v1/credit/line", late, nil), 200)
}

// TestLongBusinessClaim: a business claim longer than any business id is
// refused as a token both services cannot act on (401), not a 500.
func TestLongBusinessClaim(t *testing.T) {
	e := newEnv(t)
	for _, claim := range []string{strings.Repeat("b", 65), strings.Repeat("b", 4096), "bus_1\x00"} {
		tok := e.token("me", claim)
		for _, r := range []struct{ base, method, path string }{
			{e.credit.URL, "GET", "/v1/credit/line"},
			{e.credit.URL, "POST", "/v1/credit/applications"},
			{e.invoices.URL, "GET", "/v1/invoices"},
		} {
			var body any
			if r.method == "POST" {
				body = map[string]any{"requested_limit": 10_000, "currency": "EUR"}
			}
			got := expect(t, e.do(r.base, r.method, r.path, tok, body), 401)
			require.Contains(t, got.Body["detail"], "business claim")
		}
	}
}
