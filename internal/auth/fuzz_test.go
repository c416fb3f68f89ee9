package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/estatehq/estate/internal/auth"
)

// FuzzParseAuthorization: any header value either yields a token68 (no
// space, not empty) or is refused; never a panic.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		"", "Bearer abc", "bearer   a.b.c", "Bearer ", "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
		"Bearer a b", "Bearer ====", "Bearer a==", "Bearer\tabc", "Bearer a\x00b", "Bearer é",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, err := auth.ParseAuthorization(h)
		if err != nil {
			if tok != "" {
				t.Fatalf("a refused header %q gave a token %q", h, tok)
			}
			return
		}
		if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
			t.Fatalf("header %q gave a bad token %q", h, tok)
		}
		if !strings.HasSuffix(h, tok) && !strings.HasSuffix(strings.TrimSpace(h), tok) {
			t.Fatalf("header %q gave a token %q it does not end with", h, tok)
		}
	})
}

// FuzzVerify: no token an attacker can write without the issuer's key is
// accepted, whatever its header, claims or encoding; never a panic.
func FuzzVerify(f *testing.F) {
	d, err := auth.OpenDevIssuer(f.TempDir(), func() time.Time { return now })
	if err != nil {
		f.Fatal(err)
	}
	good, err := d.Sign(auth.TokenRequest{Subject: "alice", Scopes: []string{"admin"}})
	if err != nil {
		f.Fatal(err)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"iss": auth.DevIssuerName, "sub": "x"}).
		SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(good, ".")
	for _, s := range []string{
		"", "a.b.c", none, parts[0] + "." + parts[1] + ".", parts[0] + ".." + parts[2],
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", strings.Repeat("A", 5000),
	} {
		f.Add(s)
	}
	v := auth.NewFromConfig(auth.Config{Dev: true}, d, nil, func() time.Time { return now })
	want, err := v.Verify(context.Background(), good)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		// Only the issuer's token verifies (an ECDSA signature has a
		// second valid form, which changes nothing the token says).
		if p, err := v.Verify(context.Background(), raw); err == nil && !equalPrincipal(p, want) {
			t.Fatalf("forged token %q accepted as %+v", raw, p)
		}
	})
}

func equalPrincipal(a, b auth.Principal) bool {
	return a.Issuer == b.Issuer && a.Subject == b.Subject && a.ClientID == b.ClientID &&
		a.BusinessID == b.BusinessID && strings.Join(a.Scopes, " ") == strings.Join(b.Scopes, " ")
}
