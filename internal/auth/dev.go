package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Development issuer constants: its `iss`, and the audience and client id of
// the tokens it signs.
const (
	DevIssuerName = "urn:estate:dev-issuer"
	DevAudience   = "estate"
	DevClientID   = "estate-dev"
)

// DevIssuer signs tokens with an ES256 key kept in a folder, so that tokens
// survive restarts. It exists for one machine; services trust it only when
// configured to.
type DevIssuer struct {
	dir string
	key *ecdsa.PrivateKey
	kid string
	now func() time.Time
}

// OpenDevIssuer loads the key in dir (key.pem), creating dir and the key on
// first use.
func OpenDevIssuer(dir string, now func() time.Time) (*DevIssuer, error) {
	if now == nil {
		now = time.Now
	}
	path := filepath.Join(dir, "key.pem")
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		b, err = createKey(dir, path)
		if err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("reading dev issuer key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("dev issuer key %s: no PEM block", path)
	}
	k, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing dev issuer key %s: %w", path, err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("encoding dev issuer key: %w", err)
	}
	sum := sha256.Sum256(pub)
	return &DevIssuer{dir: dir, key: k, kid: "dev-" + base64.RawURLEncoding.EncodeToString(sum[:9]), now: now}, nil
}

func createKey(dir, path string) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating dev issuer folder: %w", err)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating dev issuer key: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encoding dev issuer key: %w", err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	// O_EXCL: when two processes create the key at once, one wins and the
	// other reads the winner's.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("writing dev issuer key: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("writing dev issuer key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("writing dev issuer key: %w", err)
	}
	return b, nil
}

// TokenRequest describes a token to sign.
type TokenRequest struct {
	Subject string
	// ClientID is the client_id claim; DevClientID by default.
	ClientID   string
	BusinessID string
	Scopes     []string
	// Groups go in the cognito:groups claim, as Cognito writes them.
	Groups []string
	TTL    time.Duration
	// BusinessClaim names the claim of the business id;
	// "custom:business_id" by default.
	BusinessClaim string
}

// Sign returns a signed access token.
func (d *DevIssuer) Sign(r TokenRequest) (string, error) {
	if r.Subject == "" {
		return "", errors.New("a token needs a subject")
	}
	if r.TTL <= 0 {
		r.TTL = time.Hour
	}
	if r.BusinessClaim == "" {
		r.BusinessClaim = "custom:business_id"
	}
	if r.ClientID == "" {
		r.ClientID = DevClientID
	}
	now := d.now()
	claims := jwt.MapClaims{
		"iss":       DevIssuerName,
		"sub":       r.Subject,
		"aud":       DevAudience,
		"client_id": r.ClientID,
		"token_use": "access",
		"iat":       now.Unix(),
		"nbf":       now.Unix(),
		"exp":       now.Add(r.TTL).Unix(),
		"jti":       rand.Text(),
	}
	if r.BusinessID != "" {
		claims[r.BusinessClaim] = r.BusinessID
	}
	if len(r.Scopes) > 0 {
		claims["scope"] = strings.Join(r.Scopes, " ")
	}
	if len(r.Groups) > 0 {
		claims[DefaultGroupsClaim] = r.Groups
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = d.kid
	s, err := tok.SignedString(d.key)
	if err != nil {
		return "", fmt.Errorf("signing token: %w", err)
	}
	return s, nil
}

// Keys is the issuer's public key set.
func (d *DevIssuer) Keys() StaticKeys { return StaticKeys{d.kid: &d.key.PublicKey} }

// Trusted describes the issuer for a Verifier.
func (d *DevIssuer) Trusted() Trusted {
	return Trusted{Issuer: DevIssuerName, Keys: d.Keys(), Audiences: []string{DevAudience}, TokenUses: []string{"access"}}
}

// JWKS is the public key set as JSON, as an OIDC issuer serves it.
func (d *DevIssuer) JWKS() []byte {
	// The uncompressed point is 0x04 || X || Y, each coordinate padded to
	// the curve size, as a JWK wants them.
	pt, _ := d.key.PublicKey.Bytes()
	size := (len(pt) - 1) / 2
	enc := base64.RawURLEncoding.EncodeToString
	b, _ := json.Marshal(map[string][]JWK{"keys": {{
		Kty: "EC", Kid: d.kid, Use: "sig", Alg: "ES256", Crv: "P-256",
		X: enc(pt[1 : 1+size]), Y: enc(pt[1+size:]),
	}}})
	return b
}
