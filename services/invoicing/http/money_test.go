package http_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/services/contracts"
	invoicinghttp "github.com/estatehq/estate/services/invoicing/http"
	"github.com/estatehq/estate/services/kit/webhook"
)

// problemLocations returns the locations a problem names.
func problemLocations(t testing.TB, r resp) []string {
	var locs []string
	for _, d := range must[[]any](t, r.json(t)["errors"]) {
		locs = append(locs, must[string](t, must[map[string]any](t, d)["location"]))
	}
	return locs
}

func TestCurrencyCase(t *testing.T) {
	e := newEnv(t, backends[0].open(t))
	alice := e.register(t, "alice", "Alice")
	bob := e.register(t, "bob", "Bob")
	body := func(currency, due string) map[string]any {
		b := invoiceBody(bob.id, 100)
		b["currency"], b["due_date"] = currency, due
		return b
	}
	for _, cur := range []string{"GBP", "gbp", "Gbp"} {
		r := expect(t, e.do(t, req{method: "POST", path: "/v1/invoices", token: alice.token, body: body(cur, "2030-01-31")}), 201)
		require.Equal(t, "GBP", r.str(t, "currency"), "stored and answered in upper case")
		got := expect(t, e.do(t, req{method: "GET", path: "/v1/invoices/" + r.str(t, "id"), token: alice.token}), 200)
		require.Equal(t, "GBP", got.str(t, "currency"))
	}
	id := expect(t, e.do(t, req{method: "POST", path: "/v1/invoices", token: alice.token, body: body("eur", "2030-01-31")}), 201).str(t, "id")
	patched := expect(t, e.do(t, req{method: "PATCH", path: "/v1/invoices/" + id, token: alice.token, body: map[string]any{"currency": "usd"}}), 200)
	require.Equal(t, "USD", patched.str(t, "currency"))

	tests := []struct {
		name, currency, due, loc string
	}{
		{"gold", "XAU", "2030-01-31", "body.currency"},
		{"silver in lower case", "xag", "2030-01-31", "body.currency"},
		{"testing code", "XTS", "2030-01-31", "body.currency"},
		{"no currency", "XXX", "2030-01-31", "body.currency"},
		{"special drawing right", "XDR", "2030-01-31", "body.currency"},
		{"bond-market unit", "XBD", "2030-01-31", "body.currency"},
		{"not ISO 4217", "ABC", "2030-01-31", "body.currency"},
		{"year zero", "EUR", "0000-01-01", "body.due_date"},
		{"before 1900", "EUR", "1899-12-31", "body.due_date"},
		{"after 2999", "EUR", "3000-01-01", "body.due_date"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := expect(t, e.do(t, req{method: "POST", path: "/v1/invoices", token: alice.token, body: body(tc.currency, tc.due)}), 422)
			require.Contains(t, problemLocations(t, r), tc.loc)
		})
	}
}

