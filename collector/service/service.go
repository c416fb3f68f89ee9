// Package service assembles the collector target: the durable queue, the
// OTLP receiver that appends to it, the sinks that read from it (the
// embedded store by default), the RED rollups, and the API port that serves
// the query API, /metrics and health, and any handlers mounted on it (the
// events API).
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/estatehq/estate/collector"
	collectorhttp "github.com/estatehq/estate/collector/http"
	"github.com/estatehq/estate/collector/internal/walqueue"
	"github.com/estatehq/estate/collector/otlp"
	"github.com/estatehq/estate/collector/red"
	"github.com/estatehq/estate/collector/sqlite"
	"github.com/estatehq/estate/internal/delivery"
	"github.com/estatehq/estate/internal/server"
)

// Options are what a collector is built from.
type Options struct {
	Config collector.Config
	// Dir holds the collector's data: queue/ and store.db; normally
	// <data-dir>/collector.
	Dir string
	// Sinks are queue consumers beside the embedded store (Elasticsearch,
	// Jaeger). Each gets its own cursor, named by Sink.Name.
	Sinks []collector.Sink
	// LocalSignals are the signals the embedded store keeps; nil means
	// logs and traces. Leave out a signal that an external sink takes.
	LocalSignals []collector.Signal
	// Routes mounts more handlers on the API port's router, such as the
	// events API. Mount does the same after New.
	Routes func(chi.Router)
	// WrapSink, when set, wraps every sink; tests use it to stop delivery.
	WrapSink func(collector.Sink) collector.Sink

	Logger *slog.Logger
	// Registry receives every metric and is served on /metrics of the API
	// and OTLP/HTTP ports; nil makes one with the Go and process collectors.
	Registry *prometheus.Registry
	Now      func() time.Time
}

// Service is a running collector.
type Service struct {
	opts      Options
	queue     *walqueue.Queue
	store     *sqlite.Store
	receiver  *otlp.Receiver
	api       *server.Server
	router    chi.Router
	exporters []*exporter

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New opens the queue and the store and builds the servers; nothing
// listens until Start.
func New(ctx context.Context, opts Options) (*Service, error) {
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
	cfg := opts.Config
	rollup := red.New(red.Options{MaxSeries: cfg.RED.MaxSeries, Registerer: opts.Registry, Logger: opts.Logger})
	store, err := sqlite.Open(ctx, sqlite.Options{
		Path:              filepath.Join(opts.Dir, "store.db"),
		MaxAge:            cfg.Store.MaxAge,
		MaxBytes:          cfg.Store.MaxBytes,
		RetentionInterval: cfg.Store.RetentionInterval,
		Durable:           cfg.Queue.Durability == string(walqueue.DurabilityFsync),
		RED:               rollup,
		Signals:           opts.LocalSignals,
		Logger:            opts.Logger.With("part", "store"),
		Registerer:        opts.Registry,
		Now:               opts.Now,
	})
	if err != nil {
		return nil, err
	}
	sinks := append([]collector.Sink{store}, opts.Sinks...)
	names := make([]string, 0, len(sinks))
	for _, s := range sinks {
		names = append(names, s.Name())
	}
	q, err := walqueue.Open(walqueue.Options{
		Dir:          filepath.Join(opts.Dir, "queue"),
		Consumers:    names,
		MaxBytes:     cfg.Queue.MaxBytes,
		SegmentBytes: cfg.Queue.SegmentBytes,
		// A request is one record: the bound of one is the bound of the other.
		MaxRecordBytes: int(cfg.OTLP.MaxRequestBytes) + 2,
		Durability:     walqueue.Durability(cfg.Queue.Durability),
		SyncInterval:   cfg.Queue.SyncInterval,
		WhenFull:       walqueue.WhenFull(cfg.Queue.WhenFull),
		Logger:         opts.Logger.With("part", "queue"),
		Registerer:     opts.Registry,
		Now:            opts.Now,
	})
	if err != nil {
		_ = store.Shutdown(ctx)
		return nil, fmt.Errorf("opening queue: %w", err)
	}
	s := &Service{opts: opts, queue: q, store: store}
	em := newExportMetrics(opts.Registry)
	for _, sink := range sinks {
		r, err := q.Reader(sink.Name())
		if err != nil {
			return nil, errors.Join(err, s.closeStorage(ctx))
		}
		if opts.WrapSink != nil {
			sink = opts.WrapSink(sink)
		}
		s.exporters = append(s.exporters, &exporter{
			sink: sink, reader: r, cfg: cfg.Export, logger: opts.Logger.With("sink", r.Name()), m: em, name: r.Name(),
		})
	}
	s.receiver, err = otlp.New(otlp.Options{
		GRPCAddr:        cfg.OTLP.GRPCListenAddr,
		HTTPAddr:        cfg.OTLP.HTTPListenAddr,
		MaxRequestBytes: cfg.OTLP.MaxRequestBytes,
		Limiter:         otlp.NewLimiter(cfg.Memory.MaxInflightBytes),
		RetryAfter:      cfg.Memory.RetryAfter,
		Queue:           queueAppender{q: q, retryAfter: cfg.Memory.RetryAfter},
		Logger:          opts.Logger.With("part", "otlp"),
		Registry:        opts.Registry,
	})
	if err != nil {
		return nil, errors.Join(err, s.closeStorage(ctx))
	}
	router := chi.NewRouter()
	collectorhttp.Routes(router, store, opts.Logger.With("part", "api"))
	if opts.Routes != nil {
		opts.Routes(router)
	}
	s.router = router
	s.api = server.New(server.Options{
		Name: "collector", Addr: cfg.ListenAddr, Handler: router, Logger: opts.Logger, Registry: opts.Registry,
		Ready: []server.ReadyCheck{{Name: "store", Check: store.Ping}},
	})
	return s, nil
}

// Mount serves h under pattern on the API port (chi patterns, such as
// "/v1/events" or "/v1/events/*"). Call it before Start.
func (s *Service) Mount(pattern string, h http.Handler) { s.router.Mount(pattern, h) }

// Store is the embedded store, for SLO reports (RED rollups) and tests.
func (s *Service) Store() *sqlite.Store { return s.store }

// Start starts delivery, then the receivers and the API.
func (s *Service) Start(ctx context.Context) error {
	if err := s.store.Start(ctx); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	for _, e := range s.exporters {
		s.wg.Go(func() { e.run(runCtx) })
	}
	if err := s.receiver.Start(ctx); err != nil {
		return errors.Join(err, s.Shutdown(ctx))
	}
	if err := s.api.Start(ctx); err != nil {
		return errors.Join(err, s.Shutdown(ctx))
	}
	s.opts.Logger.Info("collector started",
		"otlp_grpc", s.receiver.GRPCAddr(), "otlp_http", s.receiver.HTTPAddr(), "api", s.api.Addr(),
		"durability", s.opts.Config.Queue.Durability)
	return nil
}

// Shutdown stops ingest first, so nothing is acknowledged that is not
// queued, then delivery, then the queue and the store. Undelivered records
// stay in the queue for the next start.
func (s *Service) Shutdown(ctx context.Context) error {
	errs := []error{s.receiver.Shutdown(ctx), s.api.Shutdown(ctx)}
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	errs = append(errs, s.closeStorage(ctx))
	return errors.Join(errs...)
}

func (s *Service) closeStorage(ctx context.Context) error {
	return errors.Join(s.queue.Close(), s.store.Shutdown(ctx))
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
