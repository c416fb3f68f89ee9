// Package auth verifies the bearer JWTs every Estate API requires: tokens of
// an OIDC issuer (Cognito-compatible: `iss`, `aud` or `client_id`,
// `token_use`, the business in a configurable claim, space-separated
// `scope`), checked against the issuer's JWKS, which is cached and fetched
// again when a token names an unknown key id. For one machine, a development
// issuer (DevIssuer) keeps a key under the data directory and signs tokens;
// services trust it only when configured to.
package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/estatehq/estate/internal/problem"
)

// Config is the auth configuration shared by every service.
type Config struct {
	// Issuer is the OIDC issuer URL (the `iss` claim); empty trusts no
	// external issuer.
	Issuer string `yaml:"issuer"`
	// JWKSURL defaults to Issuer + /.well-known/jwks.json.
	JWKSURL string `yaml:"jwks_url"`
	// Audience lists, comma-separated, the accepted `aud` or `client_id`
	// values; empty accepts any.
	Audience string `yaml:"audience"`
	// TokenUse lists, comma-separated, the accepted `token_use` values.
	TokenUse string `yaml:"token_use"`
	// BusinessClaim names the claim that carries the business id.
	BusinessClaim string `yaml:"business_claim"`
	// Dev makes services trust the development issuer, whose key is kept
	// under the data directory.
	Dev bool `yaml:"dev"`
	// StaticTokens is the file of static bearer tokens (OpenStaticTokens);
	// empty accepts none.
	StaticTokens string `yaml:"static_tokens"`
	// ScopePrefix lists, comma-separated, the prefixes before a role name
	// in a scope (Cognito's resource-server identifier and a slash); a bare
	// role name is always accepted.
	ScopePrefix string `yaml:"scope_prefix"`
	// GroupsClaim names the claim that lists the principal's groups.
	GroupsClaim string `yaml:"groups_claim"`
	// GroupRoles maps groups to roles: `group=role,role;group=role`.
	GroupRoles string `yaml:"group_roles"`
}

// RegisterFlags sets the defaults and binds the flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Issuer, "auth.issuer", "", "OIDC issuer URL whose tokens are accepted (the iss claim)")
	fs.StringVar(&c.JWKSURL, "auth.jwks-url", "", "JWKS URL of the issuer; default ISSUER/.well-known/jwks.json")
	fs.StringVar(&c.Audience, "auth.audience", "", "accepted aud or client_id values, comma-separated; empty accepts any")
	fs.StringVar(&c.TokenUse, "auth.token-use", "access", "accepted token_use values, comma-separated")
	fs.StringVar(&c.BusinessClaim, "auth.business-claim", "custom:business_id", "claim that carries the business id")
	fs.BoolVar(&c.Dev, "auth.dev", false, "trust the development issuer (estate token); `up` turns it on")
	fs.StringVar(&c.StaticTokens, "auth.static-tokens", "", "YAML file of static bearer tokens (name, sha256, roles, business), re-read on change; empty accepts none")
	fs.StringVar(&c.ScopePrefix, "auth.scope-prefix", DefaultScopePrefix, "prefixes before a role name in a scope, comma-separated (Cognito: the resource server id and /)")
	fs.StringVar(&c.GroupsClaim, "auth.groups-claim", DefaultGroupsClaim, "claim that lists the principal's groups")
	fs.StringVar(&c.GroupRoles, "auth.group-roles", DefaultGroupRoles, "roles of each group: group=role,role;group=role")
}

// Validate names the field at fault.
func (c *Config) Validate() error {
	var errs []error
	if c.Issuer == "" && !c.Dev {
		errs = append(errs, errors.New("auth.issuer: must be set unless auth.dev is on"))
	}
	for key, v := range map[string]string{"auth.issuer": c.Issuer, "auth.jwks_url": c.JWKSURL} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s: must be an http(s) URL, not %q", key, v))
		}
	}
	if c.BusinessClaim == "" {
		errs = append(errs, errors.New("auth.business_claim: must not be empty"))
	}
	if _, err := ParseGroupRoles(c.GroupRoles); err != nil {
		errs = append(errs, fmt.Errorf("auth.group_roles: %w", err))
	}
	return errors.Join(errs...)
}

// Principal is who a verified token speaks for.
type Principal struct {
	Issuer   string
	Subject  string
	ClientID string
	// BusinessID is the business claim; empty when the token has none.
	BusinessID string
	Scopes     []string
	// Roles are what the principal may do, from its scopes and groups
	// (RoleMapping), or a static token's roles.
	Roles []string
	// StaticToken names the static token the principal presented; empty
	// for a JWT.
	StaticToken string
}

