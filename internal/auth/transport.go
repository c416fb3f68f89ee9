package auth

import (
	"context"
	"fmt"
	"net/http"
)

// TokenSource returns the bearer token of a call: a client-credentials
// token (ClientCredentials.Token), one the development issuer mints, or a
// fixed one.
type TokenSource func(context.Context) (string, error)

// Transport sends every request through Base (http.DefaultTransport when
// nil) with the bearer token of Token; a nil Token sends requests as they
// are.
type Transport struct {
	Base  http.RoundTripper
	Token TokenSource
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if t.Token == nil {
		return base.RoundTrip(r)
	}
	tok, err := t.Token(r.Context())
	if err != nil {
		if r.Body != nil {
			_ = r.Body.Close()
		}
		return nil, fmt.Errorf("getting a token: %w", err)
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	return base.RoundTrip(r)
}
