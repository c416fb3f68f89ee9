package http_test

import (
	"net/http"
	"testing"

	"github.com/estatehq/estate/internal/problem/problemtest"
	invoicinghttp "github.com/estatehq/estate/services/invoicing/http"
)

func TestUnroutedAnswersProblems(t *testing.T) {
	problemtest.RequireUnrouted(t, invoicinghttp.NewServer(invoicinghttp.Options{}),
		problemtest.Unrouted{Method: http.MethodGet, Path: "/v1/nowhere"},
		problemtest.Unrouted{Method: http.MethodPut, Path: "/v1/invoices", Allow: "GET, POST"},
		problemtest.Unrouted{Method: http.MethodPost, Path: "/v1/invoices/inv_1", Allow: "GET, PATCH, DELETE"},
		problemtest.Unrouted{Method: http.MethodPost, Path: "/openapi.json", Allow: "GET"},
	)
}