// TestPaymentProvenance: the issuer records a payment, the customer
// confirms it; the payment, the invoice and the history say who vouches
// for the money.
func TestPaymentProvenance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b.open(t))
			alice := e.register(t, "alice", "Alice")
			bob := e.register(t, "bob", "Bob")
			carol := e.register(t, "carol", "Carol")
			id := newOpen(t, e, alice, bob, 1000)
			pay := func(amount int64) map[string]any {
				return expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + id + "/payments", token: alice.token,
					body: map[string]any{"amount": amount, "method": "cash"}}), 201).json(t)
			}
			p1, p2 := pay(400), pay(600)
			require.Equal(t, "issuer_recorded", p1["provenance"])
			require.Equal(t, map[string]any{"issuer_recorded": 1000.0, "customer_confirmed": 0.0, "provider_reported": 0.0},
				must[map[string]any](t, p2["invoice"])["amount_paid_by_provenance"])

			confirm := func(tn tenant, payment any) resp {
				return e.do(t, req{method: "POST", path: fmt.Sprintf("/v1/invoices/%s/payments/%s/confirm", id, payment), token: tn.token})
			}
			expect(t, confirm(alice, p1["id"]), 403)
			expect(t, confirm(carol, p1["id"]), 404)
			expect(t, confirm(bob, "py_nope"), 404)
			c := expect(t, confirm(bob, p1["id"]), 200).json(t)
			require.Equal(t, "customer_confirmed", c["provenance"])
			require.NotEmpty(t, c["confirmed_at"])
			inv := must[map[string]any](t, c["invoice"])
			require.Equal(t, map[string]any{"issuer_recorded": 600.0, "customer_confirmed": 400.0, "provider_reported": 0.0}, inv["amount_paid_by_provenance"])
			require.Equal(t, c, expect(t, confirm(bob, p1["id"]), 200).json(t), "confirming again changes nothing")

			list := expect(t, e.do(t, req{method: "GET", path: "/v1/invoices/" + id + "/payments", token: bob.token}), 200).json(t)
			provenances := map[any]any{}
			for _, p := range must[[]any](t, list["data"]) {
				pm := must[map[string]any](t, p)
				provenances[pm["id"]] = pm["provenance"]
			}
			require.Equal(t, map[any]any{p1["id"]: "customer_confirmed", p2["id"]: "issuer_recorded"}, provenances)

			hist := expect(t, e.do(t, req{method: "GET", path: "/v1/businesses/" + alice.id + "/invoice-history",
				token: e.machine("", contracts.HistoryScope)}), 200).json(t)
			cur := must[map[string]any](t, must[[]any](t, hist["currencies"])[0])
			require.Equal(t, "EUR", cur["currency"])
			require.Equal(t, []any{map[string]any{"provenances": []any{"issuer_recorded", "customer_confirmed"},
				"count": 1.0, "amount": 1000.0, "on_time_count": 1.0, "on_time_amount": 1000.0}}, cur["paid_by_provenance"])
		})
	}
}

// TestPaymentWebhook: a payment provider reports payments with a signed
// request; anything unsigned, wrongly signed or signed too long ago is
// refused with problem+json and records nothing.
func TestPaymentWebhook(t *testing.T) {
	e := newEnv(t, backends[0].open(t))
	alice := e.register(t, "alice", "Alice")
	bob := e.register(t, "bob", "Bob")
	id := newOpen(t, e, alice, bob, 1000)
	report := func(pid string, amount int64) string {
		b, err := json.Marshal(map[string]any{"id": pid, "invoice_id": id, "amount": amount, "method": "card", "reference": "ch_" + pid})
		require.NoError(t, err)
		return string(b)
	}
	send := func(body, signature string) resp {
		h := map[string]string{}
		if signature != "" {
			h[webhook.Header] = signature
		}
		return e.do(t, req{method: "POST", path: invoicinghttp.PaymentWebhookPath, body: body, header: h})
	}
	sign := func(body string, at time.Time) string { return webhook.Sign(webhookSecret, at, []byte(body)) }

	good := report("pi_1", 400)
	first := expect(t, send(good, sign(good, time.Now())), 201).json(t)
	require.Equal(t, "provider_reported", first["provenance"])
	require.Equal(t, map[string]any{"issuer_recorded": 0.0, "customer_confirmed": 0.0, "provider_reported": 400.0},
		must[map[string]any](t, first["invoice"])["amount_paid_by_provenance"])
	again := expect(t, send(good, sign(good, time.Now())), 200).json(t)
	require.Equal(t, first["id"], again["id"], "a repeated report records nothing new")

	other := report("pi_2", 100)
	tests := []struct {
		name, body, signature string
		status                int
	}{
		{"unsigned", other, "", 401},
		{"signed with another secret", other, webhook.Sign("another secret", time.Now(), []byte(other)), 401},
		{"signature of another body", other, sign(good, time.Now()), 401},
		{"stale", other, sign(other, time.Now().Add(-10*time.Minute)), 401},
		{"from the future", other, sign(other, time.Now().Add(10*time.Minute)), 401},
		{"unknown field", `{"id":"pi_3","invoice_id":"` + id + `","amount":1,"method":"card","extra":1}`, "", 400},
		{"more than is due", report("pi_4", 601), "", 409},
		{"an unknown invoice", `{"id":"pi_5","invoice_id":"in_nope","amount":1,"method":"card"}`, "", 404},
		{"a bad method", `{"id":"pi_6","invoice_id":"` + id + `","amount":1,"method":"gold"}`, "", 422},
		{"the same id for another amount", report("pi_1", 10), "", 409},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sig := tc.signature
			if sig == "" && tc.status != 401 {
				sig = sign(tc.body, time.Now())
			}
			r := expect(t, send(tc.body, sig), tc.status)
			require.NotEmpty(t, r.str(t, "detail"))
			if tc.status == 401 {
				require.Equal(t, []string{"header." + webhook.Header}, problemLocations(t, r))
			}
		})
	}
	inv := expect(t, e.do(t, req{method: "GET", path: "/v1/invoices/" + id, token: alice.token}), 200).json(t)
	require.EqualValues(t, 400, inv["amount_paid"], "only the good report was recorded")

	// A service without a secret serves no webhook.
	bare := newEnv(t, backends[0].open(t), func(o *invoicinghttp.Options) { o.PaymentWebhookSecret = "" })
	expect(t, bare.do(t, req{method: "POST", path: invoicinghttp.PaymentWebhookPath, body: good, header: map[string]string{webhook.Header: sign(good, time.Now())}}), 404)
}

