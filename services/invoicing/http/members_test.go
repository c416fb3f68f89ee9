package http_test

import (
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/require"

	invoicinghttp "github.com/estatehq/estate/services/invoicing/http"
)

// TestMembers runs a business's members through their roles: the user who
// registered it is its owner; owners invite finance and read-only members;
// each role does what it may and is refused the rest; a token that names a
// business its subject is not a member of is refused everywhere.
func TestMembers(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b.open(t))
			alice := e.register(t, "alice", "Alice")
			bob := e.register(t, "bob", "Bob")
			members := "/v1/businesses/" + alice.id + "/members"

			l := expect(t, e.do(t, req{method: "GET", path: members, token: alice.token}), 200).json(t)
			data := must[[]any](t, l["data"])
			require.Len(t, data, 1)
			require.Equal(t, "owner", must[map[string]any](t, data[0])["role"])
			require.Equal(t, "alice", must[map[string]any](t, data[0])["subject"])

			// Before an invitation, a token naming alice's business is
			// refused, whatever the route.
			carol := e.token("carol", alice.id)
			for _, r := range []req{
				{method: "GET", path: "/v1/invoices"},
				{method: "GET", path: "/v1/businesses/" + alice.id},
				{method: "POST", path: "/v1/invoices", body: invoiceBody(bob.id, 100)},
				{method: "GET", path: members},
			} {
				r.token = carol
				expect(t, e.do(t, r), 403)
			}

			add := func(sub, role string) resp {
				return e.do(t, req{method: "POST", path: members, token: alice.token, body: map[string]any{"subject": sub, "role": role}})
			}
			r := expect(t, add("carol", "read_only"), 201)
			require.Equal(t, members+"/carol", r.Header.Get("Location"))
			require.Equal(t, `"v1"`, r.Header.Get("ETag"))
			expect(t, add("carol", "finance"), 409)
			expect(t, add("dave", "finance"), 201)
			p := expect(t, add("", "finance"), 422).json(t)
			require.Equal(t, "body.subject", must[map[string]any](t, must[[]any](t, p["errors"])[0])["location"])
			expect(t, add("erin", "admin"), 422)

			// read_only reads, and writes nothing.
			expect(t, e.do(t, req{method: "GET", path: "/v1/invoices", token: carol}), 200)
			expect(t, e.do(t, req{method: "GET", path: members, token: carol}), 200)
			expect(t, e.do(t, req{method: "GET", path: "/v1/businesses/" + alice.id, token: carol}), 200)
			expect(t, e.do(t, req{method: "POST", path: "/v1/invoices", token: carol, body: invoiceBody(bob.id, 100)}), 403)
			id := newOpen(t, e, alice, bob, 500)
			expect(t, e.do(t, req{method: "GET", path: "/v1/invoices/" + id, token: carol}), 200)
			expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + id + "/payments", token: carol, body: map[string]any{"amount": 1, "method": "card"}}), 403)
			expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + id + "/void", token: carol}), 403)
			expect(t, e.do(t, req{method: "POST", path: members, token: carol, body: map[string]any{"subject": "x", "role": "owner"}}), 403)

			// finance creates and settles invoices, and manages no member.
			dave := e.token("dave", alice.id)
			expect(t, e.do(t, req{method: "POST", path: "/v1/invoices", token: dave, body: invoiceBody(bob.id, 100)}), 201)
			expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + id + "/payments", token: dave, body: map[string]any{"amount": 100, "method": "card"}}), 201)
			expect(t, e.do(t, req{method: "POST", path: members, token: dave, body: map[string]any{"subject": "x", "role": "owner"}}), 403)
			expect(t, e.do(t, req{method: "DELETE", path: members + "/carol", token: dave}), 403)
			// A subject of one business acts for it without a business claim.
			expect(t, e.do(t, req{method: "POST", path: "/v1/invoices", token: e.token("dave", ""), body: invoiceBody(bob.id, 100)}), 201)

			// Changes take If-Match: a list passes when any of its tags is
			// current; a stale one is refused.
			got := expect(t, e.do(t, req{method: "GET", path: members + "/carol", token: alice.token}), 200)
			require.Equal(t, `"v1"`, got.Header.Get("ETag"))
			ch := expect(t, e.do(t, req{method: "PATCH", path: members + "/carol", token: alice.token, body: map[string]any{"role": "finance"},
				header: map[string]string{"If-Match": `"v7", "v1"`}}), 200)
			require.Equal(t, `"v2"`, ch.Header.Get("ETag"))
			require.Equal(t, "finance", ch.str(t, "role"))
			expect(t, e.do(t, req{method: "PATCH", path: members + "/carol", token: alice.token, body: map[string]any{"role": "owner"},
				header: map[string]string{"If-Match": `"v1"`}}), 412)
			expect(t, e.do(t, req{method: "POST", path: "/v1/invoices", token: carol, body: invoiceBody(bob.id, 100)}), 201)

			// The last owner stays one.
			expect(t, e.do(t, req{method: "PATCH", path: members + "/alice", token: alice.token, body: map[string]any{"role": "finance"}}), 409)
			expect(t, e.do(t, req{method: "DELETE", path: members + "/alice", token: alice.token}), 409)
			expect(t, e.do(t, req{method: "PATCH", path: members + "/carol", token: alice.token, body: map[string]any{"role": "owner"}}), 200)
			expect(t, e.do(t, req{method: "PATCH", path: members + "/alice", token: carol, body: map[string]any{"role": "read_only"}}), 200)
			expect(t, e.do(t, req{method: "POST", path: members, token: alice.token, body: map[string]any{"subject": "x", "role": "owner"}}), 403)

			// A removed member's tokens act for the business no more.
			expect(t, e.do(t, req{method: "DELETE", path: members + "/dave", token: carol}), 204)
			expect(t, e.do(t, req{method: "GET", path: "/v1/invoices", token: dave}), 403)
			expect(t, e.do(t, req{method: "GET", path: members + "/dave", token: carol}), 404)

			// Memberships: the caller's own; another subject's for a trusted
			// machine client only.
			ms := expect(t, e.do(t, req{method: "GET", path: "/v1/memberships", token: e.token("carol", "")}), 200).json(t)
			require.Len(t, must[[]any](t, ms["data"]), 1)
			expect(t, e.do(t, req{method: "GET", path: "/v1/memberships?subject=bob", token: carol}), 403)
			ms = expect(t, e.do(t, req{method: "GET", path: "/v1/memberships?subject=bob", token: e.machine("")}), 200).json(t)
			require.Equal(t, bob.id, must[map[string]any](t, must[[]any](t, ms["data"])[0])["business"])
			// A machine client acts for a business, and never on members.
			expect(t, e.do(t, req{method: "GET", path: "/v1/invoices/" + id, token: e.machine(alice.id)}), 200)
			expect(t, e.do(t, req{method: "POST", path: members, token: e.machine(alice.id), body: map[string]any{"subject": "x", "role": "owner"}}), 403)
			// A user token that claims the machine client's subject is no
			// machine client.
			expect(t, e.do(t, req{method: "GET", path: "/v1/memberships?subject=bob", token: e.token(machineClient, "")}), 403)
		})
	}
}

