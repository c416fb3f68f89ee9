// Package service assembles the collector target from its configuration,
// in one place: the durable queue, the OTLP receiver that appends to it,
// the consumers that read from it (the embedded store, the RED rollups,
// the embedded metrics store's OTLP metrics, and the exporters whose
// endpoints are configured: Elasticsearch, Jaeger, OTLP, remote_write),
// the remote_write pusher, the scrape of every target's /metrics and the
// rules evaluated over the metrics store, and the API port that serves the
// query API, /metrics and health, and any routes mounted on it (the events
// API).
package service

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	promapi "github.com/prometheus/prometheus/web/api/v1"

	"github.com/estatehq/estate/collector"
	"github.com/estatehq/estate/collector/elasticsearch"
	collectorhttp "github.com/estatehq/estate/collector/http"
	"github.com/estatehq/estate/collector/internal/walqueue"
	"github.com/estatehq/estate/collector/jaeger"
	"github.com/estatehq/estate/collector/otlp"
	"github.com/estatehq/estate/collector/otlpexporter"
	promstore "github.com/estatehq/estate/collector/prometheus"
	"github.com/estatehq/estate/collector/red"
	"github.com/estatehq/estate/collector/redact"
	"github.com/estatehq/estate/collector/remotewrite"
	"github.com/estatehq/estate/collector/rules"
	"github.com/estatehq/estate/collector/sqlite"
	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/delivery"
	"github.com/estatehq/estate/internal/problem"
	"github.com/estatehq/estate/internal/server"
)

// Options are what a collector is built from.
type Options struct {
	Config Config
	// Dir holds the collector's data: queue/, store.db and deadletter/;
	// normally <data-dir>/collector.
	Dir string
	// Routes mounts more handlers on the API port's router, such as the
	// events API; its error fails New. Mount does the same after New.
	Routes func(chi.Router) error
	// TLS, when set, serves the API and OTLP ports over TLS; the OTLP
	// ports then also require client certificates when
	// collector.otlp.client_ca_file is set. nil serves plain text.
	TLS *tls.Config
	// WrapSink, when set, wraps every sink; tests use it to stop delivery.
	WrapSink func(collector.Sink) collector.Sink
	// Incidents, when set, is the estate's incident intake: the alerts of
	// the rules open and resolve incidents there.
	Incidents rules.Incidents
	// GeneratedRules, when set, returns rule files made in process (the
	// SLOs' rules), evaluated beside collector.rules.files.
	GeneratedRules func() (map[string][]byte, error)
	// Authenticator, when set, requires of each route of the API port
	// what Access says, and of the OTLP listeners whose authentication is
	// on (collector.otlp.grpc_auth, http_auth) what otlp.Access says; nil
	// lets anyone in.
	Authenticator *auth.Authenticator
	Access        auth.RouteTable

	Logger *slog.Logger
	// Registry receives every metric and is served on /metrics of the API
	// and OTLP/HTTP ports; nil makes one with the Go and process collectors.
	Registry *prometheus.Registry
	Now      func() time.Time
}

// component is a part with a lifecycle of its own: the exporters.
type component interface {
	Start(context.Context) error
	Shutdown(context.Context) error
}

