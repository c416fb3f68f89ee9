package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/estatehq/estate/collector"
	"github.com/estatehq/estate/collector/elasticsearch"
	"github.com/estatehq/estate/collector/jaeger"
	"github.com/estatehq/estate/collector/remotewrite"
	collectorsvc "github.com/estatehq/estate/collector/service"
	"github.com/estatehq/estate/internal/modules"
	"github.com/estatehq/estate/internal/server"
	"github.com/estatehq/estate/services/kit/telemetry"
)

// initCollector builds the collector target: OTLP on 4317/4318, the query
// and events API on 8088, its queue and embedded store under
// <data-dir>/collector, and the exporters whose endpoints are configured.
// A signal that an exporter takes is left out of the embedded store.
func (a *app) initCollector(ctx context.Context) (modules.Service, error) {
	dir := filepath.Join(a.cfg.DataDir, "collector")
	logger := a.componentLogger("collector")
	reg := server.NewRegistry()

	var (
		sinks     []collector.Sink
		exporters []modules.Service
		local     = []collector.Signal{collector.SignalLogs, collector.SignalTraces}
	)
	keep := func(drop collector.Signal) {
		out := local[:0]
		for _, s := range local {
			if s != drop {
				out = append(out, s)
			}
		}
		local = out
	}
	if cfg := a.cfg.Elasticsearch; cfg.Enabled() {
		es, err := elasticsearch.New(cfg, elasticsearch.Options{Logger: logger.With("sink", "elasticsearch"), Registerer: reg, Now: a.now})
		if err != nil {
			return nil, fmt.Errorf("elasticsearch exporter: %w", err)
		}
		exporters = append(exporters, es)
		sinks = append(sinks, &collector.SignalSink{SinkName: "elasticsearch", Logs: es.ExportLogs})
		keep(collector.SignalLogs)
	}
	if cfg := a.cfg.Jaeger; cfg.Enabled() {
		j, err := jaeger.New(cfg, jaeger.Options{Logger: logger.With("sink", "jaeger"), Registerer: reg})
		if err != nil {
			return nil, fmt.Errorf("jaeger exporter: %w", err)
		}
		exporters = append(exporters, j)
		sinks = append(sinks, &collector.SignalSink{SinkName: "jaeger", Traces: j.ExportTraces})
		keep(collector.SignalTraces)
	}
	events, err := a.eventsAPI(ctx, reg)
	if err != nil {
		return nil, err
	}
	svc, err := collectorsvc.New(ctx, collectorsvc.Options{
		Config:       a.cfg.Collector,
		Dir:          dir,
		Sinks:        sinks,
		LocalSignals: local,
		Routes:       events,
		Logger:       logger,
		Registry:     reg,
		Now:          a.now,
	})
	if err != nil {
		return nil, err
	}
	if cfg := a.cfg.RemoteWrite; cfg.Enabled() {
		rw, err := remotewrite.New(cfg, remotewrite.Options{Gatherer: reg, Logger: logger.With("sink", "remote_write"), Registerer: reg, Now: a.now})
		if err != nil {
			return nil, fmt.Errorf("remote_write exporter: %w", err)
		}
		exporters = append(exporters, rw)
	}
	a.collector = svc
	return &collectorTarget{Service: svc, exporters: exporters}, nil
}

// telemetryConfig is the services' telemetry configuration. With no OTLP
// endpoint configured and the collector in this process (as under `up`),
// services export to it, so their traces and logs are queryable at once.
func (a *app) telemetryConfig() telemetry.Config {
	cfg := a.cfg.Telemetry
	if cfg.OTLPEndpoint == "" && a.collector != nil {
		cfg.OTLPEndpoint = server.LoopbackAddr(a.collector.OTLPGRPCAddr())
		cfg.OTLPInsecure = true
	}
	return cfg
}

// collectorTarget starts the exporters before the collector delivers to
// them, and stops them after it.
type collectorTarget struct {
	*collectorsvc.Service
	exporters []modules.Service
}

func (t *collectorTarget) Start(ctx context.Context) error {
	for i, e := range t.exporters {
		if err := e.Start(ctx); err != nil {
			for _, started := range t.exporters[:i] {
				_ = started.Shutdown(ctx)
			}
			return fmt.Errorf("starting exporter: %w", err)
		}
	}
	return t.Service.Start(ctx)
}

func (t *collectorTarget) Shutdown(ctx context.Context) error {
	errs := []error{t.Service.Shutdown(ctx)}
	for i := len(t.exporters) - 1; i >= 0; i-- {
		errs = append(errs, t.exporters[i].Shutdown(ctx))
	}
	return errors.Join(errs...)
}
