package problem

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

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
