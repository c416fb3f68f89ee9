package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/logging"
)

const issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_test"

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// idp is an OIDC issuer on loopback serving a JWKS that can rotate.
type idp struct {
	mu      sync.Mutex
	keys    map[string]*rsa.PrivateKey
	fetches atomic.Int64
	srv     *httptest.Server
}

func newIDP(t *testing.T) *idp {
	p := &idp{keys: map[string]*rsa.PrivateKey{}}
	p.addKey(t, "k1")
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.fetches.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		var set struct {
			Keys []auth.JWK `json:"keys"`
		}
		for kid, k := range p.keys {
			set.Keys = append(set.Keys, auth.JWK{Kty: "RSA", Kid: kid, Use: "sig", Alg: "RS256",
				N: base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
				E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())})
		}
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *idp) addKey(t *testing.T, kid string) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	p.mu.Lock()
	p.keys[kid] = k
	p.mu.Unlock()
	return k
}

func (p *idp) key(kid string) *rsa.PrivateKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[kid]
}

func claims(mod func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss": issuer, "sub": "user-1", "client_id": "app-client", "token_use": "access",
		"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(),
		"custom:business_id": "bus_1", "scope": "openid invoicing/history.read",
	}
	if mod != nil {
		mod(c)
	}
	return c
}

func sign(t *testing.T, k *rsa.PrivateKey, kid string, c jwt.MapClaims) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(k)
	require.NoError(t, err)
	return s
}

func newVerifier(p *idp) *auth.Verifier {
	return auth.NewFromConfig(auth.Config{
		Issuer: issuer, JWKSURL: p.srv.URL, Audience: "app-client", TokenUse: "access", BusinessClaim: "custom:business_id",
	}, nil, p.srv.Client(), func() time.Time { return now })
}

func TestVerify(t *testing.T) {
	p := newIDP(t)
	k1 := p.key("k1")
	pubDER, err := x509.MarshalPKIXPublicKey(&k1.PublicKey)
	require.NoError(t, err)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	tests := []struct {
		name    string
		token   func(t *testing.T) string
		want    *auth.Principal
		wantErr string
	}{
		{
			name:  "valid",
			token: func(t *testing.T) string { return sign(t, k1, "k1", claims(nil)) },
			want: &auth.Principal{Issuer: issuer, Subject: "user-1", ClientID: "app-client", BusinessID: "bus_1",
				Scopes: []string{"openid", "invoicing/history.read"}},
		},
		{
			name: "aud instead of client_id",
			token: func(t *testing.T) string {
				return sign(t, k1, "k1", claims(func(c jwt.MapClaims) { delete(c, "client_id"); c["aud"] = "app-client" }))
			},
			want: &auth.Principal{Issuer: issuer, Subject: "user-1", BusinessID: "bus_1", Scopes: []string{"openid", "invoicing/history.read"}},
		},
		{
			name: "alg none",
			token: func(t *testing.T) string {
				s, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
				require.NoError(t, err)
				return s
			},
			wantErr: "bad signature or signing algorithm",
		},
		{
			name: "HS256 signed with the public key",
			token: func(t *testing.T) string {
				tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil))
				tok.Header["kid"] = "k1"
				s, err := tok.SignedString(pubPEM)
				require.NoError(t, err)
				return s
			},
			wantErr: "bad signature or signing algorithm",
		},
		{
			name: "expired",
			token: func(t *testing.T) string {
				return sign(t, k1, "k1", claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() }))
			},
			wantErr: "the token has expired",
		},
		{
			name: "not yet valid",
			token: func(t *testing.T) string {
				return sign(t, k1, "k1", claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() }))
			},
			wantErr: "the token is not valid yet",
		},
		{
			name: "issued in the future",
			token: func(t *testing.T) string {
				return sign(t, k1, "k1", claims(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Hour).Unix() }))
			},
			wantErr: "the token is not valid yet",
		},
		{
			name: "no exp",
			token: func(t *testing.T) string {
				return sign(t, k1, "k1", claims(func(c jwt.MapClaims) { delete(c, "exp") }))
			},
			wantErr: "the token lacks a required claim (exp)",
		},
		{
			name: "wrong issuer",
			token: func(t *testing.T) string {
				return sign(t, k1, "k1", claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }))
			},
			wantErr: "the token cannot be verified (issuer or key)",
		},
		{
			name: "wrong audience",
			token: func(t *testing.T) string {
				return sign(t, k1, "k1", claims(func(c jwt.MapClaims) { c["client_id"] = "other"; c["aud"] = "other" }))
			},
			wantErr: "the token is not meant for this service (aud, client_id)",
		},
		{
			name: "id token refused",
			token: func(t *testing.T) string {
				return sign(t, k1, "k1", claims(func(c jwt.MapClaims) { c["token_use"] = "id" }))
			},
			wantErr: `token_use "id" is not accepted`,
		},
		{
			name: "signed by an unknown key",
			token: func(t *testing.T) string {
				other, err := rsa.GenerateKey(rand.Reader, 2048)
				require.NoError(t, err)
				return sign(t, other, "k1", claims(nil))
			},
			wantErr: "bad signature or signing algorithm",
		},
		{
			name:    "garbage",
			token:   func(*testing.T) string { return "not.a.jwt" },
			wantErr: "malformed token",
		},
		{
			name: "a business claim of 64 characters",
			token: func(t *testing.T) string {
				return sign(t, k1, "k1", claims(func(c jwt.MapClaims) { c["custom:business_id"] = strings.Repeat("b", 64) }))
			},
			want: &auth.Principal{Issuer: issuer, Subject: "user-1", ClientID: "app-client", BusinessID: strings.Repeat("b", 64),
				Scopes: []string{"openid", "invoicing/history.read"}},
		},
		{
			name: "a business claim over 64 characters",
			token: func(t *testing.T) string {
				return sign(t, k1, "k1", claims(func(c jwt.MapClaims) { c["custom:business_id"] = strings.Repeat("b", 65) }))
			},
			wantErr: "the business claim is not a business id (at most 64 letters, digits, - and _)",
		},
		{
			name: "a business claim with other characters",
			token: func(t *testing.T) string {
				return sign(t, k1, "k1", claims(func(c jwt.MapClaims) { c["custom:business_id"] = "bus_1/../x" }))
			},
			wantErr: "the business claim is not a business id (at most 64 letters, digits, - and _)",
		},
	}
	v := newVerifier(p)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v.Verify(context.Background(), tc.token(t))
			if tc.wantErr != "" {
				var ae *auth.Error
				require.ErrorAs(t, err, &ae)
				require.Equal(t, tc.wantErr, ae.Reason)
				return
			}
			require.NoError(t, err)
			require.Empty(t, cmp.Diff(*tc.want, got))
		})
	}
}