// TestIdempotencyKeyOfANonMember: a token naming a business its subject is
// not a member of is refused, and its refusal is not what a member's
// request with the same Idempotency-Key gets.
func TestIdempotencyKeyOfANonMember(t *testing.T) {
	e := newEnv(t, backends[0].open(t))
	alice := e.register(t, "alice", "Alice")
	bob := e.register(t, "bob", "Bob")
	key := map[string]string{"Idempotency-Key": "invoice-1"}
	expect(t, e.do(t, req{method: "POST", path: "/v1/invoices", token: e.token("mallory", alice.id), body: invoiceBody(bob.id, 100), header: key}), 403)
	expect(t, e.do(t, req{method: "POST", path: "/v1/invoices", token: alice.token, body: invoiceBody(bob.id, 100), header: key}), 201)
	expect(t, e.do(t, req{method: "POST", path: "/v1/invoices", token: alice.token, body: invoiceBody(bob.id, 100), header: key}), 201)
	l := expect(t, e.do(t, req{method: "GET", path: "/v1/invoices", token: alice.token}), 200).json(t)
	require.Len(t, must[[]any](t, l["data"]), 1, "the retry replayed the first answer")
}

// TestIfMatchList checks If-Match as RFC 9110 §13.1.1 reads it: any
// listed strong tag that is current passes, a weak one never does, and *
// matches any current version.
func TestIfMatchList(t *testing.T) {
	e := newEnv(t, backends[0].open(t))
	alice := e.register(t, "alice", "Alice")
	bob := e.register(t, "bob", "Bob")
	id := expect(t, e.do(t, req{method: "POST", path: "/v1/invoices", token: alice.token, body: invoiceBody(bob.id, 100)}), 201).str(t, "id")
	patch := func(ifMatch string) int {
		return e.do(t, req{method: "PATCH", path: "/v1/invoices/" + id, token: alice.token, body: map[string]any{"memo": ifMatch},
			header: map[string]string{"If-Match": ifMatch}}).Status
	}
	for _, tc := range []struct {
		ifMatch string
		want    int
	}{
		{`"v9", "v1"`, 200},          // the second tag is current
		{`"v1"`, 412},                // now stale
		{`"v1","v2"`, 200},           // no spaces
		{`W/"v3"`, 412},              // weak tags never match
		{`W/"v3", "v3"`, 200},        // but a strong one beside it does
		{`"x,y", "v4"`, 200},         // a comma inside a tag is part of it
		{`"v9", garbage, "v5"`, 412}, // reading stops at the malformed entry
		{`*`, 200},
		{`"v0"`, 412},
	} {
		require.Equal(t, tc.want, patch(tc.ifMatch), "If-Match: %s", tc.ifMatch)
	}
}

