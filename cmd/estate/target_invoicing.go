package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/config"
	"github.com/estatehq/estate/internal/modules"
	"github.com/estatehq/estate/internal/server"
	"github.com/estatehq/estate/services/invoicing"
	invoicinghttp "github.com/estatehq/estate/services/invoicing/http"
	"github.com/estatehq/estate/services/invoicing/postgres"
	"github.com/estatehq/estate/services/invoicing/sqlite"
	"github.com/estatehq/estate/services/kit/fault"
	"github.com/estatehq/estate/services/kit/idempotency"
	"github.com/estatehq/estate/services/kit/outbox"
	"github.com/estatehq/estate/services/kit/telemetry"
)

// invoicingStore is what the target needs of its store; both backends have
// it all.
type invoicingStore interface {
	invoicing.Store
	idempotency.Store
	outbox.Store
	PurgeIdempotencyKeys(ctx context.Context, before time.Time) (int64, error)
}

// devIssuerDir is where the development issuer keeps its key.
func (a *app) devIssuerDir() string { return filepath.Join(a.cfg.DataDir, "dev-issuer") }

// verifier is the token verifier a service is given: the configured OIDC
// issuer, and the development issuer when auth.dev is on.
func (a *app) verifier() (*auth.Verifier, error) {
	var dev *auth.DevIssuer
	if a.cfg.Auth.Dev {
		var err error
		if dev, err = auth.OpenDevIssuer(a.devIssuerDir(), a.now); err != nil {
			return nil, err
		}
	}
	return auth.NewFromConfig(a.cfg.Auth, dev, a.httpClient(5*time.Second), a.now), nil
}

// initDevIssuer creates the development issuer's key before the services
// that trust it start, when auth.dev is on.
func (a *app) initDevIssuer(context.Context) (modules.Service, error) {
	if !a.cfg.Auth.Dev {
		return nil, nil
	}
	_, err := auth.OpenDevIssuer(a.devIssuerDir(), a.now)
	return nil, err
}

// withDevIssuer serves, when auth.dev is on, the development issuer's token
// endpoint (the client-credentials grant, auth.TokenPath) and its key set
// (/.well-known/jwks.json) beside the invoicing API, whose port every
// machine client can reach.
func (a *app) withDevIssuer(api http.Handler) (http.Handler, error) {
	if !a.cfg.Auth.Dev {
		return api, nil
	}
	dev, err := auth.OpenDevIssuer(a.devIssuerDir(), a.now)
	if err != nil {
		return nil, err
	}
	token := dev.TokenHandler()
	// A switch rather than a ServeMux, which would clean and redirect the
	// API's paths before the API sees them.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == auth.TokenPath:
			token.ServeHTTP(w, r)
		case r.URL.Path == "/.well-known/jwks.json" && r.Method == http.MethodGet:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(dev.JWKS())
		default:
			api.ServeHTTP(w, r)
		}
	}), nil
}

func openInvoicingStore(ctx context.Context, cfg invoicing.Config, dataDir string, tp trace.TracerProvider, logger *slog.Logger) (invoicingStore, error) {
	if cfg.PostgresDSN != "" {
		return postgres.Open(ctx, cfg.PostgresDSN, postgres.Options{TracerProvider: tp, Logger: logger})
	}
	return sqlite.Open(ctx, filepath.Join(dataDir, "invoicing.db"), sqlite.Options{TracerProvider: tp, Logger: logger})
}

