package auth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/estatehq/estate/internal/auth"
)

// newAuthenticator accepts development-issuer JWTs and one static token,
// "am-token", with events.write.
func newAuthenticator(t *testing.T) (*auth.Authenticator, *auth.DevIssuer) {
	t.Helper()
	d, err := auth.OpenDevIssuer(t.TempDir(), func() time.Time { return now })
	require.NoError(t, err)
	v := auth.NewFromConfig(auth.Config{Dev: true, ScopePrefix: "estate/", GroupRoles: auth.DefaultGroupRoles}, d, nil,
		func() time.Time { return now })
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	require.NoError(t, os.WriteFile(path, []byte(staticFile(staticEntry("alertmanager", "am-token", "events.write"))), 0o600))
	st, err := auth.OpenStaticTokens(auth.StaticTokensOptions{Path: path})
	require.NoError(t, err)
	return auth.NewAuthenticator(auth.AuthenticatorOptions{Verifier: v, Static: st}), d
}

func devToken(t *testing.T, d *auth.DevIssuer, r auth.TokenRequest) string {
	t.Helper()
	if r.Subject == "" {
		r.Subject = "alice"
	}
	tok, err := d.Sign(r)
	require.NoError(t, err)
	return tok
}

func TestRequire(t *testing.T) {
	a, d := newAuthenticator(t)
	tests := []struct {
		name    string
		roles   []string
		header  string
		status  int
		www     string
		detail  string
		wantWho string
	}{
		{name: "no header", roles: []string{"chaos.halt"}, status: 401, www: "Bearer", detail: "a bearer token is required"},
		{
			name: "basic", roles: []string{"chaos.halt"}, header: "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
			status: 401, www: `Bearer error="invalid_token"`, detail: "the Authorization header is not a Bearer token",
		},
		{name: "garbage token", roles: []string{"chaos.halt"}, header: "Bearer xyz", status: 401, www: `Bearer error="invalid_token"`, detail: "malformed token"},
		{
			name: "valid token without the role", roles: []string{"chaos.operate"},
			header: "Bearer " + devToken(t, d, auth.TokenRequest{Scopes: []string{"estate/observability.read"}}),
			status: 403, www: `Bearer error="insufficient_scope"`, detail: "this needs the role chaos.operate",
		},
		{
			name: "halting is open to either role", roles: []string{"chaos.operate", "chaos.halt"},
			header: "Bearer " + devToken(t, d, auth.TokenRequest{Groups: []string{"estate-oncall"}}),
			status: 200, wantWho: "subject:alice",
		},
		{
			name: "neither role", roles: []string{"chaos.operate", "chaos.halt"},
			header: "Bearer " + devToken(t, d, auth.TokenRequest{Groups: []string{"estate-leadership"}}),
			status: 403, detail: "this needs one of the roles chaos.operate, chaos.halt", www: `Bearer error="insufficient_scope"`,
		},
		{
			name: "admin", roles: []string{"reports.read"},
			header: "Bearer " + devToken(t, d, auth.TokenRequest{Groups: []string{"estate-admin"}}),
			status: 200, wantWho: "subject:alice",
		},
		{name: "static token with the role", roles: []string{"events.write"}, header: "Bearer am-token", status: 200, wantWho: "static:alertmanager"},
		{
			name: "static token without the role", roles: []string{"telemetry.write"}, header: "Bearer am-token",
			status: 403, www: `Bearer error="insufficient_scope"`, detail: "this needs the role telemetry.write",
		},
		{name: "unknown static token", roles: []string{"events.write"}, header: "Bearer am-token-2", status: 401, www: `Bearer error="invalid_token"`, detail: "malformed token"},
		{name: "any principal", header: "bearer am-token", status: 200, wantWho: "static:alertmanager"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := a.Require(tc.roles...)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				p, ok := auth.FromContext(r.Context())
				if !ok {
					w.WriteHeader(http.StatusInternalServerError)
					return
				}
				_, _ = w.Write([]byte(p.Who()))
			}))
			r := httptest.NewRequest(http.MethodPost, "/v1/x", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			require.Equal(t, tc.status, w.Code, w.Body.String())
			if tc.status == 200 {
				require.Equal(t, tc.wantWho, w.Body.String())
				return
			}
			require.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
			require.Equal(t, tc.www, w.Header().Get("WWW-Authenticate"))
			var pb struct {
				Status int    `json:"status"`
				Detail string `json:"detail"`
			}
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &pb))
			require.Equal(t, tc.status, pb.Status)
			require.Equal(t, tc.detail, pb.Detail)
		})
	}
}

