package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// ClientCredentialsConfig names a machine client of an issuer.
type ClientCredentialsConfig struct {
	ClientID     string
	ClientSecret string
	// TokenURL is the issuer's token endpoint (Cognito's and the
	// development issuer's are at TokenPath).
	TokenURL string
	// Scopes to ask for; empty asks for the client's default scopes.
	Scopes []string
	// HTTPClient calls the token endpoint; a client with a 10 s timeout by
	// default.
	HTTPClient *http.Client
	// RefreshBefore is how long before its expiry a token is replaced, so
	// that a call never carries one about to expire; 1 min by default.
	RefreshBefore time.Duration
}

// ClientCredentials is a token source for a machine client: it fetches an
// access token by the client-credentials grant (RFC 6749 §4.4) and reuses it
// until RefreshBefore its expiry. Its clock is time.Now, the one
// golang.org/x/oauth2 turns expires_in into an expiry with. It is safe for concurrent use; callers
// waiting for a fetch share it.
type ClientCredentials struct {
	cfg  ClientCredentialsConfig
	conf clientcredentials.Config

	mu  sync.Mutex
	tok *oauth2.Token
}

// NewClientCredentials returns the source; nothing is fetched until the
// first Token.
func NewClientCredentials(cfg ClientCredentialsConfig) (*ClientCredentials, error) {
	var errs []error
	if cfg.ClientID == "" {
		errs = append(errs, errors.New("client id: must be set"))
	}
	if cfg.ClientSecret == "" {
		errs = append(errs, errors.New("client secret: must be set"))
	}
	if cfg.TokenURL == "" {
		errs = append(errs, errors.New("token URL: must be set"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.RefreshBefore == 0 {
		cfg.RefreshBefore = time.Minute
	}
	return &ClientCredentials{cfg: cfg, conf: clientcredentials.Config{
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, TokenURL: cfg.TokenURL, Scopes: cfg.Scopes,
		// Basic, as Cognito requires for a client with a secret.
		AuthStyle: oauth2.AuthStyleInHeader,
	}}, nil
}

// Token returns a valid access token, fetching a new one when the cached one
// is within RefreshBefore of its expiry.
func (c *ClientCredentials) Token(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok != nil && time.Now().Before(c.tok.Expiry.Add(-c.cfg.RefreshBefore)) {
		return c.tok.AccessToken, nil
	}
	tok, err := c.conf.Token(context.WithValue(ctx, oauth2.HTTPClient, c.cfg.HTTPClient))
	if err != nil {
		return "", fmt.Errorf("fetching a client-credentials token: %w", err)
	}
	if tok.Expiry.IsZero() {
		// No expires_in: reuse it for as long as the refresh margin.
		tok.Expiry = time.Now().Add(2 * c.cfg.RefreshBefore)
	}
	c.tok = tok
	return tok.AccessToken, nil
}
