package walqueue

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/estatehq/estate/internal/config"
)

// Durability says when Append returns relative to the disk.
type Durability string

const (
	// DurabilityFsync returns once the record is fsynced: it survives a
	// process crash and a power loss. Concurrent appends share one fsync.
	DurabilityFsync Durability = "fsync"
	// DurabilityInterval returns once the record is written to the kernel
	// and fsyncs every SyncInterval: it survives a process crash; a power
	// loss can lose up to SyncInterval of acknowledged records.
	DurabilityInterval Durability = "interval"
	// DurabilityNone returns once the record is written to the kernel and
	// leaves flushing to the operating system: it survives a process crash;
	// a power loss can lose whatever the kernel had not written back.
	DurabilityNone Durability = "none"
)

// String and Set make a Durability a flag value; Validate checks it.
func (d *Durability) String() string { return string(*d) }

// Set implements flag.Value.
func (d *Durability) Set(s string) error { *d = Durability(s); return nil }

// WhenFull says what Append does when the queue is at its byte bound.
type WhenFull string

const (
	// WhenFullReject refuses the append with ErrFull (backpressure).
	WhenFullReject WhenFull = "reject"
	// WhenFullDropOldest deletes the oldest sealed segment, counting its
	// records as dropped, to make room.
	WhenFullDropOldest WhenFull = "drop_oldest"
)

// Defaults of the queue's settings, written once: Config.RegisterFlags
// binds them and Open applies them to zero Options.
const (
	DefaultMaxBytes       int64 = 1 << 30
	DefaultSegmentBytes   int64 = 16 << 20
	DefaultMaxRecordBytes       = 16 << 20
	DefaultDurability           = DurabilityFsync
	DefaultSyncInterval         = 100 * time.Millisecond
	DefaultWhenFull             = WhenFullReject
)

// Config is what an operator sets of the queue (the `collector.queue`
// group of the collector's configuration).
type Config struct {
	// MaxBytes bounds the bytes on disk plus those waiting to be written.
	MaxBytes int64 `yaml:"max_bytes"`
	// SegmentBytes is the size at which the active segment is sealed and a
	// new one started; at most half of MaxBytes.
	SegmentBytes int64 `yaml:"segment_bytes"`
	// Durability is fsync, interval or none.
	Durability Durability `yaml:"durability"`
	// SyncInterval is the fsync period of DurabilityInterval.
	SyncInterval time.Duration `yaml:"sync_interval"`
	// WhenFull is reject or drop_oldest.
	WhenFull WhenFull `yaml:"when_full"`
}

// RegisterFlags sets the defaults and binds the flags, named prefix +
// "max-bytes" and so on (prefix is empty or ends with a separator).
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.Int64Var(&c.MaxBytes, prefix+"max-bytes", DefaultMaxBytes, "durable queue bound in bytes; when full, ingest answers 429 (when_full: reject) or the oldest segment is dropped and counted (drop_oldest)")
	fs.Int64Var(&c.SegmentBytes, prefix+"segment-bytes", DefaultSegmentBytes, "size of a queue segment file; at most half of max_bytes")
	c.Durability = DefaultDurability
	fs.Var(&c.Durability, prefix+"durability", "when a request is acknowledged: fsync (on disk, survives power loss), interval (written; fsynced every sync_interval: a power loss loses up to that much), none (written; the OS flushes: a power loss loses what it had not)")
	fs.DurationVar(&c.SyncInterval, prefix+"sync-interval", DefaultSyncInterval, "fsync period of durability: interval")
	c.WhenFull = DefaultWhenFull
	fs.Var(&c.WhenFull, prefix+"when-full", "what a full queue does: reject (429 / RESOURCE_EXHAUSTED, nothing dropped) or drop_oldest (delete the oldest segment, counted in estate_collector_queue_dropped_records_total)")
}

// setDefaults fills the zero fields.
func (c *Config) setDefaults() {
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.SegmentBytes == 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.Durability == "" {
		c.Durability = DefaultDurability
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = DefaultSyncInterval
	}
	if c.WhenFull == "" {
		c.WhenFull = DefaultWhenFull
	}
}

// Validate names every field at fault, by its key in this group.
func (c *Config) Validate() error {
	var errs []error
	errs = append(errs, config.Positive("max_bytes", c.MaxBytes))
	if c.SegmentBytes <= segmentHeaderSize {
		errs = append(errs, fmt.Errorf("segment_bytes: must be more than %d, not %d", segmentHeaderSize, c.SegmentBytes))
	}
	if c.MaxBytes > 0 && c.SegmentBytes > c.MaxBytes/2 {
		errs = append(errs, fmt.Errorf("segment_bytes: must be at most half of max_bytes (%d), not %d", c.MaxBytes/2, c.SegmentBytes))
	}
	switch c.Durability {
	case DurabilityFsync, DurabilityInterval, DurabilityNone:
	default:
		errs = append(errs, fmt.Errorf("durability: must be fsync, interval or none, not %q", c.Durability))
	}
	errs = append(errs, config.Positive("sync_interval", c.SyncInterval))
	switch c.WhenFull {
	case WhenFullReject, WhenFullDropOldest:
	default:
		errs = append(errs, fmt.Errorf("when_full: must be reject or drop_oldest, not %q", c.WhenFull))
	}
	return errors.Join(errs...)
}

// String and Set make a WhenFull a flag value; Validate checks it.
func (w *WhenFull) String() string { return string(*w) }

// Set implements flag.Value.
func (w *WhenFull) Set(s string) error { *w = WhenFull(s); return nil }

// Options are what a queue is opened with. Zero values take the defaults.
type Options struct {
	Config
	// Dir holds the queue: segments/, cursors/ and quarantine/.
	Dir string
	// Consumers names every reader whose cursor holds segments on disk. A
	// cursor file of a name not listed is removed at Open.
	Consumers []string
	// MaxRecordBytes bounds one record; default DefaultMaxRecordBytes.
	MaxRecordBytes int

	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock stamping records; default time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	o.Config.setDefaults()
	if o.MaxRecordBytes == 0 {
		o.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Validate names every field at fault.
func (o *Options) Validate() error {
	errs := []error{o.Config.Validate()}
	if o.Dir == "" {
		errs = append(errs, errors.New("dir: must not be empty"))
	}
	if o.MaxRecordBytes <= 0 || o.MaxRecordBytes > maxFrameLen {
		errs = append(errs, fmt.Errorf("max_record_bytes: must be between 1 and %d, not %d", maxFrameLen, o.MaxRecordBytes))
	}
	seen := map[string]bool{}
	for _, c := range o.Consumers {
		if !validName(c) {
			errs = append(errs, fmt.Errorf("consumers: %q must be 1 to 64 letters, digits, '-' or '_'", c))
		}
		if seen[c] {
			errs = append(errs, fmt.Errorf("consumers: %q listed twice", c))
		}
		seen[c] = true
	}
	return errors.Join(errs...)
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
		default:
			return false
		}
	}
	return true
}
