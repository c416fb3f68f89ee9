package collector

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"time"
)

// Config is the collector target's configuration: the `collector:` section
// of the YAML file, flags `--collector.*`, variables ESTATE_COLLECTOR_*.
type Config struct {
	// ListenAddr serves the events and query API, /metrics and health.
	ListenAddr string       `yaml:"listen_addr"`
	OTLP       OTLPConfig   `yaml:"otlp"`
	Memory     MemoryConfig `yaml:"memory"`
	Queue      QueueConfig  `yaml:"queue"`
	Export     ExportConfig `yaml:"export"`
	Store      StoreConfig  `yaml:"store"`
	RED        REDConfig    `yaml:"red"`
}

// OTLPConfig is the OTLP receiver.
type OTLPConfig struct {
	GRPCListenAddr  string `yaml:"grpc_listen_addr"`
	HTTPListenAddr  string `yaml:"http_listen_addr"`
	MaxRequestBytes int64  `yaml:"max_request_bytes"`
}

// MemoryConfig is the memory limiter.
type MemoryConfig struct {
	// MaxInflightBytes bounds the bytes of requests being decoded and
	// queued at once; above it ingest answers 429 / RESOURCE_EXHAUSTED.
	MaxInflightBytes int64 `yaml:"max_inflight_bytes"`
	// RetryAfter is the delay suggested to refused clients.
	RetryAfter time.Duration `yaml:"retry_after"`
}

// QueueConfig is the durable queue.
type QueueConfig struct {
	MaxBytes     int64         `yaml:"max_bytes"`
	SegmentBytes int64         `yaml:"segment_bytes"`
	Durability   string        `yaml:"durability"`
	SyncInterval time.Duration `yaml:"sync_interval"`
	WhenFull     string        `yaml:"when_full"`
}

// ExportConfig is how sinks read the queue.
type ExportConfig struct {
	BatchRecords   int           `yaml:"batch_records"`
	BatchBytes     int           `yaml:"batch_bytes"`
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	MaxBackoff     time.Duration `yaml:"max_backoff"`
}

// StoreConfig is the embedded log and trace store.
type StoreConfig struct {
	MaxAge            time.Duration `yaml:"max_age"`
	MaxBytes          int64         `yaml:"max_bytes"`
	RetentionInterval time.Duration `yaml:"retention_interval"`
}

// REDConfig is the span-derived RED rollups.
type REDConfig struct {
	// MaxSeries bounds the (service, route, status class) series; spans
	// beyond it go to the overflow series.
	MaxSeries int `yaml:"max_series"`
}

// RegisterFlags sets every default and binds every flag.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.ListenAddr, "collector.listen-addr", ":8088", "collector events and query API address (GET /v1/logs, /v1/traces), with /metrics, /healthz, /readyz")
	fs.StringVar(&c.OTLP.GRPCListenAddr, "collector.otlp.grpc-listen-addr", ":4317", "OTLP/gRPC receiver address")
	fs.StringVar(&c.OTLP.HTTPListenAddr, "collector.otlp.http-listen-addr", ":4318", "OTLP/HTTP receiver address (POST /v1/traces, /v1/logs, /v1/metrics; protobuf or JSON, gzip)")
	fs.Int64Var(&c.OTLP.MaxRequestBytes, "collector.otlp.max-request-bytes", 16<<20, "largest OTLP request accepted, in bytes, after decompression; larger ones get 413 / INVALID_ARGUMENT")
	fs.Int64Var(&c.Memory.MaxInflightBytes, "collector.memory.max-inflight-bytes", 256<<20, "memory limiter: bytes of requests in flight at once; above it ingest answers 429 / RESOURCE_EXHAUSTED")
	fs.DurationVar(&c.Memory.RetryAfter, "collector.memory.retry-after", time.Second, "Retry-After suggested to clients refused by the memory limiter or a full queue")
	fs.Int64Var(&c.Queue.MaxBytes, "collector.queue.max-bytes", 1<<30, "durable queue bound in bytes; when full, ingest answers 429 (when_full: reject) or the oldest segment is dropped and counted (drop_oldest)")
	fs.Int64Var(&c.Queue.SegmentBytes, "collector.queue.segment-bytes", 16<<20, "size of a queue segment file; at most half of max_bytes")
	fs.StringVar(&c.Queue.Durability, "collector.queue.durability", "fsync", "when a request is acknowledged: fsync (on disk, survives power loss), interval (written; fsynced every sync_interval: a power loss loses up to that much), none (written; the OS flushes: a power loss loses what it had not)")
	fs.DurationVar(&c.Queue.SyncInterval, "collector.queue.sync-interval", 100*time.Millisecond, "fsync period of durability: interval")
	fs.StringVar(&c.Queue.WhenFull, "collector.queue.when-full", "reject", "what a full queue does: reject (429 / RESOURCE_EXHAUSTED, nothing dropped) or drop_oldest (delete the oldest segment, counted in estate_collector_queue_dropped_records_total)")
	fs.IntVar(&c.Export.BatchRecords, "collector.export.batch-records", 512, "queue records a sink takes per delivery")
	fs.IntVar(&c.Export.BatchBytes, "collector.export.batch-bytes", 4<<20, "about how many queue bytes a sink takes per delivery")
	fs.DurationVar(&c.Export.InitialBackoff, "collector.export.initial-backoff", 100*time.Millisecond, "first wait before a failed delivery is retried; doubles up to max_backoff")
	fs.DurationVar(&c.Export.MaxBackoff, "collector.export.max-backoff", 30*time.Second, "longest wait between delivery retries")
	fs.DurationVar(&c.Store.MaxAge, "collector.store.max-age", 7*24*time.Hour, "embedded log and trace store: delete records older than this")
	fs.Int64Var(&c.Store.MaxBytes, "collector.store.max-bytes", 2<<30, "embedded log and trace store: delete the oldest records above this many bytes")
	fs.DurationVar(&c.Store.RetentionInterval, "collector.store.retention-interval", time.Minute, "how often the embedded store applies max_age and max_bytes")
	fs.IntVar(&c.RED.MaxSeries, "collector.red.max-series", 2000, "span-derived RED rollups: most (service, route, status class) series; spans beyond go to the __overflow__ series")
}

