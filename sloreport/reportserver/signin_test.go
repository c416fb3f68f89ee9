package reportserver

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/auth/authtest"
)

// signInServer is a report server with its sign-in page, behind the
// guard as its target wires it, on loopback.
func signInServer(t *testing.T) (*httptest.Server, *authtest.Issuer, http.Handler) {
	t.Helper()
	iss := authtest.New(t)
	g := &generator{now: time.Now}
	s, _ := newServer(t, Options{Generate: g.generate, SignIn: iss.Authenticator})
	read := auth.Need(auth.RoleReportsRead)
	table := auth.RouteTable{
		"GET /": read, "GET /reports/latest": read, "GET /reports": read, "GET /reports/{file}": read,
		"POST /reports/{week}/publish": auth.Need(auth.RoleAdmin),
		"GET /signin":                  auth.Public, "POST /signin": auth.Public, "POST /signout": auth.Public,
	}
	keys, err := auth.Walk(s.Routes())
	require.NoError(t, err)
	authtest.CheckTable(t, keys, table)
	h := iss.Authenticator.Guard(s.Routes(), table, auth.SignInPage(SignInPath))(s.Handler())
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, iss, h
}

// noRedirects is a client that shows redirects instead of following them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// posted is the answer to a form.
type posted struct {
	StatusCode int
	Header     http.Header
	cookies    []*http.Cookie
}

func (p posted) Cookies() []*http.Cookie { return p.cookies }

func postForm(t *testing.T, u string, form url.Values) (posted, string) {
	t.Helper()
	resp, err := noRedirects.PostForm(u, form)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return posted{StatusCode: resp.StatusCode, Header: resp.Header, cookies: resp.Cookies()}, string(b)
}

func TestSignIn(t *testing.T) {
	srv, iss, h := signInServer(t)
	reader := iss.Token(t, "alice", auth.RoleReportsRead, auth.RoleObservabilityRead)

	t.Run("the form", func(t *testing.T) {
		code, header, body := get(t, srv.URL+"/signin?next=/reports")
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "text/html; charset=utf-8", header.Get("Content-Type"))
		require.Contains(t, header.Get("Content-Security-Policy"), "default-src 'none'")
		require.Contains(t, body, `<form method="post" action="/signin">`)
		require.Contains(t, body, `name="next" value="/reports"`)
		require.NotContains(t, body, "<script")
		_, _, body = get(t, srv.URL+"/signin?next=https://evil.example/")
		require.Contains(t, body, `name="next" value="/"`)
	})

	refused := []struct{ name, token, want string }{
		{"empty", "", "paste a bearer token"},
		{"not a token", "hello world", "malformed bearer token"},
		{"forged", reader[:len(reader)-4] + "AAAA", "refused"},
		{"lacking the role", iss.Token(t, "bob", auth.RoleChaosHalt), "lacks the role reports.read"},
	}
	for _, tt := range refused {
		t.Run("refused: "+tt.name, func(t *testing.T) {
			resp, body := postForm(t, srv.URL+"/signin", url.Values{"token": {tt.token}, "next": {"/reports"}})
			require.Equal(t, http.StatusBadRequest, resp.StatusCode)
			require.Empty(t, resp.Cookies(), "a refused token sets no cookie")
			require.Contains(t, body, `id="signin-error"`)
			require.Contains(t, body, tt.want)
			require.Contains(t, body, `name="next" value="/reports"`)
		})
	}

	t.Run("too large", func(t *testing.T) {
		resp, body := postForm(t, srv.URL+"/signin", url.Values{"token": {strings.Repeat("a", maxSignInBody)}})
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.Empty(t, resp.Cookies())
		require.Contains(t, body, "too large")
	})

	var session *http.Cookie
	t.Run("signed in", func(t *testing.T) {
		resp, _ := postForm(t, srv.URL+"/signin", url.Values{"token": {"Bearer " + reader}, "next": {"/reports?x=1"}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, "/reports?x=1", resp.Header.Get("Location"))
		require.Len(t, resp.Cookies(), 1)
		c := resp.Cookies()[0]
		require.Equal(t, auth.SessionCookie, c.Name)
		require.Equal(t, reader, c.Value)
		require.True(t, c.HttpOnly)
		require.Equal(t, http.SameSiteStrictMode, c.SameSite)
		require.Equal(t, "/", c.Path)
		require.False(t, c.Secure, "plain HTTP")
		require.InDelta(t, time.Hour.Seconds(), c.MaxAge, 60, "bounded by the token's expiry")
		session = c
	})

	for _, next := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "http:/evil.example", "javascript:alert(1)"} {
		t.Run("open redirect "+next, func(t *testing.T) {
			resp, _ := postForm(t, srv.URL+"/signin", url.Values{"token": {reader}, "next": {next}})
			require.Equal(t, http.StatusSeeOther, resp.StatusCode)
			require.Equal(t, "/", resp.Header.Get("Location"))
		})
	}

	t.Run("the cookie reads pages", func(t *testing.T) {
		require.NotNil(t, session)
		code, _, body := get(t, srv.URL+"/reports", "Accept", "text/html", "Cookie", session.String())
		require.Equal(t, http.StatusOK, code, body)
	})

	t.Run("the cookie does not publish", func(t *testing.T) {
		admin := iss.Token(t, "root", auth.RoleAdmin)
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/reports/2026-W45/publish", nil)
		require.NoError(t, err)
		req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: admin})
		resp, err := noRedirects.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	})

	t.Run("a browser without a session is sent to sign in", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/reports?week=2026-W45", nil)
		require.NoError(t, err)
		req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
		resp, err := noRedirects.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, "/signin?next="+url.QueryEscape("/reports?week=2026-W45"), resp.Header.Get("Location"))
	})

	t.Run("an API client still gets 401", func(t *testing.T) {
		code, header, _ := get(t, srv.URL+"/reports", "Accept", "application/json")
		require.Equal(t, http.StatusUnauthorized, code)
		require.Equal(t, "application/problem+json", header.Get("Content-Type"))
	})

	t.Run("sign out", func(t *testing.T) {
		resp, _ := postForm(t, srv.URL+"/signout", nil)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, SignInPath, resp.Header.Get("Location"))
		require.Len(t, resp.Cookies(), 1)
		require.Equal(t, auth.SessionCookie, resp.Cookies()[0].Name)
		require.Equal(t, -1, resp.Cookies()[0].MaxAge, "Max-Age=0: drop it now")
	})

	t.Run("Secure over TLS", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "https://127.0.0.1/signin", strings.NewReader(url.Values{"token": {reader}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.TLS = &tls.ConnectionState{}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusSeeOther, rec.Code)
		c := rec.Result().Cookies()
		require.Len(t, c, 1)
		require.True(t, c[0].Secure)
		require.Positive(t, c[0].MaxAge)
	})
}
