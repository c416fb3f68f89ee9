package prometheus

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/estatehq/estate/internal/config"
)

// Defaults of the store's settings, written once: Config.RegisterFlags
// binds them.
const (
	// DefaultRetention keeps the longest SLO window (a calendar month, 31
	// days) with room to spare.
	DefaultRetention = 35 * 24 * time.Hour
	// DefaultMaxBytes bounds the store on disk: blocks, WAL and the head's
	// chunks.
	DefaultMaxBytes = 4 << 30
	// DefaultMaxSeries bounds the head: 3.5 to 5 KiB of RSS a series at a
	// 15 s interval, about 230 MiB for the collector at the bound
	// (docs/benchmarks.md).
	DefaultMaxSeries = 50_000
	// DefaultOutOfOrderWindow accepts samples that arrive late, as pushed
	// OTLP metrics retried after an outage do.
	DefaultOutOfOrderWindow = 10 * time.Minute
	// The query defaults are Prometheus's own.
	DefaultQueryTimeout        = 2 * time.Minute
	DefaultQueryMaxSamples     = 50_000_000
	DefaultQueryMaxConcurrency = 20
	DefaultLookbackDelta       = 5 * time.Minute
	// DefaultSubqueryStep is the step of a subquery that names none
	// ([30m:]), Prometheus's default evaluation interval.
	DefaultSubqueryStep = time.Minute
)

// Config is what an operator sets of the embedded metrics store (the
// `collector.tsdb` group of the collector's configuration).
type Config struct {
	// Retention deletes blocks whose samples are all older than this,
	// measured from the newest sample.
	Retention time.Duration `yaml:"retention"`
	// MaxBytes deletes the oldest blocks while the store on disk (blocks,
	// WAL and the head's chunks) takes more than this; 0 turns the size
	// bound off.
	MaxBytes int64 `yaml:"max_bytes"`
	// MaxSeries bounds the series in the head (the in-memory block of the
	// last hours): an append that would create a series beyond it is
	// refused with ErrSeriesLimit and counted; series already there take
	// samples as before.
	MaxSeries int `yaml:"max_series"`
	// OutOfOrderWindow is how far behind a series' newest sample a sample
	// may still be appended; 0 refuses every out-of-order sample.
	OutOfOrderWindow time.Duration `yaml:"out_of_order_window"`
	// QueryTimeout bounds one PromQL query.
	QueryTimeout time.Duration `yaml:"query_timeout"`
	// QueryMaxSamples bounds the samples one query holds in memory at once.
	QueryMaxSamples int `yaml:"query_max_samples"`
	// QueryMaxConcurrency bounds the queries evaluated at once; more wait.
	QueryMaxConcurrency int `yaml:"query_max_concurrency"`
	// LookbackDelta is how far back an instant selector looks for a sample.
	LookbackDelta time.Duration `yaml:"lookback_delta"`
	// SubqueryStep is the step of a subquery that names none.
	SubqueryStep time.Duration `yaml:"subquery_step"`
}

// RegisterFlags sets the defaults and binds the flags, named prefix +
// "retention" and so on.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.DurationVar(&c.Retention, prefix+"retention", DefaultRetention, "embedded metrics store: delete blocks older than this")
	fs.Int64Var(&c.MaxBytes, prefix+"max-bytes", DefaultMaxBytes, "embedded metrics store: delete the oldest blocks while blocks, WAL and head chunks take more than this many bytes; 0 for no size bound")
	fs.IntVar(&c.MaxSeries, prefix+"max-series", DefaultMaxSeries, "embedded metrics store: most series in memory; appends that would create more are refused and counted")
	fs.DurationVar(&c.OutOfOrderWindow, prefix+"out-of-order-window", DefaultOutOfOrderWindow, "embedded metrics store: accept samples up to this far behind a series' newest; 0 refuses them")
	fs.DurationVar(&c.QueryTimeout, prefix+"query-timeout", DefaultQueryTimeout, "longest a PromQL query may run")
	fs.IntVar(&c.QueryMaxSamples, prefix+"query-max-samples", DefaultQueryMaxSamples, "most samples a PromQL query may hold in memory at once")
	fs.IntVar(&c.QueryMaxConcurrency, prefix+"query-max-concurrency", DefaultQueryMaxConcurrency, "most PromQL queries evaluated at once")
	fs.DurationVar(&c.LookbackDelta, prefix+"lookback-delta", DefaultLookbackDelta, "how far back a PromQL instant selector looks for a sample")
	fs.DurationVar(&c.SubqueryStep, prefix+"subquery-step", DefaultSubqueryStep, "step of a PromQL subquery that names none")
}

// Validate names every field at fault, by its key in this group.
func (c *Config) Validate() error {
	errs := []error{
		config.Positive("retention", c.Retention),
		config.Positive("max_series", c.MaxSeries),
		config.Positive("query_timeout", c.QueryTimeout),
		config.Positive("query_max_samples", c.QueryMaxSamples),
		config.Positive("query_max_concurrency", c.QueryMaxConcurrency),
		config.Positive("lookback_delta", c.LookbackDelta),
		config.Positive("subquery_step", c.SubqueryStep),
	}
	if c.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("max_bytes: must not be negative, not %d", c.MaxBytes))
	}
	if c.OutOfOrderWindow < 0 {
		errs = append(errs, fmt.Errorf("out_of_order_window: must not be negative, not %s", c.OutOfOrderWindow))
	}
	return errors.Join(errs...)
}
