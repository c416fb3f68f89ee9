package redact

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
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

// finderCases are what each default value rule finds, by rule.
var finderCases = []struct {
	name string
	rule string
	in   string
	want []string
}{
	{"email in a sentence", RuleEmail, "invoice sent to jane.doe+billing@example.co.uk.", []string{"jane.doe+billing@example.co.uk"}},
	{"email in JSON", RuleEmail, `{"to":"ap@acme-industries.com","cc":"x@y"}`, []string{"ap@acme-industries.com"}},
	{"email after a key=", RuleEmail, "billing_email=finance@northwind.io status=ok", []string{"finance@northwind.io"}},
	{"two emails", RuleEmail, "a@b.io, c.d@e.org", []string{"a@b.io", "c.d@e.org"}},
	{"no domain", RuleEmail, "user@localhost and @handle", nil},
	{"numeric top-level", RuleEmail, "root@10.0.0.1", nil},
	{"an at sign alone", RuleEmail, "@", nil},

	{"visa with spaces", RuleCard, "paid with 4111 1111 1111 1111 exp 12/27", []string{"4111 1111 1111 1111"}},
	{"mastercard bare", RuleCard, "card=5555555555554444;", []string{"5555555555554444"}},
	{"amex with dashes", RuleCard, "3782-822463-10005", []string{"3782-822463-10005"}},
	{"card followed by a year", RuleCard, "4242 4242 4242 4242 2027", []string{"4242 4242 4242 4242"}},
	{"Luhn fails", RuleCard, "4111 1111 1111 1112", nil},
	{"nanosecond timestamp", RuleCard, "ts=1714567890123456784", nil},
	{"glued to letters", RuleCard, "id4111111111111111 and 4111111111111111x", nil},
	{"too many digits", RuleCard, "41111111111111111111111", nil},
	{"short numbers", RuleCard, "call +44 20 7946 0958", nil},

	{"IBAN printed", RuleIBAN, "pay to GB82 WEST 1234 5698 7654 32 by Friday", []string{"GB82 WEST 1234 5698 7654 32"}},
	{"IBAN electronic", RuleIBAN, "iban=DE89370400440532013000,", []string{"DE89370400440532013000"}},
	{"IBAN with letters in the BBAN", RuleIBAN, "FR1420041010050500013M02606", []string{"FR1420041010050500013M02606"}},
	{"IBAN Norway, the shortest", RuleIBAN, "NO9386011117947", []string{"NO9386011117947"}},
	{"IBAN bad checksum", RuleIBAN, "GB83 WEST 1234 5698 7654 32", nil},
	{"IBAN of an unknown country", RuleIBAN, "ZZ82WEST12345698765432", nil},
	{"IBAN too long", RuleIBAN, "DE893704004405320130001", nil},
	{"IBAN glued to a word", RuleIBAN, "XDE89370400440532013000", nil},

	{"JWT bearer", RuleJWT, "Bearer " + jwt, []string{jwt}},
	{"JWT in a query", RuleJWT, "https://invoicing.internal/v1/invoices?access_token=" + jwt + "&page=2", []string{jwt}},
	{"JWT unsecured", RuleJWT, "token " + unsecuredJWT + " end", []string{unsecuredJWT}},
	{"base64 JSON alone", RuleJWT, "eyJhbGciOiJIUzI1NiJ9", nil},
	{"eyJ inside a word", RuleJWT, "abceyJx.eyJy.z", nil},

	{"authorization header line", RuleAuthorization, "GET /v1/invoices\nAuthorization: Bearer abc.def\nAccept: */*", []string{"Bearer abc.def"}},
	{"proxy authorization", RuleAuthorization, "Proxy-Authorization: Basic dXNlcjpwYXNz", []string{"Basic dXNlcjpwYXNz"}},
	{"authorization in JSON", RuleAuthorization, `{"authorization":"Basic dXNlcjpwYXNz","accept":"*/*"}`, []string{"Basic dXNlcjpwYXNz"}},
	{"authorization in escaped JSON", RuleAuthorization, `{\"authorization\":\"Bearer x\"}`, []string{"Bearer x"}},
	{"authorization in prose", RuleAuthorization, "authorization failed for the request", nil},
	{"cookie in Go's header printing", RuleCookie, "headers=map[Cookie:[session=9f86d081; theme=dark]]", []string{"[session=9f86d081; theme=dark]]"}},
	{"set-cookie", RuleCookie, "set-cookie = sid=31d4d96e; Path=/; HttpOnly", []string{"sid=31d4d96e; Path=/; HttpOnly"}},
	{"cookies is another word", RuleCookie, "cookies: none", nil},
}

// defaultRules are the value rules of the default configuration.
func defaultRules() map[string]valueRule {
	rs := builtins(&Config{Email: true, Card: true, IBAN: true, Authorization: true, Cookie: true, JWT: true}, parseTemplate(DefaultReplacement, nil))
	out := map[string]valueRule{}
	for _, v := range rs.values {
		out[v.name] = v
	}
	return out
}

func TestFinders(t *testing.T) {
	rules := defaultRules()
	for _, tt := range finderCases {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, found(rules[tt.rule].find, tt.in)); diff != "" {
				t.Errorf("found (-want +got):\n%s", diff)
			}
		})
	}
}

// TestProfileAdmitsEveryMatch: the profile never rules out a string in
// which its rule finds something.
func TestProfileAdmitsEveryMatch(t *testing.T) {
	rules := defaultRules()
	for _, tt := range finderCases {
		if len(tt.want) == 0 {
			continue
		}
		r := rules[tt.rule]
		require.Equal(t, r.need, profileOf(tt.in)&r.need, "%s: %q", tt.name, tt.in)
	}
	require.Zero(t, profileOf("GET /v1/invoices 2026-12-02T10:04:11Z req=0f6c1a2b")&(hasCardDigits|hasLettersDigit|hasAt|hasJ))
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
