package walqueue

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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

// WhenFull says what Append does when the queue is at its byte bound.
type WhenFull string

const (
	// WhenFullReject refuses the append with ErrFull (backpressure).
	WhenFullReject WhenFull = "reject"
	// WhenFullDropOldest deletes the oldest sealed segment, counting its
	// records as dropped, to make room.
	WhenFullDropOldest WhenFull = "drop_oldest"
)

// Options are what a queue is opened with. Zero values take the defaults
// listed on each field.
type Options struct {
	// Dir holds the queue: segments/, cursors/ and quarantine/.
	Dir string
	// Consumers names every reader whose cursor holds segments on disk. A
	// cursor file of a name not listed is removed at Open.
	Consumers []string
	// MaxBytes bounds the bytes on disk plus those waiting to be written;
	// default 1 GiB.
	MaxBytes int64
	// SegmentBytes is the size at which the active segment is sealed and a
	// new one started; default 16 MiB.
	SegmentBytes int64
	// MaxRecordBytes bounds one record; default 16 MiB.
	MaxRecordBytes int
	// Durability is fsync (default), interval or none.
	Durability Durability
	// SyncInterval is the fsync period of DurabilityInterval; default 100 ms.
	SyncInterval time.Duration
	// WhenFull is reject (default) or drop_oldest.
	WhenFull WhenFull

	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock stamping records; default time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.MaxBytes == 0 {
		o.MaxBytes = 1 << 30
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = 16 << 20
	}
	if o.MaxRecordBytes == 0 {
		o.MaxRecordBytes = 16 << 20
	}
	if o.Durability == "" {
		o.Durability = DurabilityFsync
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = 100 * time.Millisecond
	}
	if o.WhenFull == "" {
		o.WhenFull = WhenFullReject
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
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("dir: must not be empty"))
	}
	if o.MaxBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_bytes: must be positive, not %d", o.MaxBytes))
	}
	if o.SegmentBytes <= segmentHeaderSize {
		errs = append(errs, fmt.Errorf("segment_bytes: must be more than %d, not %d", segmentHeaderSize, o.SegmentBytes))
	}
	if o.MaxBytes > 0 && o.SegmentBytes > o.MaxBytes/2 {
		errs = append(errs, fmt.Errorf("segment_bytes: must be at most half of max_bytes (%d), not %d", o.MaxBytes/2, o.SegmentBytes))
	}
	if o.MaxRecordBytes <= 0 || o.MaxRecordBytes > maxFrameLen {
		errs = append(errs, fmt.Errorf("max_record_bytes: must be between 1 and %d, not %d", maxFrameLen, o.MaxRecordBytes))
	}
	switch o.Durability {
	case DurabilityFsync, DurabilityInterval, DurabilityNone:
	default:
		errs = append(errs, fmt.Errorf("durability: must be fsync, interval or none, not %q", o.Durability))
	}
	if o.SyncInterval <= 0 {
		errs = append(errs, fmt.Errorf("sync_interval: must be positive, not %s", o.SyncInterval))
	}
	switch o.WhenFull {
	case WhenFullReject, WhenFullDropOldest:
	default:
		errs = append(errs, fmt.Errorf("when_full: must be reject or drop_oldest, not %q", o.WhenFull))
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
