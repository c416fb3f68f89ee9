package http_test

import (
	"fmt"
	"testing"

	"github.com/estatehq/estate/internal/auth"
)

// The request decoders are fuzzed through the real server: whatever the
// body, the answer is never a 500, errors are problem+json, and every
// response matches the OpenAPI document. Seeds are requests of the
// lifecycle test. Run one with, for example:
//
//	go test ./services/invoicing/http -run '^$' -fuzz FuzzCreateInvoice -fuzztime 30s -fuzzminimizetime 5s

type fuzzTarget struct {
	f          *testing.F
	e          *env
	alice, bob tenant
	draft      string
	open       string
}

// newFuzzTarget builds the env once per process, before the fuzzing starts.
func newFuzzTarget(f *testing.F) *fuzzTarget {
	ft := &fuzzTarget{f: f}
	t := f
	ft.e = newFuzzEnv(f)
	ft.alice = ft.e.register(t, "alice", "Alice")
	ft.bob = ft.e.register(t, "bob", "Bob")
	ft.draft = expect(t, ft.e.do(t, req{method: "POST", path: "/v1/invoices", token: ft.alice.token, body: invoiceBody(ft.bob.id, 100)}), 201).str(t, "id")
	ft.open = newOpen(t, ft.e, ft.alice, ft.bob, 1_000_000_000)
	return ft
}

var invoiceSeeds = []string{
	`{"customer":"%s","currency":"eur","due_date":"2030-01-31","memo":"March work","line_items":[{"description":"Design","quantity":3,"unit_amount":12345,"tax_rate":"20"},{"description":"Hosting","quantity":1,"unit_amount":999,"tax_rate":"8.25"}]}`,
	`{"customer":"%s","currency":"usd","due_date":"2030-01-31","line_items":[{"description":"x","quantity":1000000,"unit_amount":999999999999}]}`,
	`{"customer":"%s","currency":"eur","due_date":"2030-02-30","line_items":[]}`,
	`{"customer": `,
	`[]`,
	`{"customer":"%s","currency":"eur","due_date":"2030-01-31","line_items":[{"description":"a","quantity":1,"unit_amount":1,"tax_rate":"100.00001"}]}`,
}

func FuzzCreateInvoice(f *testing.F) {
	for _, s := range invoiceSeeds {
		f.Add(s)
	}
	ft := newFuzzTarget(f)
	f.Fuzz(func(t *testing.T, body string) {
		b := body
		if countVerbs(body) == 1 {
			b = fmt.Sprintf(body, ft.bob.id)
		}
		ft.e.do(t, req{method: "POST", path: "/v1/invoices", token: ft.alice.token, body: b})
	})
}

func FuzzPatchInvoice(f *testing.F) {
	f.Add(`{"memo":"April work"}`)
	f.Add(`{"line_items":[{"description":"Design","quantity":2,"unit_amount":500,"tax_rate":"5.5"}],"due_date":"2031-12-31"}`)
	f.Add(`{"customer":"bus_nope","currency":"EUR"}`)
	f.Add(`{"memo":null}`)
	ft := newFuzzTarget(f)
	f.Fuzz(func(t *testing.T, body string) {
		ft.e.do(t, req{method: "PATCH", path: "/v1/invoices/" + ft.draft, token: ft.alice.token, body: body})
	})
}

func FuzzCreatePayment(f *testing.F) {
	f.Add(`{"amount":20000,"method":"bank_transfer","reference":"TX-1"}`)
	f.Add(`{"amount":1,"method":"card"}`)
	f.Add(`{"amount":-5,"method":"cash"}`)
	f.Add(`{"amount":1e300,"method":"card"}`)
	ft := newFuzzTarget(f)
	f.Fuzz(func(t *testing.T, body string) {
		ft.e.do(t, req{method: "POST", path: "/v1/invoices/" + ft.open + "/payments", token: ft.alice.token, body: body})
	})
}

func FuzzCreateBusiness(f *testing.F) {
	f.Add(`{"legal_name":"Alice SARL","country":"FR","registration_number":"RCS alice","billing_email":"alice@example.com"}`)
	f.Add(`{"legal_name":"","country":"XX","registration_number":"1","billing_email":"nope"}`)
	ft := newFuzzTarget(f)
	n := 0
	f.Fuzz(func(t *testing.T, body string) {
		n++
		tok, err := ft.e.issuer.Sign(auth.TokenRequest{Subject: fmt.Sprintf("fuzz-%d", n)})
		if err != nil {
			t.Fatal(err)
		}
		ft.e.do(t, req{method: "POST", path: "/v1/businesses", token: tok, body: body})
	})
}

func countVerbs(s string) int {
	n := 0
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '%' {
			if s[i+1] == 's' {
				n++
			} else {
				return -1
			}
			i++
		}
	}
	return n
}
