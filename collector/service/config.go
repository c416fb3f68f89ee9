package service

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/estatehq/estate/collector/elasticsearch"
	"github.com/estatehq/estate/collector/internal/promotlp"
	"github.com/estatehq/estate/collector/internal/walqueue"
	"github.com/estatehq/estate/collector/jaeger"
	"github.com/estatehq/estate/collector/otlp"
	"github.com/estatehq/estate/collector/otlpexporter"
	promstore "github.com/estatehq/estate/collector/prometheus"
	"github.com/estatehq/estate/collector/red"
	"github.com/estatehq/estate/collector/redact"
	"github.com/estatehq/estate/collector/remotewrite"
	"github.com/estatehq/estate/collector/rules"
	"github.com/estatehq/estate/collector/scrape"
	"github.com/estatehq/estate/collector/sqlite"
	"github.com/estatehq/estate/internal/config"
)

// Config is the collector target's whole configuration: the `collector:`
// group and the exporters' groups beside it (`elasticsearch:`, `jaeger:`,
// `prometheus_remote_write:`, `otlp:`), whose options keep their short
// names (--elasticsearch-url, --otlp-endpoint). Each part is its
// component's own configuration, with its defaults and its Validate; this
// type only puts them together.
type Config struct {
	Collector     CoreConfig           `yaml:"collector"`
	Elasticsearch elasticsearch.Config `yaml:"elasticsearch"`
	Jaeger        jaeger.Config        `yaml:"jaeger"`
	RemoteWrite   remotewrite.Config   `yaml:"prometheus_remote_write"`
	// OTLP forwards every signal to another OTLP receiver: a gateway tier,
	// another collector, an OTLP backend.
	OTLP otlpexporter.Config `yaml:"otlp"`
}

// DeadLetterDirName is the folder under the collector's data folder that
// holds its dead letters: those of the events API's intakes, and those of
// Elasticsearch unless elasticsearch.dead_letter_dir names another.
const DeadLetterDirName = "deadletter"

// CoreConfig is the `collector:` group: flags --collector.*, variables
// ESTATE_COLLECTOR_*.
type CoreConfig struct {
	// ListenAddr serves the events and query API, /metrics and health.
	ListenAddr string             `yaml:"listen_addr"`
	OTLP       otlp.Config        `yaml:"otlp"`
	Memory     otlp.LimiterConfig `yaml:"memory"`
	Queue      walqueue.Config    `yaml:"queue"`
	Export     ExportConfig       `yaml:"export"`
	Store      sqlite.Config      `yaml:"store"`
	RED        red.Config         `yaml:"red"`
	// TSDB is the embedded metrics store and its PromQL engine.
	TSDB promstore.Config `yaml:"tsdb"`
	// Scrape, OTLPMetrics and Rules are what feeds the embedded metrics
	// store and what is evaluated over it.
	Scrape      scrape.Config   `yaml:"scrape"`
	OTLPMetrics promotlp.Config `yaml:"otlp_metrics"`
	Rules       rules.Config    `yaml:"rules"`
	// Redact scrubs what the receiver takes before it is queued.
	Redact redact.Config `yaml:"redact"`
}

// ExportConfig is how sinks read the queue (the `collector.export` group).
type ExportConfig struct {
	BatchRecords   int           `yaml:"batch_records"`
	BatchBytes     int           `yaml:"batch_bytes"`
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	MaxBackoff     time.Duration `yaml:"max_backoff"`
}

// RegisterFlags sets the defaults and binds the flags, named prefix +
// "batch-records" and so on.
func (c *ExportConfig) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.IntVar(&c.BatchRecords, prefix+"batch-records", 512, "queue records a sink takes per delivery")
	fs.IntVar(&c.BatchBytes, prefix+"batch-bytes", 4<<20, "about how many queue bytes a sink takes per delivery")
	fs.DurationVar(&c.InitialBackoff, prefix+"initial-backoff", 100*time.Millisecond, "first wait before a failed delivery is retried; doubles up to max_backoff")
	fs.DurationVar(&c.MaxBackoff, prefix+"max-backoff", 30*time.Second, "longest wait between delivery retries")
}

