//go:build !servicesonly

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"github.com/jackc/pgx/v5/pgconn"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/estatehq/estate/chaos"
	"github.com/estatehq/estate/chaos/chaosmesh"
	chaoscollector "github.com/estatehq/estate/chaos/collector"
	chaoshttp "github.com/estatehq/estate/chaos/http"
	"github.com/estatehq/estate/chaos/local"
	chaospostgres "github.com/estatehq/estate/chaos/postgres"
	chaossqlite "github.com/estatehq/estate/chaos/sqlite"
	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/modules"
	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/internal/server"
	"github.com/estatehq/estate/services/kit/fault"
)

// chaosConfig configures the chaos controller target.
type chaosConfig struct {
	// ListenAddr serves the controller's API, whose routes need the roles
	// of chaoshttp.Access.
	ListenAddr string `yaml:"listen_addr"`
	// PostgresDSN selects PostgreSQL for the journal; empty keeps it in
	// SQLite at <data-dir>/chaos.db.
	PostgresDSN string `yaml:"postgres_dsn"`
	// CollectorURL receives the events and answers the SLO API; under `up`
	// the collector of the process when empty.
	CollectorURL string `yaml:"collector_url"`
	// PrometheusURL answers PromQL probes (a Prometheus, or the
	// collector's API); under `up` the collector of the process when
	// empty.
	PrometheusURL string `yaml:"prometheus_url"`
	// SLOURL answers the SLO API (GET /v1/slos/{name}); the collector
	// URL when empty.
	SLOURL string `yaml:"slo_url"`
	// Environment is the environment of the incidents runs open.
	Environment string `yaml:"environment"`
	// Services lists name=url pairs: the services' base URLs for HTTP
	// probes; under `up` the services of the process are added.
	Services string `yaml:"services"`
	// FaultSurfaces lists name=url pairs: the services' fault control
	// surfaces; under `up` those of the process are added.
	FaultSurfaces string `yaml:"fault_surfaces"`
	// Kubernetes runs the Chaos Mesh faults in a cluster.
	Kubernetes bool `yaml:"kubernetes"`
	// Kubeconfig reaches the cluster; empty uses $KUBECONFIG,
	// ~/.kube/config, or the service account of the pod the controller
	// runs in.
	Kubeconfig string `yaml:"kubeconfig"`
	// KubernetesNamespace holds the Chaos Mesh objects; empty puts each in
	// the first namespace its experiment selects.
	KubernetesNamespace string `yaml:"kubernetes_namespace"`
	// ClientID, ClientSecretFile and TokenURL name the controller's OAuth
	// client, whose client-credentials tokens command the fault surfaces,
	// send events and read SLOs and PromQL; all three or none (under
	// auth.dev the development issuer mints them).
	ClientID         string `yaml:"client_id"`
	ClientSecretFile string `yaml:"client_secret_file"`
	TokenURL         string `yaml:"token_url"`
}

func (c *chaosConfig) client() machineClient {
	return machineClient{ID: c.ClientID, SecretFile: c.ClientSecretFile, TokenURL: c.TokenURL}
}

