package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/modules"
	"github.com/estatehq/estate/internal/server"
	"github.com/estatehq/estate/services/contracts"
	"github.com/estatehq/estate/services/credit"
	credithttp "github.com/estatehq/estate/services/credit/http"
	"github.com/estatehq/estate/services/credit/invoicingapi"
	creditpostgres "github.com/estatehq/estate/services/credit/postgres"
	creditsqlite "github.com/estatehq/estate/services/credit/sqlite"
	"github.com/estatehq/estate/services/invoicing"
	"github.com/estatehq/estate/services/kit/idempotency"
	"github.com/estatehq/estate/services/kit/telemetry"
)

// creditStore is what the target needs of its store; both backends have it
// all.
type creditStore interface {
	credit.Store
	idempotency.Store
	PurgeIdempotencyKeys(ctx context.Context, before time.Time) (int64, error)
}

// creditSubscriber is the outbox subscriber invoicing gets when the credit
// target runs in the same process (`estate up`) and none is configured
// under the name credit.
func (a *app) creditSubscriber() (invoicing.Subscriber, bool) {
	if !a.cfg.creditInProcess {
		return invoicing.Subscriber{}, false
	}
	return invoicing.Subscriber{Name: "credit", URL: "http://" + server.LoopbackAddr(a.cfg.Credit.ListenAddr) + contracts.CreditEventsPath}, true
}

// creditInvoicingURL is the invoicing API credit calls: the invoicing target
// of this process when both run here (`up`, whatever its ports) and the URL
// was not set, else credit.invoicing-url.
func (a *app) creditInvoicingURL() string {
	if a.cfg.creditInProcess && a.cfg.Credit.InvoicingURL == credit.DefaultInvoicingURL {
		return "http://" + server.LoopbackAddr(a.cfg.Invoicing.ListenAddr)
	}
	return a.cfg.Credit.InvoicingURL
}

func openCreditStore(ctx context.Context, cfg credit.Config, dataDir string, tp trace.TracerProvider, logger *slog.Logger) (creditStore, error) {
	if cfg.PostgresDSN != "" {
		return creditpostgres.Open(ctx, cfg.PostgresDSN, creditpostgres.Options{TracerProvider: tp, Logger: logger})
	}
	return creditsqlite.Open(ctx, filepath.Join(dataDir, "credit.db"), creditsqlite.Options{TracerProvider: tp, Logger: logger})
}

// invoicingTokens is how the credit service authenticates to the invoicing
// API. With credit.invoicing-client-id, by the OAuth client-credentials
// grant at credit.invoicing-token-url: one machine token with both scopes,
// cached until shortly before it expires. Otherwise a machine token acting
// for the business with the scopes the call needs, minted by the
// development issuer (auth.dev).
func (a *app) invoicingTokens() (invoicingapi.TokenSource, error) {
	cfg := a.cfg.Credit
	if cfg.InvoicingClientID != "" {
		secret, err := os.ReadFile(cfg.InvoicingClientSecretFile)
		if err != nil {
			return nil, fmt.Errorf("credit.invoicing_client_secret_file: %w", err)
		}
		cc, err := auth.NewClientCredentials(auth.ClientCredentialsConfig{
			ClientID: cfg.InvoicingClientID, ClientSecret: strings.TrimSpace(string(secret)), TokenURL: cfg.InvoicingTokenURL,
			Scopes:     []string{contracts.HistoryScope, contracts.FinancingScope},
			HTTPClient: a.httpClient(10 * time.Second),
		})
		if err != nil {
			return nil, fmt.Errorf("credit: invoicing client credentials: %w", err)
		}
		return func(ctx context.Context, _ string, _ []string) (string, error) { return cc.Token(ctx) }, nil
	}
	if !a.cfg.Auth.Dev {
		return nil, errors.New("credit: calling the invoicing API needs machine tokens: set --auth.dev, or --credit.invoicing-client-id with -client-secret-file and -token-url")
	}
	iss, err := auth.OpenDevIssuer(a.devIssuerDir(), a.now)
	if err != nil {
		return nil, err
	}
	claim := a.cfg.Auth.BusinessClaim
	// A token lives 5 minutes and is used for 4, so that a call never
	// carries one about to expire.
	return invoicingapi.CachedTokens(func(_ context.Context, business string, scopes []string) (string, error) {
		return iss.Sign(auth.TokenRequest{Subject: invoicing.DefaultMachineClient, ClientID: invoicing.DefaultMachineClient,
			BusinessID: business, Scopes: scopes, TTL: 5 * time.Minute, BusinessClaim: claim})
	}, 4*time.Minute, a.now), nil
}

