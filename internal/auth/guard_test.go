package auth_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/auth"
)

func TestGuard(t *testing.T) {
	a, d := newAuthenticator(t)
	r := chi.NewRouter()
	ok := func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }
	r.Get("/open", ok)
	r.Post("/v1/halt", ok)
	r.Get("/unlisted", ok)
	sub := chi.NewRouter()
	sub.Get("/query", ok)
	r.Mount("/api/v1", sub)
	table := auth.RouteTable{
		"GET /open":         auth.Public,
		"POST /v1/halt":     auth.Need(auth.RoleChaosHalt, auth.RoleChaosOperate),
		"GET /api/v1/query": auth.Need(auth.RoleObservabilityRead),
	}
	keys, err := auth.Walk(r)
	require.NoError(t, err)
	require.Equal(t, []string{"GET /api/v1/query", "GET /open", "GET /unlisted", "POST /v1/halt"}, keys)
	h := a.Guard(r, table)(r)

	oncall := "Bearer " + devToken(t, d, auth.TokenRequest{Groups: []string{"estate-oncall"}})
	leader := "Bearer " + devToken(t, d, auth.TokenRequest{Groups: []string{"estate-leadership"}})
	admin := "Bearer " + devToken(t, d, auth.TokenRequest{Scopes: []string{"admin"}})
	tests := []struct {
		method, path, header string
		want                 int
	}{
		{"GET", "/open", "", 204},
		{"POST", "/v1/halt", "", 401},
		{"POST", "/v1/halt", leader, 403},
		{"POST", "/v1/halt", oncall, 204},
		{"GET", "/api/v1/query", "", 401},
		{"GET", "/api/v1/query", leader, 403},
		{"GET", "/api/v1/query", oncall, 204},
		{"GET", "/unlisted", oncall, 403},
		{"GET", "/unlisted", admin, 204},
		{"GET", "/nowhere", "", 404},
		{"DELETE", "/open", "", 405},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s %d", tt.method, tt.path, tt.want), func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, tt.want, rec.Code)
		})
	}
}
