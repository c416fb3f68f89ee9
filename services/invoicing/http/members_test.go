package http_test

import (
	"testing"

	"github.com/stretchr/testify/require"
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
