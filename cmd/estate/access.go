package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/config"
	"github.com/estatehq/estate/internal/modules"
)

// authenticator is the authenticator a target requires roles with: the
// issuers of the auth group, and the static tokens of auth.static-tokens,
// kept current by the service returned while the target runs (nil
// without a file).
func (a *app) authenticator(logger *slog.Logger, reg prometheus.Registerer) (*auth.Authenticator, modules.Service, error) {
	v, err := a.verifier()
	if err != nil {
		return nil, nil, err
	}
	authn, static, err := auth.NewAuthenticatorFromConfig(a.cfg.Auth, v, logger, reg)
	if err != nil || static == nil {
		return authn, nil, err
	}
	return authn, staticTokens{static}, nil
}

// guardedListener is a listener whose routes require what table says.
type guardedListener struct {
	target string
	routes chi.Routes
	table  auth.RouteTable
	// url is the listener's base URL once it serves.
	url func() string
	// methods lists the gRPC methods the table also covers (OTLP/gRPC).
	methods func() []string
}

// guard records a guarded listener.
func (a *app) guard(l guardedListener) { a.guarded = append(a.guarded, l) }

// staticTokens re-reads the static tokens' file while its target runs.
type staticTokens struct{ *auth.StaticTokens }

func (s staticTokens) Start(ctx context.Context) error { s.StaticTokens.Start(ctx); return nil }

// withStatic adds the static tokens' service, when there is one, to a
// target's parts.
func withStatic(parts []modules.Service, static modules.Service) []modules.Service {
	if static == nil {
		return parts
	}
	return append(parts, static)
}

// machineClient is a target's OAuth client of the issuer, whose
// client-credentials tokens call the other targets' protected routes.
type machineClient struct {
	ID, SecretFile, TokenURL string
}

// validate names the options of prefix at fault: all three or none.
func (c machineClient) validate(prefix string) error {
	if c.ID == "" && c.SecretFile == "" && c.TokenURL == "" {
		return nil
	}
	var errs []error
	if c.ID == "" || c.SecretFile == "" {
		errs = append(errs, fmt.Errorf("%sclient_id, %sclient_secret_file: both must be set", prefix, prefix))
	}
	if !strings.HasPrefix(c.TokenURL, "http://") && !strings.HasPrefix(c.TokenURL, "https://") {
		errs = append(errs, fmt.Errorf("%stoken_url: must be an http(s) URL, not %q", prefix, c.TokenURL))
	}
	return errors.Join(errs...)
}

// machineTokens is the token source of a target's calls to protected
// routes, holding roles: client-credentials tokens of c when it is set,
// else, under auth.dev, tokens of subject the development issuer mints;
// nil (calls without a token) otherwise.
func (a *app) machineTokens(subject string, c machineClient, roles ...string) (auth.TokenSource, error) {
	if c.ID != "" {
		secret, err := os.ReadFile(c.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("reading the client secret: %w", err)
		}
		cc, err := auth.NewClientCredentials(auth.ClientCredentialsConfig{
			ClientID: c.ID, ClientSecret: strings.TrimSpace(string(secret)), TokenURL: c.TokenURL, Scopes: roles,
		})
		if err != nil {
			return nil, err
		}
		return cc.Token, nil
	}
	if !a.cfg.Auth.Dev {
		return nil, nil
	}
	iss, err := auth.OpenDevIssuer(a.devIssuerDir(), a.now)
	if err != nil {
		return nil, err
	}
	// A token lives 5 minutes and is used for 4, so that a call never
	// carries one about to expire, and the receiver verifies it once.
	var (
		mu      sync.Mutex
		tok     string
		renewAt time.Time
	)
	return func(context.Context) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if now := a.now(); tok == "" || !now.Before(renewAt) {
			t, err := iss.Sign(auth.TokenRequest{Subject: subject, Scopes: roles, TTL: 5 * time.Minute, BusinessClaim: a.cfg.Auth.BusinessClaim})
			if err != nil {
				return "", err
			}
			tok, renewAt = t, now.Add(4*time.Minute)
		}
		return tok, nil
	}, nil
}

// bearerClient is an HTTP client whose requests carry the tokens of src.
func (a *app) bearerClient(src auth.TokenSource, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &auth.Transport{Base: a.transport(), Token: src}}
}

// tokenFlag binds --token, the bearer token a command's calls carry (env
// ESTATE_TOKEN); roles says which roles its calls need.
func tokenFlag(env *environ, fs *flag.FlagSet, roles string) *string {
	tok := fs.String("token", "", "bearer token of the calls, e.g. from `estate token` (env ESTATE_TOKEN); "+roles)
	if v := env.getenv(config.EnvName("token")); v != "" {
		*tok = v
	}
	return tok
}

// tokenClient is an HTTP client whose requests carry token, when set.
func tokenClient(token string, timeout time.Duration) *http.Client {
	if token == "" {
		return &http.Client{Timeout: timeout}
	}
	return &http.Client{Timeout: timeout, Transport: &auth.Transport{Token: func(context.Context) (string, error) { return token, nil }}}
}

// printTokenHelp says, beside the URLs `up` prints, how a user gets a
// token of the development issuer for each role and, when the report
// server runs (reportURL), how a browser signs in.
func printTokenHelp(w io.Writer, dataDir, reportURL string) {
	fmt.Fprintf(w, "\nEvery API needs a bearer token; for a role, run:\n")
	for _, r := range auth.Roles {
		fmt.Fprintf(w, "  estate token --data-dir %s --sub $USER --scope %s\n", dataDir, r)
	}
	fmt.Fprintf(w, "and send it as Authorization: Bearer TOKEN (estate chaos, incident and report take --token).\n")
	if reportURL != "" {
		fmt.Fprintf(w, "In a browser, open %s/signin and paste the output of:\n  %s\n", reportURL, browserTokenCommand(dataDir))
	}
}

// browserTokenCommand mints the token a browser signs in with: the home
// page's and reports' role, and the collector's read links'.
func browserTokenCommand(dataDir string) string {
	return fmt.Sprintf("estate token --data-dir %s --sub $USER --scope %s --scope %s", dataDir, auth.RoleReportsRead, auth.RoleObservabilityRead)
}
