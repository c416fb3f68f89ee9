package otlp

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/estatehq/estate/collector/otlp/otlptest"
	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/auth/authtest"
)

// started runs a receiver on loopback with authentication on the
// listeners asked for.
func started(t *testing.T, iss *authtest.Issuer, grpcAuth, httpAuth bool) *Receiver {
	t.Helper()
	r, err := New(Options{Queue: &fakeQueue{}, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Authenticator: iss.Authenticator, GRPCAuth: grpcAuth, HTTPAuth: httpAuth})
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	return r
}

func TestRouteTable(t *testing.T) {
	iss := authtest.New(t)
	r := started(t, iss, true, true)
	keys, err := auth.Walk(r.Routes())
	require.NoError(t, err)
	methods := auth.GRPCMethods(r.GRPCServer())
	authtest.CheckTable(t, slices.Concat(keys, methods), Access)
	iss.CheckRoutes(t, authtest.Forward("http://"+r.HTTPAddr()), keys, Access)

	// The three services share one interceptor and one table entry each;
	// logs stand for them.
	for _, tc := range []struct {
		name, token string
		want        codes.Code
	}{
		{"no credentials", "", codes.Unauthenticated},
		{"forged", "abc.def.ghi", codes.Unauthenticated},
		{"no role", iss.Token(t, "nobody", auth.RoleEventsWrite), codes.PermissionDenied},
		{"telemetry.write", iss.Token(t, "svc", auth.RoleTelemetryWrite), codes.OK},
		{"admin", iss.Token(t, "boss", auth.RoleAdmin), codes.OK},
	} {
		require.Equal(t, tc.want, status.Code(otlptest.ExportLogs(t, r.GRPCAddr(), tc.token)), tc.name)
	}
}

func TestAuthIsPerListener(t *testing.T) {
	iss := authtest.New(t)
	r := started(t, iss, false, true)
	require.NoError(t, otlptest.ExportLogs(t, r.GRPCAddr(), ""), "gRPC authentication is off")
	resp, err := http.Post("http://"+r.HTTPAddr()+"/v1/logs", "application/json", bytes.NewBufferString(`{}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "HTTP authentication is on")

	r = started(t, iss, true, false)
	require.Equal(t, codes.Unauthenticated, status.Code(otlptest.ExportLogs(t, r.GRPCAddr(), "")))
	resp, err = http.Post("http://"+r.HTTPAddr()+"/v1/logs", "application/json", bytes.NewBufferString(`{}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestSenderIsThePrincipal(t *testing.T) {
	req := httptest.NewRequest(http.MethodPost, "/v1/logs", nil)
	req.RemoteAddr = "192.0.2.1:4000"
	require.Equal(t, "192.0.2.1", Principal(req), "no principal: the remote address")
	req = req.WithContext(auth.NewContext(req.Context(), auth.Principal{Subject: "estate-invoicing"}))
	require.Equal(t, "subject:estate-invoicing", Principal(req))
}
