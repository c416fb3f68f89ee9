package service

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"

	"github.com/estatehq/estate/collector"
	"github.com/estatehq/estate/collector/otlpmetrics"
	"github.com/estatehq/estate/collector/rules"
	"github.com/estatehq/estate/collector/scrape"
	"github.com/estatehq/estate/internal/server"
)

// metricsStore is what the feeds and the rules need of the embedded
// metrics store: where to append, what to query, and the engine to
// query with.
type metricsStore interface {
	AppendableV2() storage.AppendableV2
	Queryable() storage.SampleAndChunkQueryable
	Engine() promql.QueryEngine
}

// collectorJob is the scrape job of the collector's own /metrics.
const collectorJob = "collector"

// feeds are what writes into the embedded metrics store besides the
// queue's OTLP metrics (the scrape of every target's /metrics), and what
// evaluates over it (the rules). They start once the API serves, so the
// collector scrapes itself from the first scrape, and stop first.
type feeds struct {
	scraper *scrape.Scraper
	rules   *rules.Evaluator

	stopHUP context.CancelFunc
	hupDone sync.WaitGroup
}

// newFeeds builds the scrape, the rules and the queue consumer of OTLP
// metrics over ms; the consumer is returned, to be given its cursor.
func (s *Service) newFeeds(ms metricsStore) (collector.Sink, error) {
	cfg, logger, reg := s.opts.Config.Collector, s.opts.Logger, s.opts.Registry
	sink, err := otlpmetrics.New(otlpmetrics.Options{
		Translation: cfg.OTLPMetrics, Appendable: ms.AppendableV2(),
		Logger: logger.With("sink", otlpmetrics.DefaultSinkName), Registerer: reg,
	})
	if err != nil {
		return nil, err
	}
	s.feeds.scraper, err = scrape.New(scrape.Options{
		Config: cfg.Scrape, Appendable: ms.AppendableV2(), Logger: logger.With("part", "scrape"), Registerer: reg,
	})
	if err != nil {
		return nil, err
	}
	s.feeds.rules, err = rules.New(rules.Options{
		Config: cfg.Rules, Engine: ms.Engine(), Queryable: ms.Queryable(), Appendable: ms.AppendableV2(),
		Generated: s.opts.GeneratedRules, Incidents: s.opts.Incidents,
		ExternalURL: "http://" + server.LoopbackAddr(cfg.ListenAddr),
		Logger:      logger.With("part", "rules"), Registerer: reg,
	})
	if err != nil {
		return nil, err
	}
	return sink, nil
}

// startFeeds starts the scrape, with the collector's own API among its
// targets, then the rules, which read their files again on SIGHUP.
func (s *Service) startFeeds(ctx context.Context) error {
	f := &s.feeds
	if err := f.scraper.SetTargets(collectorJob, server.LoopbackAddr(s.api.Addr())); err != nil {
		return err
	}
	if err := f.scraper.Start(ctx); err != nil {
		return err
	}
	if err := f.rules.Start(ctx); err != nil {
		return errors.Join(err, f.scraper.Shutdown(ctx))
	}
	hupCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	f.stopHUP = stop
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	f.hupDone.Go(func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-hupCtx.Done():
				return
			case <-hup:
				if err := f.rules.Reload(hupCtx); err != nil {
					s.opts.Logger.Error("reading the rules on SIGHUP; the previous ones stay", "err", err)
				}
			}
		}
	})
	return nil
}

// stopFeeds stops the rules, then the scrape; it is safe when they never
// started.
func (s *Service) stopFeeds(ctx context.Context) error {
	f := &s.feeds
	if f.stopHUP != nil {
		f.stopHUP()
		f.hupDone.Wait()
	}
	var errs []error
	if f.rules != nil {
		errs = append(errs, f.rules.Shutdown(ctx))
	}
	if f.scraper != nil {
		errs = append(errs, f.scraper.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// SetScrapeTargets sets the addresses (host:port) of the targets of job
// that the estate runs itself, such as the services of `estate up`, once
// they serve; no address removes them (their series are marked stale).
// The configured targets (collector.scrape.targets) stay.
func (s *Service) SetScrapeTargets(job string, addrs ...string) error {
	return s.feeds.scraper.SetTargets(job, addrs...)
}