func (c *chaosConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.ListenAddr, "chaos.listen-addr", "127.0.0.1:8089", "chaos controller API address (chaos.operate starts and resumes, chaos.halt halts)")
	fs.StringVar(&c.PostgresDSN, "chaos.postgres-dsn", "", "PostgreSQL DSN of the chaos journal; empty uses SQLite at DATA_DIR/chaos.db")
	fs.StringVar(&c.CollectorURL, "chaos.collector-url", "", "collector URL for events and the SLO API; under up, the collector of the process")
	fs.StringVar(&c.PrometheusURL, "chaos.prometheus-url", "", "Prometheus API URL for PromQL probes; under up, the collector of the process")
	fs.StringVar(&c.SLOURL, "chaos.slo-url", "", "SLO API URL for SLO probes (GET /v1/slos/{name}); empty uses the collector URL")
	fs.StringVar(&c.Environment, "chaos.environment", "production", "environment of the incidents a broken hypothesis opens and of the targets in the chaos events (as the collector's alerts are labelled)")
	fs.StringVar(&c.Services, "chaos.services", "", "services' base URLs for HTTP probes, as name=url pairs, comma-separated")
	fs.StringVar(&c.FaultSurfaces, "chaos.fault-surfaces", "", "services' fault control surfaces, as name=url pairs, comma-separated")
	fs.BoolVar(&c.Kubernetes, "chaos.kubernetes", false, "run Chaos Mesh faults (podChaos, networkChaos, httpChaos, stressChaos) in a Kubernetes cluster")
	fs.StringVar(&c.Kubeconfig, "chaos.kubeconfig", "", "kubeconfig of the cluster; empty uses $KUBECONFIG, ~/.kube/config or the pod's service account")
	fs.StringVar(&c.KubernetesNamespace, "chaos.kubernetes-namespace", "", "namespace of the Chaos Mesh objects; empty puts each in the first namespace its experiment selects")
	fs.StringVar(&c.ClientID, "chaos.client-id", "", "OAuth client id whose client-credentials tokens command the fault surfaces and call the collector; empty mints them with the development issuer (auth.dev)")
	fs.StringVar(&c.ClientSecretFile, "chaos.client-secret-file", "", "file holding the secret of chaos.client-id")
	fs.StringVar(&c.TokenURL, "chaos.token-url", "", "token endpoint of the issuer, e.g. https://DOMAIN.auth.REGION.amazoncognito.com/oauth2/token")
}

func (c *chaosConfig) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
		errs = append(errs, fmt.Errorf("chaos.listen_addr: must be host:port, not %q", c.ListenAddr))
	}
	for key, v := range map[string]string{"chaos.collector_url": c.CollectorURL, "chaos.prometheus_url": c.PrometheusURL, "chaos.slo_url": c.SLOURL} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s: must be an http(s) URL, not %q", key, v))
		}
	}
	if strings.TrimSpace(c.Environment) == "" {
		errs = append(errs, errors.New("chaos.environment: must not be empty"))
	}
	if _, err := parsePairs("chaos.services", c.Services); err != nil {
		errs = append(errs, err)
	}
	if _, err := parsePairs("chaos.fault_surfaces", c.FaultSurfaces); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.client().validate("chaos."))
	if c.Kubernetes {
		if len(validation.IsValidLabelValue(c.Environment)) > 0 {
			errs = append(errs, fmt.Errorf("chaos.environment: must be a Kubernetes label value with chaos.kubernetes (it labels the Chaos Mesh objects), not %q", c.Environment))
		}
		if ns := c.KubernetesNamespace; ns != "" && len(validation.IsDNS1123Label(ns)) > 0 {
			errs = append(errs, fmt.Errorf("chaos.kubernetes_namespace: must be a namespace name, not %q", ns))
		}
	} else if c.Kubeconfig != "" || c.KubernetesNamespace != "" {
		errs = append(errs, errors.New("chaos.kubeconfig, chaos.kubernetes_namespace: need chaos.kubernetes"))
	}
	return errors.Join(errs...)
}

// parsePairs reads name=url pairs, comma-separated.
func parsePairs(key, s string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		name, raw, ok := strings.Cut(p, "=")
		u, err := url.Parse(raw)
		if !ok || name == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%s: %q must be name=http(s)://host", key, p)
		}
		out[name] = raw
	}
	return out, nil
}

// chaosServiceURLs are the base URLs HTTP probes resolve service names to.
func (a *app) chaosServiceURLs() (map[string]string, error) {
	urls, err := parsePairs("chaos.services", a.cfg.Chaos.Services)
	if err != nil {
		return nil, err
	}
	for name, srv := range a.serviceServers {
		if _, set := urls[name]; !set {
			urls[name] = srv.URL()
		}
	}
	if a.collector != nil {
		if _, set := urls["collector"]; !set {
			urls["collector"] = a.collector.URL()
		}
	}
	return urls, nil
}

// chaosRoles are the roles of the controller's own tokens: commanding
// faults, sending its events, reading SLOs and PromQL.
var chaosRoles = []string{auth.RoleChaosOperate, auth.RoleEventsWrite, auth.RoleObservabilityRead}

