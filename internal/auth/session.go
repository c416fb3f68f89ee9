package auth

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// SessionCookie is the cookie a browser keeps its bearer token in, once
// signed in (docs/auth.md). Guard accepts it only on GET and HEAD: a
// cookie is sent by the browser on its own, so it may read pages but
// never authorise a change (no cross-site request forgery), and the
// Authorization header, when there is one, wins.
const SessionCookie = "estate_session"

// safeMethod reports whether method only reads (RFC 9110 §9.2.1): the
// methods a session cookie authorises.
func safeMethod(method string) bool { return method == http.MethodGet || method == http.MethodHead }

// credentials is the Authorization header value of r or, when it has none
// and r only reads, its session cookie's token as one; fromCookie says
// which.
func credentials(r *http.Request) (header string, fromCookie bool) {
	if h := r.Header.Get("Authorization"); h != "" || !safeMethod(r.Method) {
		return h, false
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return "", false
	}
	return "Bearer " + c.Value, true
}

// VerifySession checks a token pasted to sign in, as a bearer token in the
// Authorization header is checked, and returns its expiry. Only a JWT
// signs in: a static token has no expiry to bound the cookie by.
func (a *Authenticator) VerifySession(ctx context.Context, token string) (Principal, time.Time, error) {
	p, err := a.Authenticate(ctx, "Bearer "+token)
	if err != nil {
		return Principal{}, time.Time{}, err
	}
	var claims jwt.RegisteredClaims
	// The token was verified just above; this only reads its expiry.
	if _, _, err := jwt.NewParser().ParseUnverified(token, &claims); err != nil || claims.ExpiresAt == nil {
		return Principal{}, time.Time{}, &Error{Reason: "only a token of an issuer (a JWT with an expiry) signs a browser in"}
	}
	return p, claims.ExpiresAt.Time, nil
}

// SetSession sets the session cookie to token until expires: HttpOnly (no
// script reads it), SameSite=Strict (no other site's page sends it),
// Path=/, and Secure when r came over TLS.
func SetSession(w http.ResponseWriter, r *http.Request, token string, expires, now time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: token, Path: "/", MaxAge: max(int(expires.Sub(now).Seconds()), 1),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
}

// ClearSession tells the browser to drop the session cookie.
func ClearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
}

// SafeNext is next when it is a path of this server (`/reports?x=1`), else
// "/": a sign-in never redirects to another host (an open redirect).
func SafeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return next
}

// wantsHTML reports whether r comes from a browser navigating: its Accept
// names text/html.
func wantsHTML(r *http.Request) bool { return strings.Contains(r.Header.Get("Accept"), "text/html") }

// GuardOption changes what Guard does.
type GuardOption func(*guardOptions)

type guardOptions struct{ signIn string }

// SignInPage makes Guard redirect (303) a browser's GET or HEAD of a
// guarded page that lacks valid credentials to the sign-in page at path,
// with the page in `next`, instead of answering 401; clients that do not
// ask for text/html still get 401.
func SignInPage(path string) GuardOption { return func(o *guardOptions) { o.signIn = path } }
