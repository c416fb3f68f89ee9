package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"
)

// JWKSOptions configure a remote key set.
type JWKSOptions struct {
	URL    string
	Client *http.Client
	Now    func() time.Time
	// MinRefresh is the least time between two fetches caused by unknown
	// key ids, so a flood of forged kids cannot hammer the issuer; 10 s by
	// default.
	MinRefresh time.Duration
	// MaxAge refreshes the cached set in the background of a lookup once it
	// is this old; 1 h by default.
	MaxAge time.Duration
}

// JWKS is an issuer's key set, fetched on first use, cached, and fetched
// again when a token names an unknown key id (key rotation).
type JWKS struct {
	opts    JWKSOptions
	mu      sync.Mutex
	keys    map[string]any
	fetched time.Time
}

// NewJWKS returns a remote key set; nothing is fetched until a key is needed.
func NewJWKS(opts JWKSOptions) *JWKS {
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MinRefresh == 0 {
		opts.MinRefresh = 10 * time.Second
	}
	if opts.MaxAge == 0 {
		opts.MaxAge = time.Hour
	}
	return &JWKS{opts: opts}
}

// Key implements KeySource.
func (j *JWKS) Key(ctx context.Context, kid string) (any, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	now := j.opts.Now()
	if k, ok := j.keys[kid]; ok && now.Sub(j.fetched) < j.opts.MaxAge {
		return k, nil
	}
	if j.keys != nil && now.Sub(j.fetched) < j.opts.MinRefresh {
		if k, ok := j.keys[kid]; ok {
			return k, nil
		}
		return nil, ErrUnknownKey
	}
	keys, err := j.fetch(ctx)
	if err != nil {
		if k, ok := j.keys[kid]; ok {
			return k, nil // a stale key beats an outage of the issuer
		}
		return nil, err
	}
	j.keys, j.fetched = keys, now
	if k, ok := keys[kid]; ok {
		return k, nil
	}
	return nil, ErrUnknownKey
}

func (j *JWKS) fetch(ctx context.Context) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.opts.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("building JWKS request: %w", err)
	}
	resp, err := j.opts.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching JWKS: status %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading JWKS: %w", err)
	}
	return ParseJWKS(b)
}

// JWK is one JSON Web Key (RFC 7517), public part only.
type JWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
}

// ParseJWKS reads the RSA and EC signing keys of a JWK set by key id; other
// keys are skipped.
func ParseJWKS(b []byte) (map[string]any, error) {
	var set struct {
		Keys []JWK `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("decoding JWKS: %w", err)
	}
	out := map[string]any{}
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		key, err := k.PublicKey()
		if err != nil {
			continue
		}
		out[k.Kid] = key
	}
	return out, nil
}

// PublicKey decodes the key.
func (k JWK) PublicKey() (any, error) {
	dec := base64.RawURLEncoding.DecodeString
	switch k.Kty {
	case "RSA":
		n, err1 := dec(k.N)
		e, err2 := dec(k.E)
		if err := errors.Join(err1, err2); err != nil || len(e) > 4 {
			return nil, fmt.Errorf("bad RSA key %s", k.Kid)
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
	case "EC":
		var c elliptic.Curve
		switch k.Crv {
		case "P-256":
			c = elliptic.P256()
		case "P-384":
			c = elliptic.P384()
		default:
			return nil, fmt.Errorf("unsupported curve %q", k.Crv)
		}
		x, err1 := dec(k.X)
		y, err2 := dec(k.Y)
		size := (c.Params().BitSize + 7) / 8
		if err := errors.Join(err1, err2); err != nil || len(x) != size || len(y) != size {
			return nil, fmt.Errorf("bad EC key %s", k.Kid)
		}
		// ParseUncompressedPublicKey also checks that the point is on the
		// curve.
		pub, err := ecdsa.ParseUncompressedPublicKey(c, append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, fmt.Errorf("bad EC key %s: %w", k.Kid, err)
		}
		return pub, nil
	}
	return nil, fmt.Errorf("unsupported key type %q", k.Kty)
}

// StaticKeys is a fixed key set.
type StaticKeys map[string]any

// Key implements KeySource.
func (s StaticKeys) Key(_ context.Context, kid string) (any, error) {
	if k, ok := s[kid]; ok {
		return k, nil
	}
	return nil, ErrUnknownKey
}