// faultClients are the clients of the services' fault surfaces, with the
// controller's tokens.
func (a *app) faultClients(tokens auth.TokenSource) (map[string]*fault.Client, error) {
	surfaces, err := parsePairs("chaos.fault_surfaces", a.cfg.Chaos.FaultSurfaces)
	if err != nil {
		return nil, err
	}
	for name, srv := range a.faultSurfaces {
		if _, set := surfaces[name]; !set {
			surfaces[name] = srv.URL()
		}
	}
	out := map[string]*fault.Client{}
	if len(surfaces) == 0 {
		return out, nil
	}
	if tokens == nil {
		return nil, errors.New("chaos: commanding faults needs tokens with the role chaos.operate: set --chaos.client-id, -client-secret-file and -token-url, or --auth.dev")
	}
	for name, u := range surfaces {
		c, err := fault.NewClient(fault.ClientOptions{URL: u, Token: tokens, HTTPClient: a.httpClient(10 * time.Second)})
		if err != nil {
			return nil, fmt.Errorf("chaos.fault_surfaces: %w", err)
		}
		out[name] = c
	}
	return out, nil
}

// chaosStore opens the journal the configuration names.
func (a *app) chaosStore(ctx context.Context) (chaos.Store, func() error, error) {
	logger := a.componentLogger("chaos").With("part", "store")
	if dsn := a.cfg.Chaos.PostgresDSN; dsn != "" {
		st, err := chaospostgres.Open(ctx, dsn, logger)
		if err != nil {
			return nil, nil, err
		}
		return st, st.Close, nil
	}
	st, err := chaossqlite.Open(ctx, filepath.Join(a.cfg.DataDir, "chaos.db"), logger)
	if err != nil {
		return nil, nil, err
	}
	return st, st.Close, nil
}

// initChaos builds the chaos target: the journal, the local executor (the
// services' fault surfaces, the targets of this process, the proxies), the
// probes (the collector's SLO API, PromQL, HTTP), the events sink, the
// controller and its API on chaos.listen-addr.
func (a *app) initChaos(ctx context.Context) (modules.Service, error) {
	cfg := a.cfg.Chaos
	logger := a.componentLogger("chaos")
	collectorURL, promURL := cfg.CollectorURL, cfg.PrometheusURL
	if a.collector != nil {
		if collectorURL == "" {
			collectorURL = a.collector.URL()
		}
		if promURL == "" {
			promURL = a.collector.URL()
		}
	}
	services, err := a.chaosServiceURLs()
	if err != nil {
		return nil, err
	}
	tokens, err := a.machineTokens("estate-chaos", cfg.client(), chaosRoles...)
	if err != nil {
		return nil, fmt.Errorf("chaos: %w", err)
	}
	clients, err := a.faultClients(tokens)
	if err != nil {
		return nil, err
	}
	collectorClient := a.bearerClient(tokens, 10*time.Second)
	prober := &chaos.Prober{HTTP: a.httpClient(0), Now: a.now,
		Services: func(name string) (string, bool) { u, ok := services[name]; return u, ok }}
	var events chaos.EventSink
	if collectorURL != "" {
		cc, err := chaoscollector.New(collectorURL, collectorClient)
		if err != nil {
			return nil, fmt.Errorf("chaos.collector_url: %w", err)
		}
		events, prober.SLOs = cc, cc
	}
	if cfg.SLOURL != "" {
		sc, err := chaoscollector.New(cfg.SLOURL, collectorClient)
		if err != nil {
			return nil, fmt.Errorf("chaos.slo_url: %w", err)
		}
		prober.SLOs = sc
	}
	if promURL != "" {
		q, err := promquery.NewHTTP(promquery.HTTPOptions{URL: promURL, Transport: &auth.Transport{Base: a.transport(), Token: tokens}})
		if err != nil {
			return nil, fmt.Errorf("chaos.prometheus_url: %w", err)
		}
		prober.Query = q
	}
	store, closeStore, err := a.chaosStore(ctx)
	if err != nil {
		return nil, err
	}
	executor := local.New(local.Options{Faults: clients, Processes: a.processes(), Proxies: a.proxies, Now: a.now, Logger: logger.With("part", "executor")})
	executors := []chaos.Executor{executor}
	if cfg.Kubernetes {
		kube, err := a.kubernetesExecutor(logger.With("part", "kubernetes"))
		if err != nil {
			executor.Close()
			return nil, errors.Join(err, closeStore())
		}
		executors = append(executors, kube)
	}
	reg := server.NewRegistry()
	authn, static, err := a.authenticator(logger, reg)
	if err != nil {
		executor.Close()
		return nil, errors.Join(err, closeStore())
	}
	ctl, err := chaos.New(chaos.Options{
		Store: store, Executors: executors, Prober: prober, Events: events,
		Environment: cfg.Environment, Now: a.now, Logger: logger, Registerer: reg,
	})
	if err != nil {
		return nil, errors.Join(err, closeStore())
	}
	api := chaoshttp.Options{Controller: ctl, Authenticator: authn, Logger: logger, Now: a.now, Events: events}
	srv := server.New(server.Options{
		Name: "chaos", Addr: cfg.ListenAddr, Logger: logger, Registry: reg, TLS: a.listenerTLS(reg),
		Handler: chaoshttp.NewServer(api),
	})
	a.guard(guardedListener{target: "chaos", routes: chaoshttp.NewRouter(api), table: chaoshttp.Access, url: srv.URL})
	return &serviceTarget{Server: srv, Group: modules.Group{
		Parts: withStatic([]modules.Service{ctl, srv, a.scrapeTarget("chaos", srv)}, static),
		Closers: []func(context.Context) error{
			modules.Closer(closeStore),
			func(context.Context) error { executor.Close(); return nil },
		},
	}}, nil
}