// Service is a running collector.
type Service struct {
	opts       Options
	queue      *walqueue.Queue
	store      *sqlite.Store
	tsdb       *promstore.Store
	receiver   *otlp.Receiver
	api        *server.Server
	router     chi.Router
	exporters  []component
	deliveries []*exporter
	feeds      feeds

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New opens the queue and the store and builds every consumer and server;
// nothing listens or delivers until Start.
func New(ctx context.Context, opts Options) (s *Service, err error) {
	if err := opts.Config.Validate(); err != nil {
		return nil, fmt.Errorf("invalid collector configuration: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registry == nil {
		opts.Registry = server.NewRegistry()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating collector folder: %w", err)
	}
	s = &Service{opts: opts}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.closeStorage(ctx))
		}
	}()
	sinks, local, err := s.exportSinks()
	if err != nil {
		return nil, err
	}
	cfg := opts.Config.Collector
	s.store, err = sqlite.Open(ctx, sqlite.Options{
		Config:     cfg.Store,
		Path:       filepath.Join(opts.Dir, "store.db"),
		Durable:    cfg.Queue.Durability == walqueue.DurabilityFsync,
		Signals:    local,
		Logger:     opts.Logger.With("part", "store"),
		Registerer: opts.Registry,
		Now:        opts.Now,
	})
	if err != nil {
		return nil, err
	}
	s.tsdb, err = promstore.Open(promstore.Options{
		Config:     cfg.TSDB,
		Dir:        filepath.Join(opts.Dir, "tsdb"),
		Logger:     opts.Logger.With("part", "tsdb"),
		Registerer: opts.Registry,
	})
	if err != nil {
		return nil, err
	}
	rollup, err := red.New(red.Options{Config: cfg.RED, Store: s.store, Registerer: opts.Registry, Logger: opts.Logger.With("part", "red")})
	if err != nil {
		return nil, err
	}
	otlpMetrics, err := s.newFeeds(s.tsdb)
	if err != nil {
		return nil, err
	}
	sinks = append([]collector.Sink{s.store, rollup, otlpMetrics}, sinks...)
	if err := s.openQueue(sinks); err != nil {
		return nil, err
	}
	redactor, err := redact.New(redact.Options{Config: cfg.Redact, Registerer: opts.Registry})
	if err != nil {
		return nil, err
	}
	ingestTLS := opts.TLS
	if cfg.OTLP.ClientCAFile != "" {
		if ingestTLS, err = server.RequireClientCerts(opts.TLS, cfg.OTLP.ClientCAFile, "collector.otlp."); err != nil {
			return nil, err
		}
	}
	s.receiver, err = otlp.New(otlp.Options{
		TLS:             ingestTLS,
		GRPCAddr:        cfg.OTLP.GRPCListenAddr,
		HTTPAddr:        cfg.OTLP.HTTPListenAddr,
		MaxRequestBytes: cfg.OTLP.MaxRequestBytes,
		Limiter:         otlp.NewLimiter(cfg.Memory.MaxInflightBytes),
		RetryAfter:      cfg.Memory.RetryAfter,
		Queue:           queueAppender{q: s.queue, retryAfter: cfg.Memory.RetryAfter},
		Redactor:        redactor,
		Authenticator:   opts.Authenticator,
		GRPCAuth:        cfg.OTLP.GRPCAuth,
		HTTPAuth:        cfg.OTLP.HTTPAuth,
		RateLimit:       otlp.RateLimit{Rate: cfg.OTLP.RateLimit, Burst: cfg.OTLP.RateBurst},
		Logger:          opts.Logger.With("part", "otlp"),
		Registry:        opts.Registry,
	})
	if err != nil {
		return nil, err
	}
	router := chi.NewRouter()
	problem.Route(router)
	collectorhttp.Routes(router, s.store, opts.Logger.With("part", "api"))
	s.tsdb.Routes(router, promstore.APIOptions{
		Targets: func(context.Context) promapi.TargetRetriever { return s.feeds.scraper.Manager() },
		Rules:   func(context.Context) promapi.RulesRetriever { return s.feeds.rules.Manager() },
	})
	if opts.Routes != nil {
		if err := opts.Routes(router); err != nil {
			return nil, fmt.Errorf("mounting routes: %w", err)
		}
	}
	s.router = router
	var api http.Handler = router
	if opts.Authenticator != nil {
		api = opts.Authenticator.Guard(router, opts.Access)(router)
	}
	s.api = server.New(server.Options{
		Name: "collector", Addr: cfg.ListenAddr, Handler: api, Logger: opts.Logger, Registry: opts.Registry, TLS: opts.TLS,
		Ready: []server.ReadyCheck{{Name: "store", Check: s.store.Ping}, {Name: "tsdb", Check: s.tsdb.Ping}},
	})
	return s, nil
}

