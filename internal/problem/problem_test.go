package problem

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"
)

func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/v1/events", nil)
	Write(rec, req, New(http.StatusUnprocessableEntity, "the event is invalid",
		FieldError{Message: "is required", Location: "body.data.deployment_id"}))

	require.Equal(t, http.StatusUnprocessableEntity, rec.Code)
	require.Equal(t, ContentType, rec.Header().Get("Content-Type"))
	var got Details
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	require.Equal(t, Details{
		Title:    "Unprocessable Entity",
		Status:   422,
		Detail:   "the event is invalid",
		Instance: "/v1/events",
		Errors:   []FieldError{{Message: "is required", Location: "body.data.deployment_id"}},
	}, got)
}

func TestRetryAfter(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "1", 1500 * time.Millisecond: "2", 3 * time.Second: "3"} {
		rec := httptest.NewRecorder()
		RetryAfter(rec, d)
		require.Equal(t, want, rec.Header().Get("Retry-After"))
	}
}

func TestRoute(t *testing.T) {
	r := chi.NewRouter()
	Route(r)
	ok := func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }
	r.Get("/v1/things", ok)
	r.Post("/v1/things", ok)
	r.Route("/v1/things/{id}", func(r chi.Router) {
		r.Put("/", ok)
		r.Delete("/", ok)
	})
	sub := chi.NewRouter()
	sub.Get("/status", ok)
	r.Mount("/v1/mounted", sub)

	tests := []struct {
		method, path string
		code         int
		allow        string
	}{
		{http.MethodGet, "/v1/things", http.StatusNoContent, ""},
		{http.MethodGet, "/nowhere", http.StatusNotFound, ""},
		{http.MethodGet, "/v1/mounted/nowhere", http.StatusNotFound, ""},
		{http.MethodDelete, "/v1/things", http.StatusMethodNotAllowed, "GET, POST"},
		{http.MethodGet, "/v1/things/42", http.StatusMethodNotAllowed, "PUT, DELETE"},
		{http.MethodPost, "/v1/mounted/status", http.StatusMethodNotAllowed, "GET"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			require.Equal(t, tt.code, rec.Code)
			require.Equal(t, tt.allow, rec.Header().Get("Allow"))
			if tt.code < 400 {
				return
			}
			require.Equal(t, ContentType, rec.Header().Get("Content-Type"))
			var got Details
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
			require.Equal(t, tt.code, got.Status)
			require.Equal(t, tt.path, got.Instance)
		})
	}
}