// initCredit builds the credit target: its store (migrated), the client of
// the invoicing API, the API on credit.listen-addr and the reconcile loop.
func (a *app) initCredit(ctx context.Context) (modules.Service, error) {
	cfg := a.cfg.Credit
	exportToken, err := a.telemetryToken("credit")
	if err != nil {
		return nil, err
	}
	tel, err := telemetry.New(ctx, telemetry.Options{
		Token:  exportToken,
		Config: a.telemetryConfig(), ServiceName: "credit", ServiceVersion: buildVersion(), Logger: a.componentLogger("credit"),
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
	tokens, err := a.invoicingTokens()
	if err != nil {
		return fail(err)
	}
	invoicingURL, err := a.creditProxiedInvoicingURL()
	if err != nil {
		return fail(err)
	}
	client, err := invoicingapi.New(invoicingapi.Options{
		BaseURL: invoicingURL, Token: tokens, Timeout: cfg.InvoicingTimeout, Now: a.now, Transport: a.invoicingTransport(),
		TracerProvider: tel.TracerProvider, Propagator: tel.Propagator,
	})
	if err != nil {
		return fail(fmt.Errorf("credit.invoicing_url: %w", err))
	}
	if cfg.PostgresDSN, err = a.proxiedDSN("credit", cfg.PostgresDSN); err != nil {
		return fail(err)
	}
	store, err := openCreditStore(ctx, cfg, a.cfg.DataDir, tel.TracerProvider, logger.With("part", "store"))
	if err != nil {
		return fail(fmt.Errorf("opening credit store: %w", err))
	}
	trust, err := cfg.Trust()
	if err != nil {
		return fail(errors.Join(err, store.Close()))
	}
	svc := credit.New(credit.Options{Store: store, Invoicing: client, Trust: trust, Now: a.now, Logger: logger})
	reg := server.NewRegistry()
	reg.MustRegister(tel.Collector())
	faults, faultSrv := a.faultInjector("credit", cfg.FaultListenAddr, reg, verifier)
	handler := credithttp.NewServer(credithttp.Options{
		Service: svc, Verifier: verifier, Idempotency: store, Telemetry: tel, Registry: reg, Logger: logger, Now: a.now,
		RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst, Faults: faults,
	})
	srv := server.New(server.Options{
		Name: "credit", Addr: cfg.ListenAddr, Handler: handler, Logger: logger, Registry: reg, TLS: a.listenerTLS(reg),
		Ready: []server.ReadyCheck{{Name: "store", Check: store.Ping}},
	})
	reconciler := credit.NewReconciler(credit.ReconcilerOptions{
		Reconcile: svc.Reconcile, Interval: cfg.ReconcileInterval, StaleAfter: cfg.ReconcileAfter, Now: a.now, Logger: logger,
	})
	purger := idempotency.NewPurger(idempotency.PurgerOptions{
		Purge: store.PurgeIdempotencyKeys, Now: a.now, Logger: logger.With("part", "idempotency"),
	})
	a.serviceServers["credit"] = srv
	return &serviceTarget{Server: srv, Group: modules.Group{
		Parts:   withFaultSurface([]modules.Service{srv, a.scrapeTarget("credit", srv), reconciler, purger}, faultSrv),
		Closers: []func(context.Context) error{tel.Shutdown, modules.Closer(store.Close), closeFaults(faults)},
	}}, nil
}

// pinCredit fixes the addresses the credit target bound, before the chaos
// controller starts it again.
func (a *app) pinCredit() {
	a.cfg.Credit.ListenAddr = a.serviceServers["credit"].Addr()
	if s, ok := a.faultSurfaces["credit"]; ok {
		a.cfg.Credit.FaultListenAddr = s.Addr()
	}
}

// creditSubcommands are the commands under `estate credit`.
func creditSubcommands() []command {
	return []command{migrator{
		target:   "credit",
		dsn:      func(c *Config) string { return c.Credit.PostgresDSN },
		file:     "credit.db",
		postgres: creditpostgres.Migrate,
		sqlite:   creditsqlite.Migrate,
	}.command()}
}