// exportSinks builds the exporters whose endpoints are configured, as queue
// consumers, and says which signals the embedded store keeps: those of
// collector.store.signals but for a signal that Elasticsearch or Jaeger
// takes (they then serve its queries).
func (s *Service) exportSinks() ([]collector.Sink, []collector.Signal, error) {
	cfg, logger := s.opts.Config, s.opts.Logger
	local := cfg.Collector.Store.Kept()
	var sinks []collector.Sink
	if c := cfg.Elasticsearch; c.Enabled() {
		if c.DeadLetterDir == "" {
			c.DeadLetterDir = filepath.Join(s.opts.Dir, DeadLetterDirName)
		}
		es, err := elasticsearch.New(c, elasticsearch.Options{Logger: logger.With("sink", "elasticsearch"), Registerer: s.opts.Registry, Now: s.opts.Now})
		if err != nil {
			return nil, nil, fmt.Errorf("elasticsearch exporter: %w", err)
		}
		s.exporters = append(s.exporters, es)
		sinks = append(sinks, &collector.SignalSink{SinkName: "elasticsearch", Logs: es.ExportLogs})
		local = slices.DeleteFunc(local, func(sig collector.Signal) bool { return sig == collector.SignalLogs })
	}
	if c := cfg.Jaeger; c.Enabled() {
		j, err := jaeger.New(c, jaeger.Options{Logger: logger.With("sink", "jaeger"), Registerer: s.opts.Registry})
		if err != nil {
			return nil, nil, fmt.Errorf("jaeger exporter: %w", err)
		}
		s.exporters = append(s.exporters, j)
		sinks = append(sinks, &collector.SignalSink{SinkName: "jaeger", Traces: j.ExportTraces})
		local = slices.DeleteFunc(local, func(sig collector.Signal) bool { return sig == collector.SignalTraces })
	}
	if c := cfg.RemoteWrite; c.Enabled() {
		rw, err := remotewrite.New(c, remotewrite.Options{
			Gatherer: s.opts.Registry, Translation: cfg.Collector.OTLPMetrics,
			Logger: logger.With("sink", "remote_write"), Registerer: s.opts.Registry, Now: s.opts.Now,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("remote_write exporter: %w", err)
		}
		s.exporters = append(s.exporters, rw)
		sinks = append(sinks, rw.OTLPSink())
	}
	if c := cfg.OTLP; c.Enabled() {
		o, err := otlpexporter.New(c, otlpexporter.Options{Logger: logger.With("sink", "otlp"), Registerer: s.opts.Registry, Now: s.opts.Now})
		if err != nil {
			return nil, nil, fmt.Errorf("otlp exporter: %w", err)
		}
		s.exporters = append(s.exporters, o)
		sinks = append(sinks, &collector.SignalSink{SinkName: "otlp", Traces: o.ExportTraces, Logs: o.ExportLogs, Metrics: o.ExportMetrics})
	}
	return sinks, local, nil
}

// openQueue opens the queue with a cursor per sink and a delivery loop for
// each.
func (s *Service) openQueue(sinks []collector.Sink) error {
	cfg := s.opts.Config.Collector
	names := make([]string, 0, len(sinks))
	for _, sink := range sinks {
		names = append(names, sink.Name())
	}
	q, err := walqueue.Open(walqueue.Options{
		Config:    cfg.Queue,
		Dir:       filepath.Join(s.opts.Dir, "queue"),
		Consumers: names,
		// A request is one record: the bound of one is the bound of the other.
		MaxRecordBytes: int(cfg.OTLP.MaxRequestBytes) + 2,
		Logger:         s.opts.Logger.With("part", "queue"),
		Registerer:     s.opts.Registry,
		Now:            s.opts.Now,
	})
	if err != nil {
		return fmt.Errorf("opening queue: %w", err)
	}
	s.queue = q
	em := newExportMetrics(s.opts.Registry)
	for _, sink := range sinks {
		r, err := q.Reader(sink.Name())
		if err != nil {
			return err
		}
		if s.opts.WrapSink != nil {
			sink = s.opts.WrapSink(sink)
		}
		s.deliveries = append(s.deliveries, &exporter{
			sink: sink, reader: r, cfg: cfg.Export, logger: s.opts.Logger.With("sink", r.Name()), m: em, name: r.Name(),
		})
	}
	return nil
}

// Mount serves h under pattern on the API port (chi patterns, such as
// "/v1/events" or "/v1/events/*"). Call it before Start.
func (s *Service) Mount(pattern string, h http.Handler) { s.router.Mount(pattern, h) }

// Routes are the API port's routes, and Receiver the OTLP receiver, for
// the route table's check.
func (s *Service) Routes() chi.Routes { return s.router }

// Receiver is the OTLP receiver.
func (s *Service) Receiver() *otlp.Receiver { return s.receiver }

// TSDB is the embedded metrics store: where feeds append, and what rules,
// SLOs and the Prometheus API query.
func (s *Service) TSDB() *promstore.Store { return s.tsdb }

// RED is the store of the span-derived RED rollups.
func (s *Service) RED() collector.REDStore { return s.store }

// Start starts the exporters, then delivery, then the receivers and the
// API, so that nothing is accepted before it can be delivered.
func (s *Service) Start(ctx context.Context) error {
	for i, e := range s.exporters {
		if err := e.Start(ctx); err != nil {
			for _, started := range s.exporters[:i] {
				_ = started.Shutdown(ctx)
			}
			return fmt.Errorf("starting exporter: %w", err)
		}
	}
	if err := s.store.Start(ctx); err != nil {
		return errors.Join(err, s.stopExporters(ctx))
	}
	if err := s.tsdb.Start(ctx); err != nil {
		return errors.Join(err, s.stopExporters(ctx))
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	for _, d := range s.deliveries {
		s.wg.Go(func() { d.run(runCtx) })
	}
	if err := s.receiver.Start(ctx); err != nil {
		return errors.Join(err, s.Shutdown(ctx))
	}
	if err := s.api.Start(ctx); err != nil {
		return errors.Join(err, s.Shutdown(ctx))
	}
	if err := s.startFeeds(ctx); err != nil {
		return errors.Join(err, s.Shutdown(ctx))
	}
	s.opts.Logger.Info("collector started",
		"otlp_grpc", s.receiver.GRPCAddr(), "otlp_http", s.receiver.HTTPAddr(), "api", s.api.Addr(),
		"durability", s.opts.Config.Collector.Queue.Durability)
	return nil
}

// Shutdown stops ingest first, so nothing is acknowledged that is not
// queued, then delivery, then the exporters, then the queue and the store.
// Undelivered records stay in the queue for the next start.
func (s *Service) Shutdown(ctx context.Context) error {
	errs := []error{s.stopFeeds(ctx), s.receiver.Shutdown(ctx), s.api.Shutdown(ctx)}
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	errs = append(errs, s.stopExporters(ctx), s.closeStorage(ctx))
	return errors.Join(errs...)
}

// stopExporters stops the exporters in the reverse order of their start.
func (s *Service) stopExporters(ctx context.Context) error {
	var errs []error
	for i := len(s.exporters) - 1; i >= 0; i-- {
		errs = append(errs, s.exporters[i].Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// closeStorage closes what New opened; it is safe on a half-built Service.
func (s *Service) closeStorage(ctx context.Context) error {
	var errs []error
	if s.queue != nil {
		errs = append(errs, s.queue.Close())
	}
	if s.store != nil {
		errs = append(errs, s.store.Shutdown(ctx))
	}
	if s.tsdb != nil {
		errs = append(errs, s.tsdb.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// URL is the API's base URL.
func (s *Service) URL() string { return s.api.URL() }

// OTLPHTTPAddr and OTLPGRPCAddr are the receivers' bound addresses.
func (s *Service) OTLPHTTPAddr() string { return s.receiver.HTTPAddr() }

// OTLPGRPCAddr is the OTLP/gRPC receiver's bound address.
func (s *Service) OTLPGRPCAddr() string { return s.receiver.GRPCAddr() }

// Done reports the API server stopping on its own.
func (s *Service) Done() <-chan error { return s.api.Done() }

// queueAppender classifies the queue's errors for the receiver.
type queueAppender struct {
	q          *walqueue.Queue
	retryAfter time.Duration
}

func (a queueAppender) Append(ctx context.Context, records ...[]byte) error {
	err := a.q.Append(ctx, records...)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, walqueue.ErrFull):
		return delivery.Throttle(err, a.retryAfter)
	case errors.Is(err, walqueue.ErrTooLarge):
		return delivery.Permanent(err)
	case errors.Is(err, walqueue.ErrClosed):
		return &delivery.ShutdownError{Err: err}
	}
	return err
}