// HasScope reports whether the token carries the scope.
func (p Principal) HasScope(s string) bool { return slices.Contains(p.Scopes, s) }

// HasRole reports whether the principal holds the role; RoleAdmin holds
// every role.
func (p Principal) HasRole(r string) bool {
	return slices.Contains(p.Roles, r) || slices.Contains(p.Roles, RoleAdmin)
}

// Who names the principal for audit logs: the static token's name, the
// machine client's id, or the issuer's subject.
func (p Principal) Who() string {
	switch {
	case p.StaticToken != "":
		return "static:" + p.StaticToken
	case p.ClientID != "" && p.ClientID == p.Subject:
		return "client:" + p.ClientID
	}
	return "subject:" + p.Subject
}

// Tenant is the key that separates callers for rate limits and idempotency
// keys: the business when the token names one, else the subject.
func (p Principal) Tenant() string {
	if p.BusinessID != "" {
		return "business:" + p.BusinessID
	}
	return "subject:" + p.Issuer + "|" + p.Subject
}

type ctxKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal the middleware verified.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

// Trusted is one issuer the verifier accepts.
type Trusted struct {
	// Issuer is the exact `iss`.
	Issuer string
	// Keys finds a verification key by key id.
	Keys KeySource
	// Audiences are the accepted `aud` or `client_id` values; empty accepts
	// any.
	Audiences []string
	// TokenUses are the accepted `token_use` values; empty accepts any, and
	// a token without the claim is accepted.
	TokenUses []string
}

// KeySource finds verification keys.
type KeySource interface {
	// Key returns the public key with the id; ErrUnknownKey when there is
	// none.
	Key(ctx context.Context, kid string) (any, error)
}

// ErrUnknownKey is returned for a key id no source knows.
var ErrUnknownKey = errors.New("unknown key id")

// Options are what a Verifier is built from.
type Options struct {
	Trusted []Trusted
	// BusinessClaim names the claim of the business id;
	// "custom:business_id" by default.
	BusinessClaim string
	// Now is the clock.
	Now func() time.Time
	// Leeway tolerates clock skew on exp and nbf; 30 s by default.
	Leeway time.Duration
	// CacheSize bounds the verified tokens remembered; 10,000 by default,
	// negative turns the cache off.
	CacheSize int
	// Roles derives the principal's roles from its scopes and groups; the
	// groups claim is "cognito:groups" by default.
	Roles RoleMapping
}

// Verifier checks tokens. Verified tokens are remembered until they expire
// (bounded by CacheSize), so a client reusing its token costs one signature
// check, not one per request.
type Verifier struct {
	opts   Options
	byIss  map[string]Trusted
	parser *jwt.Parser

	mu    sync.Mutex
	cache map[[32]byte]cached
}

type cached struct {
	p        Principal
	notAfter time.Time
}

// algorithms are the accepted signing algorithms: asymmetric only, so `none`
// and HS256 signed with a public key are refused before any key is looked up.
var algorithms = []string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256"}

