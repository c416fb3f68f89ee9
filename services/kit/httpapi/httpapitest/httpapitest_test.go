package httpapitest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/services/kit/httpapi"
	"github.com/estatehq/estate/services/kit/httpapi/httpapitest"
)

type thing struct {
	Name string  `json:"name"`
	Note *string `json:"note" required:"true" nullable:"true"`
}

func document() *huma.OpenAPI {
	return httpapi.OpenAPI(httpapi.Config(httpapi.Document{Title: "Sample"}), func(api huma.API) {
		huma.Register(api, huma.Operation{OperationID: "get-thing", Method: http.MethodGet, Path: "/things/{id}", Errors: []int{404}},
			func(context.Context, *struct {
				ID string `path:"id"`
			}) (*struct{ Body *thing }, error) {
				return nil, nil
			})
	})
}

func TestCheck(t *testing.T) {
	v := httpapitest.New(t, document())
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	problemHeader := http.Header{"Content-Type": {"application/problem+json"}}
	tests := []struct {
		name   string
		path   string
		status int
		header http.Header
		body   string
		ok     bool
	}{
		{"documented", "/things/1", 200, jsonHeader, `{"name":"a","note":"b"}`, true},
		{"null where the document allows it", "/things/1", 200, jsonHeader, `{"name":"a","note":null}`, true},
		{"a field of the wrong type", "/things/1", 200, jsonHeader, `{"name":3,"note":null}`, false},
		{"a required field missing", "/things/1", 200, jsonHeader, `{"name":"a"}`, false},
		{"a status of the service", "/things/1", 404, problemHeader, `{"status":404,"title":"Not Found"}`, true},
		{"a status of the kit", "/things/1", 503, problemHeader, `{"status":503,"title":"Service Unavailable"}`, true},
		{"an undocumented status", "/things/1", 418, problemHeader, `{"status":418,"title":"I'm a teapot"}`, false},
		{"a problem that is not one", "/things/1", 404, problemHeader, `{"status":"gone"}`, false},
		{"an undocumented route", "/widgets/1", 200, jsonHeader, `{}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := v.Check("GET", tc.path, http.Header{}, tc.status, tc.header, []byte(tc.body))
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}

// recorder keeps what Transport reports instead of failing the test.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/things/bad" {
			_, _ = w.Write([]byte(`{"name":3,"note":null}`))
			return
		}
		_, _ = w.Write([]byte(`{"name":"a","note":null}`))
	}))
	defer srv.Close()
	rec := &recorder{TB: t}
	client := &http.Client{Transport: httpapitest.New(t, document()).Transport(rec, nil)}
	for _, path := range []string{"/things/good", "/things/bad"} {
		res, err := client.Get(srv.URL + path)
		require.NoError(t, err)
		require.NoError(t, res.Body.Close())
	}
	require.Len(t, rec.errs, 1)
	require.Contains(t, rec.errs[0], "GET /things/bad → 200 does not match the document")
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
}