// TestReadOnlyMemberCannotWrite sends a read-only member's token against
// every operation of the document (a route added without an entry here
// fails): it reads its business's resources and changes none of them.
func TestReadOnlyMemberCannotWrite(t *testing.T) {
	e := newEnv(t, backends[0].open(t))
	alice := e.register(t, "alice", "Alice")
	bob := e.register(t, "bob", "Bob")
	expect(t, e.do(t, req{method: "POST", path: "/v1/businesses/" + alice.id + "/members", token: alice.token,
		body: map[string]any{"subject": "carol", "role": "read_only"}}), 201)
	carol := e.token("carol", alice.id)
	draft := expect(t, e.do(t, req{method: "POST", path: "/v1/invoices", token: alice.token, body: invoiceBody(bob.id, 100)}), 201).str(t, "id")
	open := newOpen(t, e, alice, bob, 200)
	received := newOpen(t, e, bob, alice, 300)
	payment := expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + received + "/payments", token: bob.token,
		body: map[string]any{"amount": 300, "method": "card"}}), 201).str(t, "id")
	before := map[string]string{}
	for _, id := range []string{draft, open, received} {
		before[id] = expect(t, e.do(t, req{method: "GET", path: "/v1/invoices/" + id, token: alice.token}), 200).Header.Get("ETag")
	}

	biz, inv := "/v1/businesses/"+alice.id, "/v1/invoices/"+open
	// Each operation: the request of the read-only member, and the status
	// it gets; 0 skips an operation, with the reason beside it.
	ops := map[string]struct {
		r    req
		want int
	}{
		"POST /v1/businesses":                                  {}, // registers the caller's own business, acting for no other
		"GET /v1/businesses/{id}":                              {req{method: "GET", path: biz}, 200},
		"GET /v1/businesses/{id}/invoice-history":              {req{method: "GET", path: biz + "/invoice-history"}, 403},
		"GET /v1/businesses/{id}/members":                      {req{method: "GET", path: biz + "/members"}, 200},
		"POST /v1/businesses/{id}/members":                     {req{method: "POST", path: biz + "/members", body: map[string]any{"subject": "dave", "role": "owner"}}, 403},
		"GET /v1/businesses/{id}/members/{subject}":            {req{method: "GET", path: biz + "/members/carol"}, 200},
		"PATCH /v1/businesses/{id}/members/{subject}":          {req{method: "PATCH", path: biz + "/members/carol", body: map[string]any{"role": "owner"}}, 403},
		"DELETE /v1/businesses/{id}/members/{subject}":         {req{method: "DELETE", path: biz + "/members/alice"}, 403},
		"GET /v1/memberships":                                  {req{method: "GET", path: "/v1/memberships"}, 200},
		"POST /v1/invoices":                                    {req{method: "POST", path: "/v1/invoices", body: invoiceBody(bob.id, 100)}, 403},
		"GET /v1/invoices":                                     {req{method: "GET", path: "/v1/invoices"}, 200},
		"GET /v1/invoices/{id}":                                {req{method: "GET", path: inv}, 200},
		"PATCH /v1/invoices/{id}":                              {req{method: "PATCH", path: "/v1/invoices/" + draft, body: map[string]any{"memo": "x"}}, 403},
		"DELETE /v1/invoices/{id}":                             {req{method: "DELETE", path: "/v1/invoices/" + draft}, 403},
		"POST /v1/invoices/{id}/send":                          {req{method: "POST", path: "/v1/invoices/" + draft + "/send"}, 403},
		"POST /v1/invoices/{id}/payments":                      {req{method: "POST", path: inv + "/payments", body: map[string]any{"amount": 1, "method": "card"}}, 403},
		"GET /v1/invoices/{id}/payments":                       {req{method: "GET", path: inv + "/payments"}, 200},
		"POST /v1/invoices/{id}/payments/{payment_id}/confirm": {req{method: "POST", path: "/v1/invoices/" + received + "/payments/" + payment + "/confirm"}, 403},
		"POST /v1/invoices/{id}/void":                          {req{method: "POST", path: inv + "/void"}, 403},
		"POST /v1/invoices/{id}/mark-uncollectible":            {req{method: "POST", path: inv + "/mark-uncollectible"}, 403},
		"PUT /v1/invoices/{id}/financing/{drawdown_id}":        {req{method: "PUT", path: inv + "/financing/dd_1"}, 403},
		"DELETE /v1/invoices/{id}/financing/{drawdown_id}":     {req{method: "DELETE", path: inv + "/financing/dd_1"}, 403},
		"POST " + invoicinghttp.PaymentWebhookPath:             {}, // no bearer token: signed by the payment provider
	}
	for path, item := range invoicinghttp.OpenAPI().Paths {
		for m, op := range map[string]*huma.Operation{"GET": item.Get, "POST": item.Post, "PUT": item.Put, "PATCH": item.Patch, "DELETE": item.Delete} {
			if op == nil {
				continue
			}
			tc, ok := ops[m+" "+path]
			require.True(t, ok, "operation %s %s has no entry in the read-only table", m, path)
			if tc.want == 0 {
				continue
			}
			t.Run(m+" "+path, func(t *testing.T) {
				tc.r.token = carol
				expect(t, e.do(t, tc.r), tc.want)
			})
		}
	}
	for id, etag := range before {
		require.Equal(t, etag, expect(t, e.do(t, req{method: "GET", path: "/v1/invoices/" + id, token: alice.token}), 200).Header.Get("ETag"), "invoice %s changed", id)
	}
	l := expect(t, e.do(t, req{method: "GET", path: biz + "/members", token: alice.token}), 200).json(t)
	require.Len(t, must[[]any](t, l["data"]), 2)
}