// Validate names every field at fault, by its key in this group.
func (c *ExportConfig) Validate() error {
	var errs []error
	errs = append(errs, config.Positive("batch_records", c.BatchRecords))
	errs = append(errs, config.Positive("batch_bytes", c.BatchBytes))
	errs = append(errs, config.Positive("initial_backoff", c.InitialBackoff))
	if c.MaxBackoff < c.InitialBackoff {
		errs = append(errs, fmt.Errorf("max_backoff: must be at least initial_backoff (%s), not %s", c.InitialBackoff, c.MaxBackoff))
	}
	return errors.Join(errs...)
}

// RegisterFlags sets every default and binds every flag.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.Collector.RegisterFlags(fs, "collector.")
	c.Elasticsearch.RegisterFlags(fs, "")
	c.Jaeger.RegisterFlags(fs, "")
	c.RemoteWrite.RegisterFlags(fs, "")
	c.OTLP.RegisterFlags(fs, "")
}

// Validate names every field at fault by its full key.
func (c *Config) Validate() error {
	// An empty dead-letter folder means the collector's own, which New
	// resolves under its data folder.
	es := c.Elasticsearch
	if es.DeadLetterDir == "" {
		es.DeadLetterDir = DeadLetterDirName
	}
	return errors.Join(
		config.Under("collector.", c.Collector.Validate()),
		es.Validate(),
		c.Jaeger.Validate(),
		c.RemoteWrite.Validate(),
		c.OTLP.Validate(),
	)
}

// ListenAddrs are the addresses a port offset applies to.
func (c *Config) ListenAddrs() []*string {
	return []*string{&c.Collector.ListenAddr, &c.Collector.OTLP.GRPCListenAddr, &c.Collector.OTLP.HTTPListenAddr}
}

// RegisterFlags sets the defaults and binds the flags of the group, named
// prefix + "listen-addr", prefix + "otlp.grpc-listen-addr" and so on.
func (c *CoreConfig) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.StringVar(&c.ListenAddr, prefix+"listen-addr", ":8088", "collector events and query API address (GET /v1/logs, /v1/traces, Prometheus's /api/v1), with /metrics, /healthz, /readyz")
	c.OTLP.RegisterFlags(fs, prefix+"otlp.")
	c.Memory.RegisterFlags(fs, prefix+"memory.")
	c.Queue.RegisterFlags(fs, prefix+"queue.")
	c.Export.RegisterFlags(fs, prefix+"export.")
	c.Store.RegisterFlags(fs, prefix+"store.")
	c.RED.RegisterFlags(fs, prefix+"red.")
	c.TSDB.RegisterFlags(fs, prefix+"tsdb.")
	c.Scrape.RegisterFlags(fs, prefix+"scrape.")
	c.OTLPMetrics.RegisterFlags(fs, prefix+"otlp-metrics.")
	c.Rules.RegisterFlags(fs, prefix+"rules.")
	c.Redact.RegisterFlags(fs, prefix+"redact.")
}

// Validate names every field at fault, by its key in this group, and checks
// the settings that depend on one another.
func (c *CoreConfig) Validate() error {
	errs := []error{
		config.ListenAddr("listen_addr", c.ListenAddr),
		config.Under("otlp.", c.OTLP.Validate()),
		config.Under("memory.", c.Memory.Validate()),
		config.Under("queue.", c.Queue.Validate()),
		config.Under("export.", c.Export.Validate()),
		config.Under("store.", c.Store.Validate()),
		config.Under("red.", c.RED.Validate()),
		config.Under("tsdb.", c.TSDB.Validate()),
		config.Under("scrape.", c.Scrape.Validate()),
		config.Under("otlp_metrics.", c.OTLPMetrics.Validate()),
		config.Under("rules.", c.Rules.Validate()),
		config.Under("redact.", c.Redact.Validate()),
	}
	// A request is one queue record: it must fit in a segment.
	if c.Queue.SegmentBytes > 0 && c.OTLP.MaxRequestBytes > c.Queue.SegmentBytes {
		errs = append(errs, fmt.Errorf("otlp.max_request_bytes: must be at most queue.segment_bytes (%d), not %d", c.Queue.SegmentBytes, c.OTLP.MaxRequestBytes))
	}
	return errors.Join(errs...)
}