// NewVerifier returns a verifier.
func NewVerifier(opts Options) *Verifier {
	if opts.BusinessClaim == "" {
		opts.BusinessClaim = "custom:business_id"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Leeway == 0 {
		opts.Leeway = 30 * time.Second
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = 10_000
	}
	if opts.Roles.GroupsClaim == "" {
		opts.Roles.GroupsClaim = DefaultGroupsClaim
	}
	v := &Verifier{opts: opts, byIss: map[string]Trusted{}, cache: map[[32]byte]cached{}}
	for _, t := range opts.Trusted {
		v.byIss[t.Issuer] = t
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(algorithms),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(opts.Leeway),
		jwt.WithTimeFunc(opts.Now),
		// One encoding per token: a token re-encoded with other trailing
		// bits is not a different token that verifies.
		jwt.WithStrictDecoding(),
	)
	return v
}

// Error is a rejected token; its message is safe to show.
type Error struct{ Reason string }

func (e *Error) Error() string { return "invalid token: " + e.Reason }

// Verify checks the token and returns its principal; an *Error says why a
// token is refused.
func (v *Verifier) Verify(ctx context.Context, raw string) (Principal, error) {
	key := sha256.Sum256([]byte(raw))
	now := v.opts.Now()
	if v.opts.CacheSize > 0 {
		v.mu.Lock()
		c, ok := v.cache[key]
		v.mu.Unlock()
		if ok && now.Before(c.notAfter) {
			return c.p, nil
		}
	}
	p, exp, err := v.verify(ctx, raw)
	if err != nil || v.opts.CacheSize < 0 {
		return p, err
	}
	// A token verified before its nbf is refused above, so only the expiry
	// bounds the cached entry.
	v.mu.Lock()
	if len(v.cache) >= v.opts.CacheSize {
		for k, c := range v.cache {
			if !now.Before(c.notAfter) || len(v.cache) >= v.opts.CacheSize {
				delete(v.cache, k)
			}
		}
	}
	v.cache[key] = cached{p: p, notAfter: exp.Add(v.opts.Leeway)}
	v.mu.Unlock()
	return p, nil
}

func (v *Verifier) verify(ctx context.Context, raw string) (Principal, time.Time, error) {
	claims := jwt.MapClaims{}
	var trusted Trusted
	_, err := v.parser.ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
		iss, _ := claims.GetIssuer()
		t, ok := v.byIss[iss]
		if !ok {
			return nil, fmt.Errorf("untrusted issuer %q", iss)
		}
		trusted = t
		kid, _ := tok.Header["kid"].(string)
		return t.Keys.Key(ctx, kid)
	})
	if err != nil {
		return Principal{}, time.Time{}, &Error{Reason: reason(err)}
	}
	p := Principal{}
	p.Issuer, _ = claims.GetIssuer()
	p.Subject, _ = claims.GetSubject()
	p.ClientID, _ = claims["client_id"].(string)
	p.BusinessID, _ = claims[v.opts.BusinessClaim].(string)
	if s, ok := claims["scope"].(string); ok {
		p.Scopes = strings.Fields(s)
	}
	p.Roles = v.opts.Roles.Roles(p.Scopes, stringList(claims[v.opts.Roles.GroupsClaim]))
	if p.Subject == "" {
		return Principal{}, time.Time{}, &Error{Reason: "the token has no subject"}
	}
	if !ValidBusinessID(p.BusinessID) {
		return Principal{}, time.Time{}, &Error{Reason: fmt.Sprintf("the business claim is not a business id (at most %d letters, digits, - and _)", MaxBusinessID)}
	}
	if len(trusted.Audiences) > 0 {
		aud, _ := claims.GetAudience()
		ok := slices.Contains(trusted.Audiences, p.ClientID)
		for _, a := range aud {
			ok = ok || slices.Contains(trusted.Audiences, a)
		}
		if !ok {
			return Principal{}, time.Time{}, &Error{Reason: "the token is not meant for this service (aud, client_id)"}
		}
	}
	if use, ok := claims["token_use"].(string); ok && len(trusted.TokenUses) > 0 && !slices.Contains(trusted.TokenUses, use) {
		return Principal{}, time.Time{}, &Error{Reason: fmt.Sprintf("token_use %q is not accepted", use)}
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return Principal{}, time.Time{}, &Error{Reason: "the token lacks a required claim (exp)"}
	}
	return p, exp.Time, nil
}

// MaxBusinessID bounds the business claim: the services key their rows
// by it and never hold a longer one.
const MaxBusinessID = 64

// ValidBusinessID reports whether s may be a business claim: empty (none),
// or up to MaxBusinessID ASCII letters, digits, '-' and '_', as every
// business id is; anything else is refused before a service reads it.
func ValidBusinessID(s string) bool {
	if len(s) > MaxBusinessID {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// stringList reads a claim that is a list of strings (Cognito's groups) or
// one space-separated string; anything else is no list.
func stringList(c any) []string {
	switch c := c.(type) {
	case string:
		return strings.Fields(c)
	case []any:
		out := make([]string, 0, len(c))
		for _, e := range c {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func reason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad signature or signing algorithm"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "the token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "the token is not valid yet"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "the token lacks a required claim (exp)"
	case errors.Is(err, ErrUnknownKey):
		return "unknown signing key"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "the token cannot be verified (issuer or key)"
	}
	return "the token cannot be verified"
}

// Middleware requires a valid bearer token and puts its Principal in the
// request context; otherwise it answers 401 problem+json.
func Middleware(v *Verifier, logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := r.Header.Get("Authorization")
			scheme, raw, ok := strings.Cut(h, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
				w.Header().Set("WWW-Authenticate", `Bearer`)
				problem.Write(w, r, problem.New(http.StatusUnauthorized, "a bearer token is required"))
				return
			}
			p, err := v.Verify(r.Context(), strings.TrimSpace(raw))
			if err != nil {
				var ae *Error
				msg := "invalid token"
				if errors.As(err, &ae) {
					msg = ae.Reason
				}
				logger.DebugContext(r.Context(), "token refused", "reason", msg)
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
				problem.Write(w, r, problem.New(http.StatusUnauthorized, msg))
				return
			}
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), p)))
		})
	}
}
