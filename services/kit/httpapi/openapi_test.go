package httpapi_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/services/kit/httpapi"
)

type thing struct {
	Name string `json:"name" maxLength:"10"`
}

type thingOutput struct{ Body *thing }

func noop[I any](context.Context, *I) (*thingOutput, error) { return nil, nil }

// sample is an API with one operation of each kind the kit documents
// differently.
func sample() *huma.OpenAPI {
	return httpapi.OpenAPI(httpapi.Config(httpapi.Document{Title: "Sample", Version: "2.0.0", Description: "A sample.",
		Tags: []*huma.Tag{{Name: "Things", Description: "Things."}}}), func(api huma.API) {
		huma.Register(api, huma.Operation{OperationID: "create-thing", Method: http.MethodPost, Path: "/things", DefaultStatus: 201,
			Errors: []int{403, 409}}, noop[struct{ Body thing }])
		huma.Register(api, huma.Operation{OperationID: "list-things", Method: http.MethodGet, Path: "/things"}, noop[struct{}])
		huma.Register(api, huma.Operation{OperationID: "get-thing", Method: http.MethodGet, Path: "/things/{id}", Errors: []int{404},
			Extensions: httpapi.RequireScopes("things.read")}, noop[struct {
			ID string `path:"id"`
		}])
		huma.Register(api, huma.Operation{OperationID: "approve-thing", Method: http.MethodPost, Path: "/things/{id}/approve"}, noop[struct {
			ID string `path:"id"`
		}])
		huma.Register(api, huma.Operation{OperationID: "report-thing", Method: http.MethodPost, Path: "/reports", Security: httpapi.Public(),
			Errors: []int{401}}, noop[struct{ Body thing }])
	})
}

func statuses(op *huma.Operation) []string {
	var out []string
	for code := range op.Responses {
		out = append(out, code)
	}
	slices.Sort(out)
	return out
}

func TestDocumentedStatuses(t *testing.T) {
	doc := sample()
	tests := []struct {
		name string
		op   *huma.Operation
		want []string
	}{
		{"authenticated POST with a body", doc.Paths["/things"].Post,
			[]string{"201", "400", "401", "403", "409", "413", "415", "422", "429", "500", "503"}},
		{"authenticated GET without parameters: no catch-all", doc.Paths["/things"].Get,
			[]string{"200", "401", "429", "500", "503"}},
		{"authenticated GET with a path parameter", doc.Paths["/things/{id}"].Get,
			[]string{"200", "401", "404", "422", "429", "500", "503"}},
		{"authenticated POST without a body: idempotency keys still apply", doc.Paths["/things/{id}/approve"].Post,
			[]string{"200", "400", "401", "409", "413", "422", "429", "500", "503"}},
		{"public POST: no auth, rate limit or idempotency keys", doc.Paths["/reports"].Post,
			[]string{"200", "400", "401", "413", "415", "422", "500", "503"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Empty(t, cmp.Diff(tc.want, statuses(tc.op)))
			for code, r := range tc.op.Responses {
				if code[0] == '2' {
					continue
				}
				require.Contains(t, r.Content, "application/problem+json", code)
				require.Equal(t, "#/components/schemas/ErrorModel", r.Content["application/problem+json"].Schema.Ref, code)
			}
		})
	}
}

func TestDocumentedMeanings(t *testing.T) {
	doc := sample()
	create := doc.Paths["/things"].Post
	require.Equal(t, "The bearer token is missing, malformed, expired, or not signed by a trusted issuer for this audience.", create.Responses["401"].Description)
	require.Equal(t, "The request body is not application/json.", create.Responses["415"].Description)
	require.Equal(t, "Forbidden", create.Responses["403"].Description, "a status of the service's own keeps its name")
	for _, code := range []string{"409", "429", "503"} {
		require.Contains(t, create.Responses[code].Headers, "Retry-After", code)
	}
	require.NotContains(t, create.Responses["400"].Headers, "Retry-After")
	// The public operation's own 401 (a signature, say) is not the bearer token's.
	require.Equal(t, "Unauthorized", doc.Paths["/reports"].Post.Responses["401"].Description)

	require.Equal(t, []string{"things.read"}, doc.Paths["/things/{id}"].Get.Extensions[httpapi.ScopesExtension])
	require.Equal(t, "2.0.0", doc.Info.Version)
	require.Equal(t, httpapi.ProjectURL, doc.Info.Contact.URL)
	require.NotEmpty(t, doc.Info.License.Name)
	require.Equal(t, "/", doc.Servers[0].URL)
	require.Equal(t, "Things", doc.Tags[0].Name)
}
