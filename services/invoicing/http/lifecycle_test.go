package http_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLifecycle(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b.open(t))
			testLifecycle(t, e)
		})
	}
}

func testLifecycle(t *testing.T, e *env) {
	alice := e.register(t, "alice", "Alice SARL")
	bob := e.register(t, "bob", "Bob Ltd")

	// The caller sees its own business in full, another's public profile.
	own := expect(t, e.do(t, req{method: "GET", path: "/v1/businesses/" + alice.id, token: alice.token}), 200).json(t)
	require.Equal(t, "alice@example.com", own["billing_email"])
	other := expect(t, e.do(t, req{method: "GET", path: "/v1/businesses/" + alice.id, token: bob.token}), 200).json(t)
	require.Equal(t, "Alice SARL", other["legal_name"])
	require.NotContains(t, other, "billing_email")
	require.NotContains(t, other, "registration_number")

	// A user without a business claim acts for the business it registered.
	expect(t, e.do(t, req{method: "GET", path: "/v1/invoices", token: e.token("alice", "")}), 200)

	// Issue: a draft with tax.
	body := map[string]any{"customer": bob.id, "currency": "eur", "due_date": "2030-01-31", "memo": "March work",
		"line_items": []map[string]any{
			{"description": "Design", "quantity": 3, "unit_amount": 12345, "tax_rate": "20"},
			{"description": "Hosting", "quantity": 1, "unit_amount": 999, "tax_rate": "8.25"},
		}}
	cr := expect(t, e.do(t, req{method: "POST", path: "/v1/invoices", token: alice.token, body: body}), 201)
	inv := cr.json(t)
	id := must[string](t, inv["id"])
	require.Equal(t, "/v1/invoices/"+id, cr.Header.Get("Location"))
	require.Equal(t, "draft", inv["status"])
	require.EqualValues(t, 38034, inv["subtotal"])
	require.EqualValues(t, 7407+82, inv["tax"])
	require.EqualValues(t, 38034+7489, inv["total"])
	require.EqualValues(t, 38034+7489, inv["amount_due"])
	require.NotContains(t, inv, "number")
	etag := cr.Header.Get("ETag")
	require.Equal(t, `"v1"`, etag)

	// The customer cannot see a draft.
	expect(t, e.do(t, req{method: "GET", path: "/v1/invoices/" + id, token: bob.token}), 404)

	// PATCH with If-Match; a stale ETag is refused.
	pr := expect(t, e.do(t, req{method: "PATCH", path: "/v1/invoices/" + id, token: alice.token, body: map[string]any{"memo": "April work"},
		header: map[string]string{"If-Match": etag}}), 200)
	require.Equal(t, "April work", pr.str(t, "memo"))
	require.Equal(t, `"v2"`, pr.Header.Get("ETag"))
	expect(t, e.do(t, req{method: "PATCH", path: "/v1/invoices/" + id, token: alice.token, body: map[string]any{"memo": "x"},
		header: map[string]string{"If-Match": etag}}), 412)
	expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + id + "/send", token: alice.token,
		header: map[string]string{"If-Match": `"v1"`}}), 412)

	// Send: numbered, open; the customer receives it and cannot change it.
	sr := expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + id + "/send", token: alice.token,
		header: map[string]string{"If-Match": `"v2"`}}), 200)
	require.Equal(t, "open", sr.str(t, "status"))
	require.Equal(t, "INV-000001", sr.str(t, "number"))
	require.NotEmpty(t, must[map[string]any](t, sr.json(t)["status_transitions"])["finalized_at"])

	got := expect(t, e.do(t, req{method: "GET", path: "/v1/invoices/" + id, token: bob.token}), 200)
	require.Equal(t, id, got.str(t, "id"))
	received := expect(t, e.do(t, req{method: "GET", path: "/v1/invoices?role=received", token: bob.token}), 200).json(t)
	require.Len(t, received["data"], 1)
	require.Equal(t, false, received["has_more"])
	expect(t, e.do(t, req{method: "PATCH", path: "/v1/invoices/" + id, token: bob.token, body: map[string]any{"memo": "mine"}}), 403)
	expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + id + "/payments", token: bob.token,
		body: map[string]any{"amount": 1, "method": "card"}}), 403)

	// Pay in two parts; over-payment is refused.
	total := sr.num(t, "total")
	p1 := expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + id + "/payments", token: alice.token,
		body: map[string]any{"amount": 20000, "method": "bank_transfer", "reference": "TX-1"}}), 201).json(t)
	require.EqualValues(t, total-20000, must[map[string]any](t, p1["invoice"])["amount_due"])
	require.Equal(t, "open", must[map[string]any](t, p1["invoice"])["status"])
	over := expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + id + "/payments", token: alice.token,
		body: map[string]any{"amount": total, "method": "card"}}), 409).json(t)
	require.Contains(t, over["detail"], "exceeds the amount due")
	p2 := expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + id + "/payments", token: alice.token,
		body: map[string]any{"amount": total - 20000, "method": "card"}}), 201).json(t)
	paid := must[map[string]any](t, p2["invoice"])
	require.Equal(t, "paid", paid["status"])
	require.EqualValues(t, 0, paid["amount_due"])
	require.EqualValues(t, total, paid["amount_paid"])
	pays := expect(t, e.do(t, req{method: "GET", path: "/v1/invoices/" + id + "/payments", token: bob.token}), 200).json(t)
	require.Len(t, pays["data"], 2)

	// Every forbidden transition of a paid invoice is a clear 409.
	for _, action := range []string{"send", "void", "mark-uncollectible"} {
		r := expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + id + "/" + action, token: alice.token}), 409).json(t)
		require.Contains(t, r["detail"], "whose status is paid", action)
	}
	expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + id + "/payments", token: alice.token, body: map[string]any{"amount": 1, "method": "card"}}), 409)
	expect(t, e.do(t, req{method: "PATCH", path: "/v1/invoices/" + id, token: alice.token, body: map[string]any{"memo": "late"}}), 409)
	expect(t, e.do(t, req{method: "DELETE", path: "/v1/invoices/" + id, token: alice.token}), 409)

	// Void path.
	v := newOpen(t, e, alice, bob, 500)
	vr := expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + v + "/void", token: alice.token}), 200)
	require.Equal(t, "void", vr.str(t, "status"))
	for _, action := range []string{"send", "void", "mark-uncollectible"} {
		expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + v + "/" + action, token: alice.token}), 409)
	}
	expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + v + "/payments", token: alice.token, body: map[string]any{"amount": 1, "method": "card"}}), 409)

	// Uncollectible path: then paid, and another uncollectible then void.
	u := newOpen(t, e, alice, bob, 700)
	expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + u + "/mark-uncollectible", token: alice.token}), 200)
	expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + u + "/mark-uncollectible", token: alice.token}), 409)
	expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + u + "/send", token: alice.token}), 409)
	up := expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + u + "/payments", token: alice.token,
		body: map[string]any{"amount": 700, "method": "cash"}}), 201).json(t)
	require.Equal(t, "paid", must[map[string]any](t, up["invoice"])["status"])
	u2 := newOpen(t, e, alice, bob, 800)
	expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + u2 + "/mark-uncollectible", token: alice.token}), 200)
	uv := expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + u2 + "/void", token: alice.token}), 200).json(t)
	require.Equal(t, "void", uv["status"])
	tr := must[map[string]any](t, uv["status_transitions"])
	require.NotEmpty(t, tr["marked_uncollectible_at"])
	require.NotEmpty(t, tr["voided_at"])

	// Drafts: cannot be voided, paid or marked; can be deleted.
	d := expect(t, e.do(t, req{method: "POST", path: "/v1/invoices", token: alice.token, body: invoiceBody(bob.id, 100)}), 201).str(t, "id")
	for _, action := range []string{"void", "mark-uncollectible"} {
		expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + d + "/" + action, token: alice.token}), 409)
	}
	expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + d + "/payments", token: alice.token, body: map[string]any{"amount": 1, "method": "card"}}), 409)
	expect(t, e.do(t, req{method: "DELETE", path: "/v1/invoices/" + d, token: alice.token}), 204)
	expect(t, e.do(t, req{method: "GET", path: "/v1/invoices/" + d, token: alice.token}), 404)

	// Lists and filters.
	issued := expect(t, e.do(t, req{method: "GET", path: "/v1/invoices?role=issued&limit=2", token: alice.token}), 200).json(t)
	require.Len(t, issued["data"], 2)
	require.Equal(t, true, issued["has_more"])
	last := must[string](t, must[map[string]any](t, must[[]any](t, issued["data"])[1])["id"])
	next := expect(t, e.do(t, req{method: "GET", path: "/v1/invoices?limit=2&starting_after=" + last, token: alice.token}), 200).json(t)
	require.Len(t, next["data"], 2)
	require.Equal(t, false, next["has_more"])
	voids := expect(t, e.do(t, req{method: "GET", path: "/v1/invoices?status=void", token: alice.token}), 200).json(t)
	require.Len(t, voids["data"], 2)

	// Invoice history: a machine token with the scope; others are refused.
	hist := expect(t, e.do(t, req{method: "GET", path: fmt.Sprintf("/v1/businesses/%s/invoice-history?days=90", alice.id),
		token: e.machine("", "invoicing/history.read")}), 200).json(t)
	cur := must[map[string]any](t, must[[]any](t, hist["currencies"])[0])
	require.EqualValues(t, 4, cur["issued_count"])
	require.EqualValues(t, 2, cur["paid_count"])
	require.EqualValues(t, 2, cur["paid_on_time_count"])
	require.EqualValues(t, 0, cur["outstanding_count"])
	expect(t, e.do(t, req{method: "GET", path: "/v1/businesses/" + alice.id + "/invoice-history", token: alice.token}), 403)
}

// newOpen creates and sends an invoice, returning its id.
func newOpen(t testing.TB, e *env, from, to tenant, amount int64) string {
	t.Helper()
	id := expect(t, e.do(t, req{method: "POST", path: "/v1/invoices", token: from.token, body: invoiceBody(to.id, amount)}), 201).str(t, "id")
	expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + id + "/send", token: from.token}), 200)
	return id
}
