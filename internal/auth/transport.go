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

// PerRPC is gRPC per-call credentials carrying the tokens of Token, for
// OTLP/gRPC exporters. Insecure lets them go over a connection without
// TLS (a collector on loopback).
type PerRPC struct {
	Token    TokenSource
	Insecure bool
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (p PerRPC) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	tok, err := p.Token(ctx)
	if err != nil {
		return nil, fmt.Errorf("getting a token: %w", err)
	}
	return map[string]string{"authorization": "Bearer " + tok}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (p PerRPC) RequireTransportSecurity() bool { return !p.Insecure }