// Validate names every field at fault.
func (c *Config) Validate() error {
	var errs []error
	for key, addr := range map[string]string{
		"collector.listen_addr":           c.ListenAddr,
		"collector.otlp.grpc_listen_addr": c.OTLP.GRPCListenAddr,
		"collector.otlp.http_listen_addr": c.OTLP.HTTPListenAddr,
	} {
		if err := validateAddr(key, addr); err != nil {
			errs = append(errs, err)
		}
	}
	positive := func(key string, v int64) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, not %d", key, v))
		}
	}
	positiveDur := func(key string, v time.Duration) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, not %s", key, v))
		}
	}
	positive("collector.otlp.max_request_bytes", c.OTLP.MaxRequestBytes)
	positive("collector.memory.max_inflight_bytes", c.Memory.MaxInflightBytes)
	positiveDur("collector.memory.retry_after", c.Memory.RetryAfter)
	positive("collector.queue.max_bytes", c.Queue.MaxBytes)
	positive("collector.queue.segment_bytes", c.Queue.SegmentBytes)
	if c.Queue.MaxBytes > 0 && c.Queue.SegmentBytes > c.Queue.MaxBytes/2 {
		errs = append(errs, fmt.Errorf("collector.queue.segment_bytes: must be at most half of max_bytes (%d), not %d", c.Queue.MaxBytes/2, c.Queue.SegmentBytes))
	}
	if c.OTLP.MaxRequestBytes > c.Queue.SegmentBytes && c.Queue.SegmentBytes > 0 {
		errs = append(errs, fmt.Errorf("collector.otlp.max_request_bytes: must be at most queue.segment_bytes (%d), not %d", c.Queue.SegmentBytes, c.OTLP.MaxRequestBytes))
	}
	switch c.Queue.Durability {
	case "fsync", "interval", "none":
	default:
		errs = append(errs, fmt.Errorf("collector.queue.durability: must be fsync, interval or none, not %q", c.Queue.Durability))
	}
	positiveDur("collector.queue.sync_interval", c.Queue.SyncInterval)
	switch c.Queue.WhenFull {
	case "reject", "drop_oldest":
	default:
		errs = append(errs, fmt.Errorf("collector.queue.when_full: must be reject or drop_oldest, not %q", c.Queue.WhenFull))
	}
	positive("collector.export.batch_records", int64(c.Export.BatchRecords))
	positive("collector.export.batch_bytes", int64(c.Export.BatchBytes))
	positiveDur("collector.export.initial_backoff", c.Export.InitialBackoff)
	if c.Export.MaxBackoff < c.Export.InitialBackoff {
		errs = append(errs, fmt.Errorf("collector.export.max_backoff: must be at least initial_backoff (%s), not %s", c.Export.InitialBackoff, c.Export.MaxBackoff))
	}
	positiveDur("collector.store.max_age", c.Store.MaxAge)
	positive("collector.store.max_bytes", c.Store.MaxBytes)
	positiveDur("collector.store.retention_interval", c.Store.RetentionInterval)
	positive("collector.red.max_series", int64(c.RED.MaxSeries))
	return errors.Join(errs...)
}

// ListenAddrs are the addresses the port offset applies to.
func (c *Config) ListenAddrs() []*string {
	return []*string{&c.ListenAddr, &c.OTLP.GRPCListenAddr, &c.OTLP.HTTPListenAddr}
}

func validateAddr(key, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s: must be host:port, not %q", key, addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%s: port must be a number from 0 to 65535, not %q", key, port)
	}
	return nil
}
