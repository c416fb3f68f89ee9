package auth

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// NewFromConfig returns the verifier a service uses: the configured OIDC
// issuer (if any) and the development issuer (when dev is non-nil, which the
// caller passes only when Config.Dev is on).
//
// The caller validates c first: a group mapping that does not parse grants
// no group any role.
func NewFromConfig(c Config, dev *DevIssuer, client *http.Client, now func() time.Time) *Verifier {
	var trusted []Trusted
	if c.Issuer != "" {
		jwksURL := c.JWKSURL
		if jwksURL == "" {
			jwksURL = strings.TrimSuffix(c.Issuer, "/") + "/.well-known/jwks.json"
		}
		trusted = append(trusted, Trusted{
			Issuer:    c.Issuer,
			Keys:      NewJWKS(JWKSOptions{URL: jwksURL, Client: client, Now: now}),
			Audiences: splitList(c.Audience),
			TokenUses: splitList(c.TokenUse),
		})
	}
	if dev != nil {
		trusted = append(trusted, dev.Trusted())
	}
	groups, _ := ParseGroupRoles(c.GroupRoles)
	roles := RoleMapping{ScopePrefixes: splitList(c.ScopePrefix), GroupsClaim: c.GroupsClaim, Groups: groups}
	return NewVerifier(Options{Trusted: trusted, BusinessClaim: c.BusinessClaim, Now: now, Roles: roles})
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// NewAuthenticatorFromConfig returns the authenticator a target uses: the
// verifier v and, when c.StaticTokens names a file, its static tokens, which
// the caller keeps current with Start and Shutdown (nil when there is no
// file).
func NewAuthenticatorFromConfig(c Config, v *Verifier, logger *slog.Logger, reg prometheus.Registerer) (*Authenticator, *StaticTokens, error) {
	var static *StaticTokens
	if c.StaticTokens != "" {
		var err error
		static, err = OpenStaticTokens(StaticTokensOptions{Path: c.StaticTokens, Logger: logger, Registerer: reg})
		if err != nil {
			return nil, nil, fmt.Errorf("auth.static_tokens: %w", err)
		}
	}
	return NewAuthenticator(AuthenticatorOptions{Verifier: v, Static: static, Logger: logger}), static, nil
}
