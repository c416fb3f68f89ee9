// Package httpapitest checks the answers of an API built with httpapi
// against the OpenAPI document it serves, with kin-openapi's openapi3filter:
// the status must be one the operation documents, and the headers and body
// must match that response. The services' HTTP tests check every response
// they get, so a status or a field the document leaves out fails them.
package httpapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Validator checks responses against one document.
type Validator struct {
	router routers.Router
}

// New loads doc, the OpenAPI 3.1 document the API serves, checks that it
// is valid, and fails t when it is not.
func New(t testing.TB, doc *huma.OpenAPI) *Validator {
	t.Helper()
	v, err := load(doc)
	if err != nil {
		t.Fatalf("loading the OpenAPI document: %v", err)
	}
	return v
}

func load(doc *huma.OpenAPI) (*Validator, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	d, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		return nil, err
	}
	if err := d.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("invalid document: %w", err)
	}
	// The document's server is relative ("/"): routes are looked up by
	// path, whatever address the test server listens on.
	d.Servers = nil
	r, err := legacy.NewRouter(d)
	if err != nil {
		return nil, err
	}
	return &Validator{router: r}, nil
}

// Check validates the response (status, header, body) to a request of
// method and path (with its query) that carried header reqHeader.
func (v *Validator) Check(method, path string, reqHeader http.Header, status int, header http.Header, body []byte) error {
	req, err := http.NewRequest(method, "http://api.test"+path, nil)
	if err != nil {
		return err
	}
	req.Header = reqHeader.Clone()
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("%s %s is not in the document: %w", method, path, err)
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: status, Header: header, Body: io.NopCloser(bytes.NewReader(body)), Options: opts,
	})
	if err != nil {
		return fmt.Errorf("%s %s → %d does not match the document: %w", method, path, status, err)
	}
	return nil
}

// Transport returns a RoundTripper that sends requests through base
// (http.DefaultTransport when nil) and checks every response against the
// document, failing t at the first mismatch or undocumented route. It
// suits the clients that code under test calls the API with.
func (v *Validator) Transport(t testing.TB, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		res, err := base.RoundTrip(req)
		if err != nil {
			return res, err
		}
		body, err := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if err != nil {
			return nil, err
		}
		res.Body = io.NopCloser(bytes.NewReader(body))
		if err := v.Check(req.Method, req.URL.RequestURI(), req.Header, res.StatusCode, res.Header, body); err != nil {
			t.Errorf("%v: %s", err, body)
		}
		return res, nil
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
