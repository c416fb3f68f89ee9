// Package prometheus is the collector's embedded metrics store, built from
// Prometheus's own libraries as Grafana Alloy and Thanos build theirs: a
// tsdb on disk under <data-dir>/collector/tsdb (WAL, compaction and
// retention by time and size are the TSDB's own), the promql engine over
// it, and Prometheus's HTTP API (web/api/v1) on the collector's API port.
//
// The feeds (the scrape of /metrics, OTLP metrics) append through
// Appendable; the rules and the SLOs query through Queryable, Engine or
// Querier, which is the in-process backend of internal/promquery. Memory is
// bounded by a limit on the series in the head: an append that would
// create a series beyond it is refused with ErrSeriesLimit and counted.
package prometheus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/compression"

	"github.com/estatehq/estate/internal/promquery"
)

// ErrSeriesLimit is the error of an append that would create a series
// beyond Config.MaxSeries. It is also storage.ErrOutOfBounds
// (errors.Is), the class of refusal Prometheus's scrape loop counts and
// skips: a target that brings a new series past the bound keeps its other
// series, instead of failing its whole scrape.
var ErrSeriesLimit = fmt.Errorf("series limit reached (%w)", storage.ErrOutOfBounds)

// Options are what a Store is built from.
type Options struct {
	Config Config
	// Dir is the TSDB's folder, normally <data-dir>/collector/tsdb; it is
	// created when missing.
	Dir string
	// Logger is tagged by the caller; the TSDB and the engine log through it.
	Logger *slog.Logger
	// Registerer receives the TSDB's and the engine's metrics
	// (prometheus_tsdb_*, prometheus_engine_*) and the store's own
	// (estate_collector_tsdb_*); nil registers nothing.
	Registerer prometheus.Registerer
}

// Store is the embedded metrics store: an open TSDB and a PromQL engine
// over it.
type Store struct {
	db      *tsdb.DB
	engine  *gatedEngine
	tracker *promql.ActiveQueryTracker
	logger  *slog.Logger
	cfg     Config

	closeOnce sync.Once
	closeErr  error
}

// Open opens (or creates) the TSDB in o.Dir, replaying its WAL, and builds
// the engine. The TSDB starts compacting and applying retention at once,
// on its own goroutine, until Shutdown.
func Open(o Options) (*Store, error) {
	if err := o.Config.Validate(); err != nil {
		return nil, fmt.Errorf("invalid tsdb configuration: %w", err)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating tsdb folder: %w", err)
	}
	cfg := o.Config
	limit := &seriesLimit{max: uint64(cfg.MaxSeries)}
	limit.refused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "estate_collector_tsdb_series_limit_refusals_total",
		Help: "Appends the embedded metrics store refused because they would create a series beyond collector.tsdb.max_series.",
	})
	maxSeries := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "estate_collector_tsdb_max_series",
		Help: "The bound on series in the embedded metrics store's head (collector.tsdb.max_series); prometheus_tsdb_head_series is the count.",
	})
	maxSeries.Set(float64(cfg.MaxSeries))
	if o.Registerer != nil {
		if err := registerAll(o.Registerer, limit.refused, maxSeries); err != nil {
			return nil, err
		}
	}

	opts := tsdb.DefaultOptions()
	opts.RetentionDuration = cfg.Retention.Milliseconds()
	opts.MaxBytes = cfg.MaxBytes
	opts.OutOfOrderTimeWindow = cfg.OutOfOrderWindow.Milliseconds()
	opts.WALCompression = compression.Snappy
	// A counter's start time (the scrape's protocol-buffer
	// created_timestamp, an OTLP point's start time) is stored as a zero
	// sample before the counter's first sample: see collector/scrape.
	opts.EnableSTAsZeroSample = true
	// Blocks grow by compaction up to a tenth of the retention (at most 31
	// days), as Prometheus sizes them, so retention deletes in small steps.
	opts.MaxBlockDuration = max(opts.MinBlockDuration, min(cfg.Retention.Milliseconds()/10, (31*24*time.Hour).Milliseconds()))
	opts.SeriesLifecycleCallback = limit
	db, err := tsdb.Open(o.Dir, o.Logger.With("part", "tsdb"), o.Registerer, opts, nil)
	if err != nil {
		return nil, fmt.Errorf("opening tsdb: %w", err)
	}
	// The bound holds from here: a WAL replay recreates what was there.
	limit.head.Store(db.Head())

	tracker, err := promql.NewActiveQueryTracker(o.Dir, cfg.QueryMaxConcurrency, o.Logger.With("part", "query-tracker"))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("query tracker: %w", err), db.Close())
	}
	subqueryStep := cfg.SubqueryStep.Milliseconds()
	engine := promql.NewEngine(promql.EngineOpts{
		Logger:                   o.Logger.With("part", "promql"),
		Reg:                      o.Registerer,
		MaxSamples:               cfg.QueryMaxSamples,
		Timeout:                  cfg.QueryTimeout,
		ActiveQueryTracker:       tracker,
		LookbackDelta:            cfg.LookbackDelta,
		NoStepSubqueryIntervalFn: func(int64) int64 { return subqueryStep },
		// Always on in Prometheus since 2.33: PromQL as users know it.
		EnableAtModifier:     true,
		EnableNegativeOffset: true,
	})
	return &Store{db: db, engine: &gatedEngine{engine: engine}, tracker: tracker, logger: o.Logger, cfg: cfg}, nil
}