// initInvoicing builds the invoicing target: its store (migrated), the API
// on invoicing.listen-addr, and the outbox relay.
func (a *app) initInvoicing(ctx context.Context) (modules.Service, error) {
	cfg := a.cfg.Invoicing
	exportToken, err := a.telemetryToken("invoicing")
	if err != nil {
		return nil, err
	}
	tel, err := telemetry.New(ctx, telemetry.Options{
		Token:  exportToken,
		Config: a.telemetryConfig(), ServiceName: "invoicing", ServiceVersion: buildVersion(), Logger: a.componentLogger("invoicing"),
	})
	if err != nil {
		return nil, err
	}
	logger := tel.Logger()
	fail := func(err error) (modules.Service, error) {
		return nil, errors.Join(err, tel.Shutdown(context.WithoutCancel(ctx)))
	}
	verifier, err := a.verifier()
	if err != nil {
		return fail(err)
	}
	subs, err := cfg.Subscribers()
	if err != nil {
		return fail(err)
	}
	if sub, ok := a.creditSubscriber(); ok && !slices.ContainsFunc(subs, func(s invoicing.Subscriber) bool { return s.Name == sub.Name }) {
		subs = append(subs, sub)
	}
	if cfg.PostgresDSN, err = a.proxiedDSN("invoicing", cfg.PostgresDSN); err != nil {
		return fail(err)
	}
	store, err := openInvoicingStore(ctx, cfg, a.cfg.DataDir, tel.TracerProvider, logger.With("part", "store"))
	if err != nil {
		return fail(fmt.Errorf("opening invoicing store: %w", err))
	}
	reg := server.NewRegistry()
	reg.MustRegister(tel.Collector())
	faults, faultSrv := a.faultInjector("invoicing", cfg.FaultListenAddr, reg, verifier)
	var osubs []outbox.Subscriber
	for _, s := range subs {
		osubs = append(osubs, outbox.Subscriber(s))
	}
	relay := outbox.NewRelay(outbox.Options{
		Store: store, Subscribers: osubs, Now: a.now, Logger: logger.With("part", "outbox"),
		TracerProvider: tel.TracerProvider, Registerer: reg,
	})
	handler := invoicinghttp.NewServer(invoicinghttp.Options{
		Service:     invoicing.New(invoicing.Options{Store: store, Now: a.now}),
		Verifier:    verifier,
		Idempotency: store,
		Telemetry:   tel,
		Registry:    reg,
		Logger:      logger,
		Now:         a.now,
		RateLimit:   cfg.RateLimit,
		RateBurst:   cfg.RateBurst,
		OnEvents:    relay.Notify,
		Faults:      faults,

		PaymentWebhookSecret:    cfg.PaymentWebhookSecret,
		PaymentWebhookTolerance: cfg.PaymentWebhookTolerance,
		MachineClients:          cfg.MachineClientIDs(),
	})
	if handler, err = a.withDevIssuer(handler); err != nil {
		return fail(errors.Join(err, store.Close()))
	}
	srv := server.New(server.Options{
		Name: "invoicing", Addr: cfg.ListenAddr, Handler: handler, Logger: logger, Registry: reg, TLS: a.listenerTLS(reg),
		Ready: []server.ReadyCheck{{Name: "store", Check: store.Ping}},
	})
	purger := idempotency.NewPurger(idempotency.PurgerOptions{
		Purge: store.PurgeIdempotencyKeys, Now: a.now, Logger: logger.With("part", "idempotency"),
	})
	a.serviceServers["invoicing"] = srv
	return &serviceTarget{Server: srv, Group: modules.Group{
		Parts:   withFaultSurface([]modules.Service{relay, srv, a.scrapeTarget("invoicing", srv), purger}, faultSrv),
		Closers: []func(context.Context) error{tel.Shutdown, modules.Closer(store.Close), closeFaults(faults)},
	}}, nil
}

// faultInjector builds a service's fault injector and, when its fault
// listen address is set, the control surface on that address. The
// surface trusts the issuers the API trusts and needs the role
// chaos.operate.
func (a *app) faultInjector(name, addr string, reg *prometheus.Registry, verifier *auth.Verifier) (*fault.Injector, *server.Server) {
	if addr == "" {
		return nil, nil
	}
	logger := a.componentLogger(name).With("part", "faults")
	inj := fault.New(fault.Options{Now: a.now, Registerer: reg, Logger: logger})
	opts := fault.ControlOptions{
		Injector: inj, Authenticator: auth.NewAuthenticator(auth.AuthenticatorOptions{Verifier: verifier, Logger: logger}),
		Now: a.now, Logger: logger,
	}
	srv := server.New(server.Options{
		Name: name + "-faults", Addr: addr, Logger: logger, Registry: prometheus.NewRegistry(), TLS: a.listenerTLS(reg),
		Handler: fault.NewControlHandler(opts),
	})
	a.guard(guardedListener{target: name + "-faults", routes: fault.NewControlRouter(opts), table: fault.Access, url: srv.URL})
	a.faultSurfaces[name] = srv
	return inj, srv
}

// withFaultSurface adds a service's fault surface, when it has one, to
// its parts.
func withFaultSurface(parts []modules.Service, surface *server.Server) []modules.Service {
	if surface == nil {
		return parts
	}
	return append(parts, surface)
}

// closeFaults ends a stopped service's faults and their timers.
func closeFaults(inj *fault.Injector) func(context.Context) error {
	return func(context.Context) error {
		if inj == nil {
			return nil
		}
		return inj.Close()
	}
}

