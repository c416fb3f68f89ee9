package http_test

import (
	"net/http"
	"testing"

	"github.com/estatehq/estate/internal/problem/problemtest"
	credithttp "github.com/estatehq/estate/services/credit/http"
)

func TestUnroutedAnswersProblems(t *testing.T) {
	problemtest.RequireUnrouted(t, credithttp.NewServer(credithttp.Options{}),
		problemtest.Unrouted{Method: http.MethodGet, Path: "/v1/nowhere"},
		problemtest.Unrouted{Method: http.MethodDelete, Path: "/v1/credit/drawdowns", Allow: "GET, POST"},
		problemtest.Unrouted{Method: http.MethodPost, Path: "/v1/credit/line", Allow: "GET"},
	)
}
