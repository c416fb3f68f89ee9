package redact

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
	// unsecuredJWT is alg "none": an empty signature.
	unsecuredJWT = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyLTQyIn0."
)

// found is what a finder finds in s, as text.
func found(f finder, s string) []string {
	var out []string
	for _, sp := range f(s, nil) {
		out = append(out, s[sp.start:sp.end])
	}
	return out
}

func TestFinders(t *testing.T) {
	tests := []struct {
		name string
		find finder
		in   string
		want []string
	}{
		{"email in a sentence", findEmails, "invoice sent to jane.doe+billing@example.co.uk.", []string{"jane.doe+billing@example.co.uk"}},
		{"email in JSON", findEmails, `{"to":"ap@acme-industries.com","cc":"x@y"}`, []string{"ap@acme-industries.com"}},
		{"email after a key=", findEmails, "billing_email=finance@northwind.io status=ok", []string{"finance@northwind.io"}},
		{"two emails", findEmails, "a@b.io, c.d@e.org", []string{"a@b.io", "c.d@e.org"}},
		{"no domain", findEmails, "user@localhost and @handle", nil},
		{"numeric top-level", findEmails, "root@10.0.0.1", nil},
		{"an at sign alone", findEmails, "@", nil},

		{"visa with spaces", findCards, "paid with 4111 1111 1111 1111 exp 12/27", []string{"4111 1111 1111 1111"}},
		{"mastercard bare", findCards, "card=5555555555554444;", []string{"5555555555554444"}},
		{"amex with dashes", findCards, "3782-822463-10005", []string{"3782-822463-10005"}},
		{"card followed by a year", findCards, "4242 4242 4242 4242 2027", []string{"4242 4242 4242 4242"}},
		{"Luhn fails", findCards, "4111 1111 1111 1112", nil},
		{"nanosecond timestamp", findCards, "ts=1714567890123456784", nil},
		{"glued to letters", findCards, "id4111111111111111 and 4111111111111111x", nil},
		{"too many digits", findCards, "41111111111111111111111", nil},
		{"short numbers", findCards, "call +44 20 7946 0958", nil},

		{"IBAN printed", findIBANs, "pay to GB82 WEST 1234 5698 7654 32 by Friday", []string{"GB82 WEST 1234 5698 7654 32"}},
		{"IBAN electronic", findIBANs, "iban=DE89370400440532013000,", []string{"DE89370400440532013000"}},
		{"IBAN with letters in the BBAN", findIBANs, "FR1420041010050500013M02606", []string{"FR1420041010050500013M02606"}},
		{"IBAN Norway, the shortest", findIBANs, "NO9386011117947", []string{"NO9386011117947"}},
		{"IBAN bad checksum", findIBANs, "GB83 WEST 1234 5698 7654 32", nil},
		{"IBAN of an unknown country", findIBANs, "ZZ82WEST12345698765432", nil},
		{"IBAN too long", findIBANs, "DE893704004405320130001", nil},
		{"IBAN glued to a word", findIBANs, "XDE89370400440532013000", nil},

		{"JWT bearer", findJWTs, "Bearer " + jwt, []string{jwt}},
		{"JWT in a query", findJWTs, "https://invoicing.internal/v1/invoices?access_token=" + jwt + "&page=2", []string{jwt}},
		{"JWT unsecured", findJWTs, "token " + unsecuredJWT + " end", []string{unsecuredJWT}},
		{"base64 JSON alone", findJWTs, "eyJhbGciOiJIUzI1NiJ9", nil},
		{"eyJ inside a word", findJWTs, "abceyJx.eyJy.z", nil},

		{"authorization header line", headerFinder("authorization", 7), "GET /v1/invoices\nAuthorization: Bearer abc.def\nAccept: */*", []string{"Bearer abc.def"}},
		{"proxy authorization", headerFinder("authorization", 7), "Proxy-Authorization: Basic dXNlcjpwYXNz", []string{"Basic dXNlcjpwYXNz"}},
		{"authorization in JSON", headerFinder("authorization", 7), `{"authorization":"Basic dXNlcjpwYXNz","accept":"*/*"}`, []string{"Basic dXNlcjpwYXNz"}},
		{"authorization in escaped JSON", headerFinder("authorization", 7), `{\"authorization\":\"Bearer x\"}`, []string{"Bearer x"}},
		{"authorization in prose", headerFinder("authorization", 7), "authorization failed for the request", nil},
		{"cookie in Go's header printing", headerFinder("cookie", 3), "headers=map[Cookie:[session=9f86d081; theme=dark]]", []string{"[session=9f86d081; theme=dark]]"}},
		{"set-cookie", headerFinder("cookie", 3), "set-cookie = sid=31d4d96e; Path=/; HttpOnly", []string{"sid=31d4d96e; Path=/; HttpOnly"}},
		{"cookies is another word", headerFinder("cookie", 3), "cookies: none", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, found(tt.find, tt.in)); diff != "" {
				t.Errorf("found (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLuhnAndMod97(t *testing.T) {
	for _, s := range []string{"4111111111111111", "5555555555554444", "378282246310005", "6011111111111117"} {
		if !luhn(s) {
			t.Errorf("luhn(%s) = false", s)
		}
	}
	for _, s := range []string{"4111111111111112", "1234567812345678"} {
		if luhn(s) {
			t.Errorf("luhn(%s) = true", s)
		}
	}
	for _, s := range []string{"GB82WEST12345698765432", "DE89370400440532013000", "NL91ABNA0417164300", "BE68539007547034"} {
		if !mod97([]byte(s)) {
			t.Errorf("mod97(%s) = false", s)
		}
	}
	if mod97([]byte("GB82WEST12345698765433")) {
		t.Error("mod97 accepts a wrong check")
	}
}