func TestUnknownKidRefreshesJWKS(t *testing.T) {
	p := newIDP(t)
	clock := now
	v := auth.NewFromConfig(auth.Config{Issuer: issuer, JWKSURL: p.srv.URL, TokenUse: "access"}, nil, p.srv.Client(),
		func() time.Time { return clock })
	_, err := v.Verify(context.Background(), sign(t, p.key("k1"), "k1", claims(nil)))
	require.NoError(t, err)
	require.Equal(t, int64(1), p.fetches.Load())

	// The issuer rotates its keys: a token with the new kid makes the
	// verifier fetch the set again, after the refresh guard.
	k2 := p.addKey(t, "k2")
	clock = clock.Add(11 * time.Second)
	_, err = v.Verify(context.Background(), sign(t, k2, "k2", claims(nil)))
	require.NoError(t, err)
	require.Equal(t, int64(2), p.fetches.Load())

	// Forged kids do not make it fetch again within the guard.
	for range 5 {
		_, err = v.Verify(context.Background(), sign(t, k2, "forged", claims(nil)))
		var ae *auth.Error
		require.ErrorAs(t, err, &ae)
		require.Equal(t, "unknown signing key", ae.Reason)
	}
	require.Equal(t, int64(2), p.fetches.Load())
}

func TestDevIssuer(t *testing.T) {
	dir := t.TempDir()
	clock := func() time.Time { return now }
	d, err := auth.OpenDevIssuer(dir, clock)
	require.NoError(t, err)
	tok, err := d.Sign(auth.TokenRequest{Subject: "alice", BusinessID: "bus_a", Scopes: []string{"s1"}})
	require.NoError(t, err)

	// Reopened, the issuer has the same key: tokens survive restarts.
	d2, err := auth.OpenDevIssuer(dir, clock)
	require.NoError(t, err)
	v := auth.NewFromConfig(auth.Config{Dev: true, BusinessClaim: "custom:business_id"}, d2, nil, clock)
	p, err := v.Verify(context.Background(), tok)
	require.NoError(t, err)
	require.Equal(t, auth.Principal{Issuer: auth.DevIssuerName, Subject: "alice", ClientID: auth.DevClientID, BusinessID: "bus_a", Scopes: []string{"s1"}}, p)

	// Without dev trust, the same token is refused.
	_, err = auth.NewFromConfig(auth.Config{BusinessClaim: "custom:business_id"}, nil, nil, clock).Verify(context.Background(), tok)
	require.Error(t, err)

	// The published JWKS verifies the token too.
	keys, err := auth.ParseJWKS(d.JWKS())
	require.NoError(t, err)
	v3 := auth.NewVerifier(auth.Options{Trusted: []auth.Trusted{{Issuer: auth.DevIssuerName, Keys: auth.StaticKeys(keys)}}, Now: clock})
	_, err = v3.Verify(context.Background(), tok)
	require.NoError(t, err)
}

func TestMiddleware(t *testing.T) {
	d, err := auth.OpenDevIssuer(t.TempDir(), func() time.Time { return now })
	require.NoError(t, err)
	v := auth.NewFromConfig(auth.Config{Dev: true}, d, nil, func() time.Time { return now })
	h := auth.Middleware(v, logging.Discard())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.FromContext(r.Context())
		if !ok {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte(p.Subject))
	}))
	good, err := d.Sign(auth.TokenRequest{Subject: "alice"})
	require.NoError(t, err)
	tests := []struct {
		name   string
		header string
		status int
	}{
		{"no header", "", 401},
		{"basic", "Basic YWxhZGRpbjpvcGVuc2VzYW1l", 401},
		{"bad token", "Bearer xyz", 401},
		{"good", "Bearer " + good, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v1/x", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			require.Equal(t, tc.status, w.Code)
			if tc.status == 401 {
				require.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
				require.Contains(t, w.Header().Get("WWW-Authenticate"), "Bearer")
			}
		})
	}
}

func TestCachedTokenStillExpires(t *testing.T) {
	p := newIDP(t)
	clock := now
	v := auth.NewFromConfig(auth.Config{Issuer: issuer, JWKSURL: p.srv.URL, TokenUse: "access"}, nil, p.srv.Client(),
		func() time.Time { return clock })
	tok := sign(t, p.key("k1"), "k1", claims(nil)) // expires in 1 h
	for range 3 {
		_, err := v.Verify(context.Background(), tok)
		require.NoError(t, err)
	}
	clock = clock.Add(2 * time.Hour)
	_, err := v.Verify(context.Background(), tok)
	var ae *auth.Error
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "the token has expired", ae.Reason)
}