// creditProxiedInvoicingURL is the invoicing API credit calls; with chaos
// in this process its connections go through the proxy credit/invoicing,
// where TCP faults are injected.
func (a *app) creditProxiedInvoicingURL() (string, error) {
	raw := a.creditInvoicingURL()
	if a.proxies == nil {
		return raw, nil
	}
	if inv, ok := a.serviceServers["invoicing"]; ok && a.cfg.creditInProcess {
		raw = inv.URL()
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw, nil //nolint:nilerr // invoicingapi.New reports the URL itself
	}
	addr, err := a.proxies.Add("credit", "invoicing", u.Host)
	if err != nil {
		return "", err
	}
	u.Host = addr
	return u.String(), nil
}

// proxiedDSN routes a service's PostgreSQL connections through the chaos
// proxy <service>/postgres when chaos runs in this process, so that TCP
// faults reach them. A DSN of several hosts, of a Unix socket, or whose
// TLS checks the server's name (sslmode=verify-full) is left as it is and
// its TCP faults are refused: a proxy would change the name dialled.
func (a *app) proxiedDSN(service, dsn string) (string, error) {
	if a.proxies == nil || dsn == "" {
		return dsn, nil
	}
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return dsn, nil //nolint:nilerr // the store reports the DSN itself
	}
	skip := func(why string) (string, error) {
		a.logger.Warn("chaos: PostgreSQL connections not proxied; TCP faults on them are refused", "service", service, "reason", why)
		return dsn, nil
	}
	for _, fb := range cfg.Fallbacks {
		if fb.Host != cfg.Host || fb.Port != cfg.Port {
			return skip("the DSN names several hosts")
		}
	}
	switch {
	case strings.HasPrefix(cfg.Host, "/"):
		return skip("a Unix socket")
	case cfg.TLSConfig != nil && !cfg.TLSConfig.InsecureSkipVerify:
		return skip("TLS verifies the server's name")
	}
	addr, err := a.proxies.Add(service, "postgres", net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return dsn, nil //nolint:nilerr // pgconn parsed it as a URL already
		}
		u.Host = addr
		return u.String(), nil
	}
	// In the keyword form the last value of a keyword wins.
	host, port, _ := net.SplitHostPort(addr)
	return dsn + " host=" + host + " port=" + port, nil
}

// kubernetesExecutor builds the executor of Chaos Mesh faults for the
// cluster of chaos.kubeconfig.
func (a *app) kubernetesExecutor(logger *slog.Logger) (*chaosmesh.Executor, error) {
	cfg := a.cfg.Chaos
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = cfg.Kubeconfig
	// Without a kubeconfig, the loader falls back to the pod's service
	// account.
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("chaos.kubeconfig: %w", err)
	}
	scheme := runtime.NewScheme()
	if err := chaosv1alpha1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("chaos: building the Kubernetes scheme: %w", err)
	}
	c, err := client.New(rc, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("chaos: the Kubernetes client: %w", err)
	}
	return chaosmesh.New(chaosmesh.Options{Client: c, Namespace: cfg.KubernetesNamespace, Environment: cfg.Environment, Logger: logger})
}
