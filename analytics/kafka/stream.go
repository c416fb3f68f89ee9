package kafka

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/estatehq/estate/analytics"
	"github.com/estatehq/estate/internal/modules"
	"github.com/estatehq/estate/metrics"
)

// DefaultInterval is how often a Stream looks for new events.
const DefaultInterval = time.Minute

// StreamOptions configure a Stream.
type StreamOptions struct {
	// Publisher sends the records. Required; the Stream does not close it.
	Publisher *Publisher
	// Events reads the whole event log. Required.
	Events func(ctx context.Context) ([]metrics.Event, error)
	// StatePath is the file that lists the keys of the events already
	// published, one a line, Go-quoted (a key may hold any character), so that a restarted process does not publish
	// them again. Required.
	StatePath string
	// Interval is how often the log is read; DefaultInterval when zero.
	Interval time.Duration
	// Logger receives errors; discarded when nil.
	Logger *slog.Logger
}

// Stream publishes the event log to Kafka as it grows: every interval it
// reads the log, publishes the events it has not published yet, then the
// deployments and incidents whose folded rows changed. The store stays
// the source of truth: while Kafka is down, the events wait there, and go
// out when it is back.
type Stream struct {
	o         StreamOptions
	published map[string]bool
	bg        modules.Background
}

// NewStream loads the keys already published from StatePath. Errors: a
// missing option, or the state file unreadable.
func NewStream(o StreamOptions) (*Stream, error) {
	var errs []error
	if o.Publisher == nil {
		errs = append(errs, errors.New("publisher is required"))
	}
	if o.Events == nil {
		errs = append(errs, errors.New("events is required"))
	}
	if o.StatePath == "" {
		errs = append(errs, errors.New("state_path is required"))
	}
	if o.Interval < 0 {
		errs = append(errs, errors.New("interval must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("kafka stream: %w", err)
	}
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Stream{o: o, published: map[string]bool{}}
	f, err := os.Open(o.StatePath)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kafka stream: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		k, err := strconv.Unquote(sc.Text())
		if err != nil {
			// A line cut by a crash mid-write: its events go out again.
			continue
		}
		s.published[k] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("kafka stream: reading %s: %w", o.StatePath, err)
	}
	return s, nil
}

// Start runs the stream in the background until Shutdown.
func (s *Stream) Start(ctx context.Context) error {
	s.bg = modules.Background{What: "the Kafka stream", Run: s.loop}
	return s.bg.Start(ctx)
}

// Shutdown stops it, cancelling the work in flight, and waits for it
// until ctx ends.
func (s *Stream) Shutdown(ctx context.Context) error { return s.bg.Shutdown(ctx) }

func (s *Stream) loop(ctx context.Context) {
	t := time.NewTicker(s.o.Interval)
	defer t.Stop()
	for {
		if _, _, err := s.Sync(ctx); err != nil && ctx.Err() == nil {
			s.o.Logger.Error("streaming to Kafka", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sync runs one round: it publishes the events not published yet, records
// their keys in the state file, then publishes the folded rows that
// changed. It returns how many events and rows it published. Errors: the
// log's, Kafka's, or the state file's.
func (s *Stream) Sync(ctx context.Context) (events, rows int, err error) {
	all, err := s.o.Events(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("reading the events: %w", err)
	}
	var fresh []metrics.Event
	for _, e := range all {
		if !s.published[EventKey(e)] {
			fresh = append(fresh, e)
		}
	}
	if len(fresh) > 0 {
		if err := s.o.Publisher.Publish(ctx, fresh); err != nil {
			return 0, 0, err
		}
		if err := s.record(fresh); err != nil {
			return 0, 0, err
		}
	}
	deployments, incidents := analytics.Folded(all)
	rows, err = s.o.Publisher.PublishFolded(ctx, deployments, incidents)
	return len(fresh), rows, err
}

// record appends the keys of events just published to the state file.
func (s *Stream) record(events []metrics.Event) error {
	f, err := os.OpenFile(s.o.StatePath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("kafka stream: %w", err)
	}
	w := bufio.NewWriter(f)
	for _, e := range events {
		k := EventKey(e)
		_, _ = w.WriteString(strconv.Quote(k))
		_ = w.WriteByte('\n')
		s.published[k] = true
	}
	if err := errors.Join(w.Flush(), f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("kafka stream: writing %s: %w", s.o.StatePath, err)
	}
	return nil
}