// pinInvoicing fixes the addresses the invoicing target bound, before the
// chaos controller starts it again.
func (a *app) pinInvoicing() {
	a.cfg.Invoicing.ListenAddr = a.serviceServers["invoicing"].Addr()
	if s, ok := a.faultSurfaces["invoicing"]; ok {
		a.cfg.Invoicing.FaultListenAddr = s.Addr()
	}
}

// serviceTarget is a service's target: its API server, which others reach
// at its URL, and the background components that run beside it, started
// and stopped together.
type serviceTarget struct {
	*server.Server
	modules.Group
}

// Start and Shutdown are the group's; the server is one of its parts.
func (t *serviceTarget) Start(ctx context.Context) error { return t.Group.Start(ctx) }

// Shutdown implements modules.Service.
func (t *serviceTarget) Shutdown(ctx context.Context) error { return t.Group.Shutdown(ctx) }

// invoicingSubcommands are the commands under `estate invoicing`.
func invoicingSubcommands() []command {
	return []command{migrator{
		target:   "invoicing",
		dsn:      func(c *Config) string { return c.Invoicing.PostgresDSN },
		file:     "invoicing.db",
		postgres: postgres.Migrate,
		sqlite:   sqlite.Migrate,
	}.command()}
}

// runToken prints a token signed by the development issuer; `token client`
// registers a machine client of its token endpoint.
func runToken(ctx context.Context, env *environ, args []string) error {
	if len(args) > 0 && args[0] == "client" {
		return runTokenClient(ctx, env, args[1:])
	}
	fs := flag.NewFlagSet("estate token", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	dataDir := fs.String("data-dir", "./.estate", "data folder whose dev-issuer/ holds the key (env ESTATE_DATA_DIR); created if missing")
	sub := fs.String("sub", "", "subject: the user, or the client of a machine token (required)")
	business := fs.String("business", "", "business id the token acts for")
	var scopes []string
	fs.Func("scope", "scope to grant, e.g. invoicing/history.read; repeat or separate with spaces", func(s string) error {
		scopes = append(scopes, strings.Fields(s)...)
		return nil
	})
	var groups []string
	fs.Func("group", "group the subject belongs to (cognito:groups), e.g. estate-oncall; repeat for several", func(s string) error {
		groups = append(groups, s)
		return nil
	})
	ttl := fs.Duration("ttl", time.Hour, "lifetime of the token")
	claim := fs.String("business-claim", "custom:business_id", "claim that carries the business id (auth.business-claim)")
	if v := env.getenv(config.EnvName("data-dir")); v != "" {
		*dataDir = v
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if *sub == "" {
		fmt.Fprintln(env.stderr, "estate token: --sub is required")
		return errUsage
	}
	if *ttl <= 0 {
		fmt.Fprintln(env.stderr, "estate token: --ttl must be positive")
		return errUsage
	}
	iss, err := auth.OpenDevIssuer(filepath.Join(*dataDir, "dev-issuer"), nil)
	if err != nil {
		return err
	}
	tok, err := iss.Sign(auth.TokenRequest{
		Subject: *sub, BusinessID: *business, Scopes: scopes, Groups: groups, TTL: *ttl, BusinessClaim: *claim,
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, tok)
	return nil
}

// runTokenClient registers a machine client of the development issuer's
// token endpoint with the scopes it may ask for, and prints its new secret,
// which is kept only hashed.
func runTokenClient(_ context.Context, env *environ, args []string) error {
	fs := flag.NewFlagSet("estate token client", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	dataDir := fs.String("data-dir", "./.estate", "data folder whose dev-issuer/ holds the clients (env ESTATE_DATA_DIR)")
	id := fs.String("id", "", "client id (required)")
	var scopes []string
	fs.Func("scope", "scope the client may ask for, e.g. events.write; repeat or separate with spaces", func(s string) error {
		scopes = append(scopes, strings.Fields(s)...)
		return nil
	})
	if v := env.getenv(config.EnvName("data-dir")); v != "" {
		*dataDir = v
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if *id == "" {
		fmt.Fprintln(env.stderr, "estate token client: --id is required")
		return errUsage
	}
	iss, err := auth.OpenDevIssuer(filepath.Join(*dataDir, "dev-issuer"), nil)
	if err != nil {
		return err
	}
	secret, err := iss.RegisterClient(*id, scopes)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, secret)
	return nil
}

func mkdirData(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("creating data dir: %w", err)
	}
	return nil
}