func registerAll(r prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			return fmt.Errorf("registering tsdb metrics: %w", err)
		}
	}
	return nil
}

// Start does nothing: the TSDB compacts and applies retention on its own
// from Open. It gives the store the lifecycle of the collector's other
// parts.
func (s *Store) Start(context.Context) error { return nil }

// Shutdown refuses new queries, waits for those running until ctx ends,
// and closes the TSDB: in-flight appends are committed or lost as the WAL
// has them, and a crash instead loses at most what the WAL had not
// written. Queries still running when ctx ends keep the query tracker
// open (closing it under them would crash the process); the TSDB waits
// for their readers. It is safe to call more than once.
func (s *Store) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() {
		if !s.engine.close(ctx) {
			s.logger.Warn("queries still running at shutdown; the query tracker is left open")
			s.closeErr = s.db.Close()
			return
		}
		s.closeErr = errors.Join(s.db.Close(), s.tracker.Close())
	})
	return s.closeErr
}

// Ping reports whether the store answers queries, for readiness.
func (s *Store) Ping(context.Context) error {
	q, err := s.db.Querier(0, 0)
	if err != nil {
		return fmt.Errorf("tsdb: %w", err)
	}
	return q.Close()
}

// Appendable is where feeds append samples. An append that would create a
// series beyond Config.MaxSeries fails with ErrSeriesLimit.
func (s *Store) Appendable() storage.Appendable { return s.db }

// AppendableV2 is Appendable with the appender interface that Prometheus's
// scrape and rules packages take.
func (s *Store) AppendableV2() storage.AppendableV2 { return s.db }

// Queryable reads the store, for Prometheus's rules and API packages.
func (s *Store) Queryable() storage.SampleAndChunkQueryable { return s.db }

// Engine is the PromQL engine over the store, with the configured timeout,
// sample bound, concurrency bound and lookback delta.
func (s *Store) Engine() promql.QueryEngine { return s.engine }

// Querier is the in-process backend of the one query interface.
func (s *Store) Querier() *promquery.Engine { return promquery.NewEngine(s.engine, s.db) }

// HeadSeries is the number of series in the head, which MaxSeries bounds.
func (s *Store) HeadSeries() uint64 { return s.db.Head().NumSeries() }

// seriesLimit refuses the creation of a series beyond max, through the
// TSDB's series lifecycle hook, which every appender goes through (it is
// how Cortex bounds its ingesters). The check and the creation are not one
// step, so concurrent appends may overshoot by the number of appenders in
// flight. A refused series can be created once head compaction drops
// series that stopped receiving samples.
type seriesLimit struct {
	max     uint64
	head    atomic.Pointer[tsdb.Head]
	refused prometheus.Counter
}

// PreCreation is called before a series is created. During the WAL replay
// of Open, head is not set yet: what was stored is recreated whatever the
// bound, which may have been lowered since. The scrape's own report series
// (up, scrape_*) are always admitted: five per target, they are what says
// that a target is up while its other series are refused.
func (l *seriesLimit) PreCreation(ls labels.Labels) error {
	h := l.head.Load()
	if h == nil || h.NumSeries() < l.max || scrapeReport(ls.Get(model.MetricNameLabel)) {
		return nil
	}
	l.refused.Inc()
	return fmt.Errorf("%w: the embedded metrics store holds %d series (collector.tsdb.max_series)", ErrSeriesLimit, l.max)
}

// scrapeReport reports whether name is one of the series a scrape writes
// about itself.
func scrapeReport(name string) bool {
	switch name {
	case "up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling", "scrape_series_added":
		return true
	}
	return false
}

func (*seriesLimit) PostCreation(labels.Labels)                          {}
func (*seriesLimit) PostDeletion(map[chunks.HeadSeriesRef]labels.Labels) {}