func TestGRPCInterceptors(t *testing.T) {
	a, d := newAuthenticator(t)
	writer := "Bearer " + devToken(t, d, auth.TokenRequest{Scopes: []string{"telemetry.write"}})
	reader := "Bearer " + devToken(t, d, auth.TokenRequest{Scopes: []string{"observability.read"}})
	tests := []struct {
		name string
		md   metadata.MD
		code codes.Code
	}{
		{name: "no metadata", code: codes.Unauthenticated},
		{name: "no token", md: metadata.Pairs("x-other", "1"), code: codes.Unauthenticated},
		{name: "bad token", md: metadata.Pairs("authorization", "Bearer not.a.jwt"), code: codes.Unauthenticated},
		{name: "without the role", md: metadata.Pairs("authorization", reader), code: codes.PermissionDenied},
		{name: "with the role", md: metadata.Pairs("authorization", writer), code: codes.OK},
		{name: "static token without the role", md: metadata.Pairs("authorization", "Bearer am-token"), code: codes.PermissionDenied},
	}
	unary := a.UnaryServerInterceptor(auth.RoleTelemetryWrite)
	stream := a.StreamServerInterceptor(auth.RoleTelemetryWrite)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.md != nil {
				ctx = metadata.NewIncomingContext(ctx, tc.md)
			}
			_, err := unary(ctx, "req", &grpc.UnaryServerInfo{FullMethod: "/x/Export"}, func(ctx context.Context, _ any) (any, error) {
				p, ok := auth.FromContext(ctx)
				require.True(t, ok)
				require.True(t, p.HasRole(auth.RoleTelemetryWrite))
				return "ok", nil
			})
			require.Equal(t, tc.code, status.Code(err))
			err = stream(nil, &fakeStream{ctx: ctx}, &grpc.StreamServerInfo{FullMethod: "/x/Stream"}, func(_ any, ss grpc.ServerStream) error {
				_, ok := auth.FromContext(ss.Context())
				require.True(t, ok)
				return nil
			})
			require.Equal(t, tc.code, status.Code(err))
		})
	}
}

// fakeStream is the one part of a server stream the interceptor reads.
type fakeStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (f *fakeStream) Context() context.Context { return f.ctx }

func TestParseAuthorization(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{in: "", wantErr: "a bearer token is required"},
		{in: "   ", wantErr: "a bearer token is required"},
		{in: "Bearer abc.def-_~+/==", want: "abc.def-_~+/=="},
		{in: "bearer   abc", want: "abc"},
		{in: "BEARER abc", want: "abc"},
		{in: "Bearer", wantErr: "not a Bearer token"},
		{in: "Bearer ", wantErr: "not a Bearer token"},
		{in: "Bearer a b", wantErr: "malformed bearer token"},
		{in: "Bearer ====", wantErr: "malformed bearer token"},
		{in: "Bearer a=b", wantErr: "malformed bearer token"},
		{in: "Bearer a\x00", wantErr: "malformed bearer token"},
		{in: "Basic abc", wantErr: "not a Bearer token"},
		{in: "Bearerabc", wantErr: "not a Bearer token"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := auth.ParseAuthorization(tc.in)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestNewAuthenticatorFromConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	require.NoError(t, os.WriteFile(path, []byte(staticFile(staticEntry("am", "am-token", "events.write"))), 0o600))
	a, st, err := auth.NewAuthenticatorFromConfig(auth.Config{StaticTokens: path}, nil, nil, nil)
	require.NoError(t, err)
	require.NotNil(t, st)
	p, err := a.Authenticate(context.Background(), "Bearer am-token")
	require.NoError(t, err)
	require.Equal(t, "static:am", p.Who())

	_, st, err = auth.NewAuthenticatorFromConfig(auth.Config{}, nil, nil, nil)
	require.NoError(t, err)
	require.Nil(t, st)

	_, _, err = auth.NewAuthenticatorFromConfig(auth.Config{StaticTokens: path + ".missing"}, nil, nil, nil)
	require.ErrorContains(t, err, "auth.static_tokens: reading static tokens")
}
