package kafka_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/analytics/kafka"
	"github.com/estatehq/estate/metrics"
)

// log is an event log that grows, as the collector's store does.
type log struct {
	mu     sync.Mutex
	events []metrics.Event
}

func (l *log) add(events ...metrics.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, events...)
}

func (l *log) read(context.Context) ([]metrics.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]metrics.Event(nil), l.events...), nil
}

// TestStreamPublishesEachEventOnce: each round publishes the events that
// are new, and the rows that changed; a restarted stream (a new process
// with the same state file) publishes nothing twice.
func TestStreamPublishesEachEventOnce(t *testing.T) {
	c := startCluster(t, freePort(t), t.TempDir(), nil)
	defer c.Close()
	addrs := c.ListenAddrs()
	p, err := kafka.New(kafka.Options{Brokers: addrs})
	require.NoError(t, err)
	defer p.Close()
	state := filepath.Join(t.TempDir(), "published")
	l := &log{}
	ctx := context.Background()
	newStream := func() *kafka.Stream {
		s, err := kafka.NewStream(kafka.StreamOptions{Publisher: p, Events: l.read, StatePath: state})
		require.NoError(t, err)
		return s
	}

	first := batch("first", 50)
	l.add(first...)
	s := newStream()
	n, rows, err := s.Sync(ctx)
	require.NoError(t, err)
	require.Equal(t, 50, n)
	require.Equal(t, 50, rows, "a deployment row each")

	n, rows, err = s.Sync(ctx)
	require.NoError(t, err)
	require.Zero(t, n+rows, "nothing new, nothing published")

	// New events, one with a newline in its id, and a follow-up that
	// changes a deployment's row.
	second := batch("second", 20)
	odd := metrics.Event{ID: "odd\nid", Source: "https://ci.example.com", Time: first[0].Time.Add(time.Hour),
		Data: metrics.DeploymentSucceeded{DeploymentID: "first-0000"}}
	l.add(append(second, odd)...)
	n, rows, err = s.Sync(ctx)
	require.NoError(t, err)
	require.Equal(t, 21, n)
	require.Equal(t, 21, rows, "20 new deployments and the one that succeeded")

	// A restart: the events are not published again (the rows are, once:
	// the digests are in memory only).
	s = newStream()
	n, _, err = s.Sync(ctx)
	require.NoError(t, err)
	require.Zero(t, n)

	all := append(append(first, second...), odd)
	requireOnce(t, consume(t, addrs, kafka.DefaultEventsTopic, len(all)), all)

	// In the background, on its interval, until shut down.
	third := batch("third", 5)
	l.add(third...)
	bg, err := kafka.NewStream(kafka.StreamOptions{Publisher: p, Events: l.read, StatePath: state, Interval: 10 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, bg.Start(ctx))
	requireOnce(t, consume(t, addrs, kafka.DefaultEventsTopic, len(third)), third)
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	require.NoError(t, bg.Shutdown(sctx))

	b, err := os.ReadFile(state)
	require.NoError(t, err)
	require.Contains(t, string(b), `"https://ci.example.com/odd\nid"`+"\n")
}

func TestStreamOptions(t *testing.T) {
	_, err := kafka.NewStream(kafka.StreamOptions{Interval: -time.Second})
	require.ErrorContains(t, err, "publisher is required")
	require.ErrorContains(t, err, "events is required")
	require.ErrorContains(t, err, "state_path is required")
	require.ErrorContains(t, err, "interval must not be negative")
}
