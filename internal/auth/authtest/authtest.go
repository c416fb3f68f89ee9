// Package authtest mints development tokens with roles for tests, and
// checks a router against its route table: every route listed, and each
// refused without credentials (401) or without its role (403) and let in
// with its role or admin.
package authtest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/auth"
)

// Issuer is a development issuer and an authenticator that trusts it.
type Issuer struct {
	Dev           *auth.DevIssuer
	Authenticator *auth.Authenticator
}

// New returns an issuer whose key is kept in a temporary folder.
func New(t testing.TB) *Issuer {
	t.Helper()
	return Open(t, t.TempDir())
}

// Open returns the issuer whose key is kept in dir, as `estate up` keeps
// it under DATA_DIR/dev-issuer.
func Open(t testing.TB, dir string) *Issuer {
	t.Helper()
	d, err := auth.OpenDevIssuer(dir, nil)
	require.NoError(t, err)
	cfg := auth.Config{Dev: true, ScopePrefix: auth.DefaultScopePrefix, GroupsClaim: auth.DefaultGroupsClaim, GroupRoles: auth.DefaultGroupRoles}
	v := auth.NewFromConfig(cfg, d, nil, nil)
	return &Issuer{Dev: d, Authenticator: auth.NewAuthenticator(auth.AuthenticatorOptions{Verifier: v})}
}

// Token returns a token of subject holding roles (as scopes; none: a valid
// token without any role).
func (i *Issuer) Token(t testing.TB, subject string, roles ...string) string {
	t.Helper()
	tok, err := i.Dev.Sign(auth.TokenRequest{Subject: subject, Scopes: roles, TTL: time.Hour})
	require.NoError(t, err)
	return tok
}

// CheckTable fails unless table lists exactly the routes keys names: a
// route without an entry, or an entry without a route.
func CheckTable(t testing.TB, keys []string, table auth.RouteTable) {
	t.Helper()
	var missing, stale []string
	for _, k := range keys {
		if _, ok := table[k]; !ok {
			missing = append(missing, k)
		}
	}
	for k := range table {
		if !slices.Contains(keys, k) {
			stale = append(stale, k)
		}
	}
	slices.Sort(missing)
	slices.Sort(stale)
	require.Empty(t, missing, "routes without an entry in the route table")
	require.Empty(t, stale, "route table entries without a route")
}

var param = regexp.MustCompile(`\{[^}]*\}|\*`)

// Path is a request path that reaches the route pattern: each parameter
// and wildcard filled with "x".
func Path(pattern string) string { return param.ReplaceAllString(pattern, "x") }

// Refused reports whether an answer is an authentication refusal: 401 or
// 403 with a Bearer challenge, as auth.Require answers.
func Refused(rec *httptest.ResponseRecorder) bool {
	return (rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden) &&
		strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer")
}

// CheckRoutes serves each route of keys through h (check first that table
// lists them all, CheckTable): without credentials 401, with a valid token
// holding none of its roles 403, with each of its roles and with admin
// not refused; a public route is never refused.
func (i *Issuer) CheckRoutes(t *testing.T, h http.Handler, keys []string, table auth.RouteTable) {
	t.Helper()
	for _, key := range keys {
		acc := table[key]
		method, pattern, _ := strings.Cut(key, " ")
		t.Run(key, func(t *testing.T) {
			call := func(token string) *httptest.ResponseRecorder {
				req := httptest.NewRequest(method, Path(pattern), nil)
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				return rec
			}
			if acc.Public {
				require.False(t, Refused(call("")), "a public route refused a request without credentials")
				return
			}
			require.Equal(t, http.StatusUnauthorized, call("").Code, "without credentials")
			others := slices.DeleteFunc(slices.Clone(auth.Roles), func(r string) bool { return r == auth.RoleAdmin || slices.Contains(acc.Roles, r) })
			require.Equal(t, http.StatusForbidden, call(i.Token(t, "nobody", others...)).Code, "with the roles %v only", others)
			for _, r := range append(slices.Clone(acc.Roles), auth.RoleAdmin) {
				require.False(t, Refused(call(i.Token(t, "user-"+r, r))), "with the role %s", r)
			}
		})
	}
}

// Forward is a handler that sends each request to the server at base (a
// running target's listener) and copies its answer back, for CheckRoutes
// over the network.
func Forward(base string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.URL.Scheme, out.URL.Host = "http", strings.TrimPrefix(base, "http://")
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
}
