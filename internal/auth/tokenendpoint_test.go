package auth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/estatehq/estate/internal/auth"
)

func TestTokenEndpoint(t *testing.T) {
	d, err := auth.OpenDevIssuer(t.TempDir(), func() time.Time { return now })
	require.NoError(t, err)
	secret, err := d.RegisterClient("ci", []string{"events.write", "estate/telemetry.write"})
	require.NoError(t, err)
	clients, err := d.Clients()
	require.NoError(t, err)
	require.Len(t, clients, 1)
	require.NotContains(t, clients[0].SecretSHA256, secret, "the secret is kept hashed")

	v := auth.NewFromConfig(auth.Config{Dev: true, ScopePrefix: "estate/"}, d, nil, func() time.Time { return now })
	tests := []struct {
		name       string
		form       url.Values
		basic      [2]string
		status     int
		wantErr    string
		wantScopes string
	}{
		{
			name:  "basic, all scopes",
			form:  url.Values{"grant_type": {"client_credentials"}},
			basic: [2]string{"ci", secret}, status: 200, wantScopes: "events.write estate/telemetry.write",
		},
		{
			name:   "form, one scope",
			form:   url.Values{"grant_type": {"client_credentials"}, "client_id": {"ci"}, "client_secret": {secret}, "scope": {"events.write"}},
			status: 200, wantScopes: "events.write",
		},
		{
			name:  "wrong secret",
			form:  url.Values{"grant_type": {"client_credentials"}},
			basic: [2]string{"ci", "guess"}, status: 401, wantErr: "invalid_client",
		},
		{
			name:   "unknown client",
			form:   url.Values{"grant_type": {"client_credentials"}, "client_id": {"other"}, "client_secret": {secret}},
			status: 401, wantErr: "invalid_client",
		},
		{
			name:   "no client authentication",
			form:   url.Values{"grant_type": {"client_credentials"}},
			status: 400, wantErr: "invalid_request",
		},
		{
			name:  "scope not allowed",
			form:  url.Values{"grant_type": {"client_credentials"}, "scope": {"events.write admin"}},
			basic: [2]string{"ci", secret}, status: 400, wantErr: "invalid_scope",
		},
		{
			name:  "unsupported grant",
			form:  url.Values{"grant_type": {"password"}, "username": {"a"}, "password": {"b"}},
			basic: [2]string{"ci", secret}, status: 400, wantErr: "unsupported_grant_type",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, auth.TokenPath, strings.NewReader(tc.form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.basic[0] != "" {
				r.SetBasicAuth(tc.basic[0], tc.basic[1])
			}
			w := httptest.NewRecorder()
			d.TokenHandler().ServeHTTP(w, r)
			require.Equal(t, tc.status, w.Code)
			require.Equal(t, "application/json", w.Header().Get("Content-Type"))
			require.Equal(t, "no-store", w.Header().Get("Cache-Control"))
			var body struct {
				AccessToken string `json:"access_token"`
				TokenType   string `json:"token_type"`
				ExpiresIn   int    `json:"expires_in"`
				Scope       string `json:"scope"`
				Error       string `json:"error"`
			}
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
			if tc.wantErr != "" {
				require.Equal(t, tc.wantErr, body.Error)
				require.Empty(t, body.AccessToken)
				return
			}
			require.Equal(t, "Bearer", body.TokenType)
			require.Equal(t, 3600, body.ExpiresIn)
			require.Equal(t, tc.wantScopes, body.Scope)
			p, err := v.Verify(context.Background(), body.AccessToken)
			require.NoError(t, err)
			require.Equal(t, "ci", p.Subject)
			require.Equal(t, "ci", p.ClientID)
			require.Equal(t, "client:ci", p.Who())
			require.Equal(t, strings.Fields(tc.wantScopes), p.Scopes)
			require.True(t, p.HasRole(auth.RoleEventsWrite))
		})
	}

	// Registered again, the client has a new secret and the old one fails.
	again, err := d.RegisterClient("ci", []string{"events.write"})
	require.NoError(t, err)
	require.NotEqual(t, secret, again)
	r := httptest.NewRequest(http.MethodPost, auth.TokenPath, strings.NewReader("grant_type=client_credentials"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth("ci", secret)
	w := httptest.NewRecorder()
	d.TokenHandler().ServeHTTP(w, r)
	require.Equal(t, http.StatusUnauthorized, w.Code)
}

// handlerTransport serves requests with a handler in memory, so that the
// client under synctest starts no network goroutines.
type handlerTransport struct {
	h     http.Handler
	calls atomic.Int64
}

func (h *handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	h.calls.Add(1)
	w := httptest.NewRecorder()
	h.h.ServeHTTP(w, r)
	return w.Result(), nil
}

func TestClientCredentials(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, err := auth.OpenDevIssuer(t.TempDir(), time.Now)
		require.NoError(t, err)
		secret, err := d.RegisterClient("credit", []string{"invoicing/history.read", "invoicing/financing"})
		require.NoError(t, err)
		tr := &handlerTransport{h: d.TokenHandler()}
		cc, err := auth.NewClientCredentials(auth.ClientCredentialsConfig{
			ClientID: "credit", ClientSecret: secret, TokenURL: "http://issuer.test" + auth.TokenPath,
			Scopes: []string{"invoicing/history.read"}, HTTPClient: &http.Client{Transport: tr},
		})
		require.NoError(t, err)
		ctx := context.Background()
		first, err := cc.Token(ctx)
		require.NoError(t, err)
		require.Equal(t, int64(1), tr.calls.Load())

		// Reused until a minute before its hour is up.
		time.Sleep(58 * time.Minute)
		tok, err := cc.Token(ctx)
		require.NoError(t, err)
		require.Equal(t, first, tok)
		require.Equal(t, int64(1), tr.calls.Load())

		time.Sleep(90 * time.Second)
		tok, err = cc.Token(ctx)
		require.NoError(t, err)
		require.NotEqual(t, first, tok)
		require.Equal(t, int64(2), tr.calls.Load())

		v := auth.NewFromConfig(auth.Config{Dev: true}, d, nil, time.Now)
		p, err := v.Verify(ctx, tok)
		require.NoError(t, err)
		require.Equal(t, []string{"invoicing/history.read"}, p.Scopes)
	})
}

func TestClientCredentialsErrors(t *testing.T) {
	d, err := auth.OpenDevIssuer(t.TempDir(), nil)
	require.NoError(t, err)
	_, err = d.RegisterClient("credit", []string{"invoicing/history.read"})
	require.NoError(t, err)
	tr := &handlerTransport{h: d.TokenHandler()}
	cc, err := auth.NewClientCredentials(auth.ClientCredentialsConfig{
		ClientID: "credit", ClientSecret: "wrong", TokenURL: "http://issuer.test" + auth.TokenPath,
		HTTPClient: &http.Client{Transport: tr},
	})
	require.NoError(t, err)
	_, err = cc.Token(context.Background())
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "invalid_client", re.ErrorCode)

	_, err = auth.NewClientCredentials(auth.ClientCredentialsConfig{})
	require.ErrorContains(t, err, "client id: must be set")
	require.ErrorContains(t, err, "token URL: must be set")
}
