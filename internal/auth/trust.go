package auth

import (
	"net/http"
	"strings"
	"time"
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