// TestFinancingHold: a financed invoice cannot be voided or marked
// uncollectible until the credit service releases it; only a machine token
// with the financing scope may hold or release.
func TestFinancingHold(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b.open(t))
			alice := e.register(t, "alice", "Alice")
			bob := e.register(t, "bob", "Bob")
			id := newOpen(t, e, alice, bob, 1000)
			credit := e.machine(alice.id, contracts.FinancingScope)
			hold := "/v1/invoices/" + id + "/financing/dd_1"

			expect(t, e.do(t, req{method: "PUT", path: hold, token: alice.token}), 403)
			expect(t, e.do(t, req{method: "PUT", path: hold, token: e.machine(bob.id, contracts.FinancingScope)}), 403)
			r := expect(t, e.do(t, req{method: "PUT", path: hold, token: credit}), 200)
			require.Equal(t, true, r.json(t)["financed"])
			expect(t, e.do(t, req{method: "PUT", path: hold, token: credit}), 200)
			expect(t, e.do(t, req{method: "PUT", path: "/v1/invoices/" + id + "/financing/dd_2", token: credit}), 409)

			for _, action := range []string{"void", "mark-uncollectible"} {
				p := expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + id + "/" + action, token: alice.token}), 409)
				require.Contains(t, p.str(t, "detail"), "financed")
			}
			expect(t, e.do(t, req{method: "DELETE", path: hold, token: alice.token}), 403)
			expect(t, e.do(t, req{method: "DELETE", path: "/v1/invoices/" + id + "/financing/dd_2", token: credit}), 204)
			require.Equal(t, true, expect(t, e.do(t, req{method: "GET", path: "/v1/invoices/" + id, token: alice.token}), 200).json(t)["financed"])
			expect(t, e.do(t, req{method: "DELETE", path: hold, token: credit}), 204)
			expect(t, e.do(t, req{method: "DELETE", path: hold, token: credit}), 204)
			v := expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + id + "/void", token: alice.token}), 200).json(t)
			require.Equal(t, false, v["financed"])
			require.Equal(t, "void", v["status"])
		})
	}
}

// TestVoidPartlyPaid: an invoice with payments cannot be voided; the
// refusal leaves its amount paid as it was.
func TestVoidPartlyPaid(t *testing.T) {
	e := newEnv(t, backends[0].open(t))
	alice := e.register(t, "alice", "Alice")
	bob := e.register(t, "bob", "Bob")
	id := newOpen(t, e, alice, bob, 1000)
	expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + id + "/payments", token: alice.token, body: map[string]any{"amount": 300, "method": "card"}}), 201)
	p := expect(t, e.do(t, req{method: "POST", path: "/v1/invoices/" + id + "/void", token: alice.token}), 409)
	require.Contains(t, p.str(t, "detail"), "with payments")
	inv := expect(t, e.do(t, req{method: "GET", path: "/v1/invoices/" + id, token: alice.token}), 200).json(t)
	require.Equal(t, "open", inv["status"])
	require.EqualValues(t, 300, inv["amount_paid"])
	require.EqualValues(t, 700, inv["amount_due"])
}
