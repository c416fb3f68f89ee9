package auth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/auth"
)

// TestGuardSessionCookie: the session cookie authorises GET and HEAD
// only, as the Authorization header does (same verification, same
// roles), and the header wins over it.
func TestGuardSessionCookie(t *testing.T) {
	dir := t.TempDir()
	d, err := auth.OpenDevIssuer(dir, func() time.Time { return now })
	require.NoError(t, err)
	earlier, err := auth.OpenDevIssuer(dir, func() time.Time { return now.Add(-2 * time.Hour) })
	require.NoError(t, err)
	v := auth.NewFromConfig(auth.Config{Dev: true, ScopePrefix: "estate/", GroupRoles: auth.DefaultGroupRoles}, d, nil, func() time.Time { return now })
	a := auth.NewAuthenticator(auth.AuthenticatorOptions{Verifier: v})

	r := chi.NewRouter()
	ok := func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "DELETE"} {
		r.MethodFunc(m, "/page", ok)
	}
	read := auth.Need(auth.RoleReportsRead)
	table := auth.RouteTable{"GET /page": read, "HEAD /page": read, "POST /page": read, "PUT /page": read, "DELETE /page": read}
	plain := a.Guard(r, table)(r)
	browser := a.Guard(r, table, auth.SignInPage("/signin"))(r)

	reader := devToken(t, d, auth.TokenRequest{Scopes: []string{auth.RoleReportsRead}})
	other := devToken(t, d, auth.TokenRequest{Scopes: []string{auth.RoleChaosHalt}})
	expiredTok, err := earlier.Sign(auth.TokenRequest{Subject: "alice", Scopes: []string{auth.RoleReportsRead}, TTL: time.Hour})
	require.NoError(t, err)
	tests := []struct {
		name, method, cookie, header, accept string
		signIn                               bool
		want                                 int
		location                             string
	}{
		{name: "cookie on GET", method: "GET", cookie: reader, want: 204},
		{name: "cookie on HEAD", method: "HEAD", cookie: reader, want: 204},
		{name: "cookie on POST ignored", method: "POST", cookie: reader, want: 401},
		{name: "cookie on PUT ignored", method: "PUT", cookie: reader, want: 401},
		{name: "cookie on DELETE ignored", method: "DELETE", cookie: reader, want: 401},
		{name: "header on POST", method: "POST", header: reader, want: 204},
		{name: "header wins over a good cookie", method: "GET", cookie: reader, header: other, want: 403},
		{name: "header wins over a bad cookie", method: "GET", cookie: "junk", header: reader, want: 204},
		{name: "cookie lacking the role", method: "GET", cookie: other, want: 403},
		{name: "expired cookie", method: "GET", cookie: expiredTok, want: 401},
		{name: "invalid cookie", method: "GET", cookie: reader[:len(reader)-4] + "AAAA", want: 401},
		{name: "malformed cookie", method: "GET", cookie: "not a token", want: 401},
		{name: "browser without credentials", method: "GET", accept: "text/html,*/*", signIn: true, want: 303, location: "/signin?next=%2Fpage%3Fx%3D1"},
		{name: "browser with an expired cookie", method: "GET", cookie: expiredTok, accept: "text/html", signIn: true, want: 303, location: "/signin?next=%2Fpage%3Fx%3D1"},
		{name: "API client of a sign-in target", method: "GET", accept: "application/json", signIn: true, want: 401},
		{name: "browser POST is not redirected", method: "POST", accept: "text/html", signIn: true, want: 401},
		{name: "browser lacking the role is not redirected", method: "GET", cookie: other, accept: "text/html", signIn: true, want: 403},
		{name: "browser with a good cookie", method: "GET", cookie: reader, accept: "text/html", signIn: true, want: 204},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "/page?x=1", nil)
			if tt.cookie != "" {
				req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: tt.cookie})
			}
			if tt.header != "" {
				req.Header.Set("Authorization", "Bearer "+tt.header)
			}
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			rec := httptest.NewRecorder()
			h := plain
			if tt.signIn {
				h = browser
			}
			h.ServeHTTP(rec, req)
			require.Equal(t, tt.want, rec.Code)
			require.Equal(t, tt.location, rec.Header().Get("Location"))
			if tt.want == 401 {
				require.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
			}
			if tt.want == 303 && tt.cookie != "" {
				require.Contains(t, rec.Header().Get("Set-Cookie"), auth.SessionCookie+"=;", "a refused cookie is cleared")
			}
		})
	}
}

func TestSafeNext(t *testing.T) {
	for next, want := range map[string]string{
		"":                       "/",
		"/":                      "/",
		"/reports?week=2026-W18": "/reports?week=2026-W18",
		"//evil.example/":        "/",
		"/\\evil.example":        "/",
		"https://evil.example/":  "/",
		"javascript:alert(1)":    "/",
		"evil.example":           "/",
		"/%0d%0aSet-Cookie:x":    "/%0d%0aSet-Cookie:x",
		"/a\r\nLocation: x":      "/",
	} {
		require.Equal(t, want, auth.SafeNext(next), next)
	}
}

func TestVerifySession(t *testing.T) {
	a, d := newAuthenticator(t)
	tok := devToken(t, d, auth.TokenRequest{Scopes: []string{auth.RoleReportsRead}, TTL: 30 * time.Minute})
	p, exp, err := a.VerifySession(t.Context(), tok)
	require.NoError(t, err)
	require.Equal(t, []string{auth.RoleReportsRead}, p.Roles)
	require.Equal(t, now.Add(30*time.Minute).Unix(), exp.Unix())
	_, _, err = a.VerifySession(t.Context(), "am-token")
	require.ErrorContains(t, err, "JWT", "a static token does not sign a browser in")
	_, _, err = a.VerifySession(t.Context(), "junk")
	require.Error(t, err)
}
