package kafka_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/analytics"
	"github.com/estatehq/estate/analytics/kafka"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/metricstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var topics = []string{kafka.DefaultEventsTopic, kafka.DefaultDeploymentsTopic, kafka.DefaultIncidentsTopic}

// freePort is a loopback port nothing listens on, for a cluster that
// restarts on the same address.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return port
}

// startCluster starts kfake, the in-process Kafka of franz-go, on port,
// keeping its log, producer state and group offsets under dir, as a
// broker keeps them on its disk. With lose set, its listener loses the
// answer to the first produce request that reaches it after lose is armed.
func startCluster(t *testing.T, port int, dir string, lose *loseAck) *kfake.Cluster {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dir), kfake.SeedTopics(3, topics...)}
	if lose != nil {
		opts = append(opts, kfake.ListenFn(func(network, address string) (net.Listener, error) {
			l, err := net.Listen(network, address)
			return &losingListener{Listener: l, lose: lose}, err
		}))
	}
	c, err := kfake.NewCluster(opts...)
	require.NoError(t, err)
	return c
}

// loseAck, once armed, makes the broker's connection that carries produce
// requests close instead of sending its next answer: the batch is
// written, the producer never hears so, and sends it again.
type loseAck struct {
	armed atomic.Bool
	// lost is closed when an answer was lost.
	lost chan struct{}
}

type losingListener struct {
	net.Listener
	lose *loseAck
}

func (l *losingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &losingConn{Conn: c, lose: l.lose}, nil
}

// losingConn reads the Kafka framing (a 4-byte size, then a request whose
// first 2 bytes are its API key) to learn whether the client produces on
// it; franz-go gives produce requests a connection of their own.
type losingConn struct {
	net.Conn
	lose     *loseAck
	header   []byte // of the request being read
	left     int    // bytes of its body still to come
	produces atomic.Bool
}

func (c *losingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	for p := b[:n]; len(p) > 0; {
		if c.left > 0 {
			k := min(c.left, len(p))
			c.left, p = c.left-k, p[k:]
			continue
		}
		k := min(6-len(c.header), len(p))
		c.header, p = append(c.header, p[:k]...), p[k:]
		if len(c.header) == 6 {
			if binary.BigEndian.Uint16(c.header[4:]) == uint16(kmsg.Produce) {
				c.produces.Store(true)
			}
			c.left = int(binary.BigEndian.Uint32(c.header[:4])) - 2
			c.header = c.header[:0]
		}
	}
	return n, err
}

func (c *losingConn) Write(b []byte) (int, error) {
	if c.produces.Load() && c.lose.armed.CompareAndSwap(true, false) {
		_ = c.Conn.Close()
		close(c.lose.lost)
		return 0, net.ErrClosed
	}
	return c.Conn.Write(b)
}

// consume reads, as the consumer group "analytics", from the offsets it
// committed, until n records arrived, then commits them. It returns each
// key with how many times it came.
func consume(t *testing.T, addrs []string, topic string, n int) map[string]int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumerGroup("analytics"), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	keys := map[string]int{}
	got := 0
	for got < n {
		fetches := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "%d of %d records", got, n)
		fetches.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		fetches.EachRecord(func(r *kgo.Record) {
			keys[string(r.Key)]++
			got++
		})
	}
	require.NoError(t, cl.CommitUncommittedOffsets(ctx))
	// Nothing more is there: a duplicate would show here.
	short, cancelShort := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancelShort()
	cl.PollFetches(short).EachRecord(func(r *kgo.Record) { keys[string(r.Key)]++ })
	return keys
}

func batch(prefix string, n int) []metrics.Event {
	t0 := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	events := make([]metrics.Event, n)
	for i := range events {
		events[i] = metrics.Event{ID: fmt.Sprintf("%s-%04d", prefix, i), Source: "https://ci.example.com", Time: t0.Add(time.Duration(i) * time.Minute),
			Data: metrics.DeploymentStarted{DeploymentID: fmt.Sprintf("%s-%04d", prefix, i), Service: "invoicing", Environment: "production", Version: "1"}}
	}
	return events
}

func requireOnce(t *testing.T, keys map[string]int, events []metrics.Event) {
	t.Helper()
	require.Len(t, keys, len(events))
	for _, e := range events {
		require.Equal(t, 1, keys[kafka.EventKey(e)], "%s: delivered once", kafka.EventKey(e))
	}
}

// TestBrokerRestartLosesAndDuplicatesNothing: the broker writes a batch
// but its answer is lost, and it restarts (closed, then started again on
// the same port and data) before the producer sends the batch again. A
// consumer reading committed offsets then gets every event exactly once:
// the idempotent producer's retry is recognised, across the restart, as a
// batch already written.
func TestBrokerRestartLosesAndDuplicatesNothing(t *testing.T) {
	port, dir := freePort(t), t.TempDir()
	lose := &loseAck{lost: make(chan struct{})}
	c := startCluster(t, port, dir, lose)
	addrs := c.ListenAddrs()
	p, err := kafka.New(kafka.Options{Brokers: addrs, DeliveryTimeout: time.Minute})
	require.NoError(t, err)
	defer p.Close()
	ctx := context.Background()

	first := batch("first", 300)
	require.NoError(t, p.Publish(ctx, first))
	requireOnce(t, consume(t, addrs, kafka.DefaultEventsTopic, len(first)), first)

	lose.armed.Store(true)
	second := batch("second", 2000)
	done := make(chan error, 1)
	go func() { done <- p.Publish(ctx, second) }()
	<-lose.lost
	c.Close()
	c = startCluster(t, port, dir, nil)
	defer c.Close()
	require.NoError(t, <-done)

	third := batch("third", 100)
	require.NoError(t, p.Publish(ctx, third))
	requireOnce(t, consume(t, addrs, kafka.DefaultEventsTopic, len(second)+len(third)), append(second, third...))
}

func TestPublishRecords(t *testing.T) {
	c := startCluster(t, freePort(t), t.TempDir(), nil)
	defer c.Close()
	p, err := kafka.New(kafka.Options{Brokers: c.ListenAddrs()})
	require.NoError(t, err)
	defer p.Close()
	ctx := context.Background()
	events := metricstest.Generate(metricstest.GenerateOptions{Seed: 5, Services: 2,
		From: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC)})
	require.NoError(t, p.Publish(ctx, events))

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	require.NoError(t, err)
	defer cl.Close()
	deployments, incidents := analytics.Folded(events)
	n, err := p.PublishFolded(ctx, deployments, incidents)
	require.NoError(t, err)
	require.Equal(t, len(deployments)+len(incidents), n)

	// Unchanged rows are not published again; a changed one is.
	n, err = p.PublishFolded(ctx, deployments, incidents)
	require.NoError(t, err)
	require.Zero(t, n)
	deployments[0].Fate = analytics.FateRolledBack
	n, err = p.PublishFolded(ctx, deployments, incidents)
	require.NoError(t, err)
	require.Equal(t, 1, n)

	want := len(events) + len(deployments) + len(incidents) + 1
	var records []*kgo.Record
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for len(records) < want {
		fs := cl.PollFetches(tctx)
		require.NoError(t, tctx.Err())
		records = append(records, fs.Records()...)
	}
	byTopic := map[string][]*kgo.Record{}
	for _, r := range records {
		byTopic[r.Topic] = append(byTopic[r.Topic], r)
	}
	require.Len(t, byTopic[kafka.DefaultEventsTopic], len(events))
	for _, r := range byTopic[kafka.DefaultEventsTopic] {
		e, err := metrics.ParseEvent(r.Value)
		require.NoError(t, err, "the value is a structured CloudEvent")
		require.Equal(t, kafka.EventKey(e), string(r.Key))
		require.Equal(t, "application/cloudevents+json", string(r.Headers[0].Value))
		require.Equal(t, string(e.Type()), string(r.Headers[1].Value))
	}
	require.Len(t, byTopic[kafka.DefaultDeploymentsTopic], len(deployments)+1)
	last := byTopic[kafka.DefaultDeploymentsTopic]
	var latest analytics.DeploymentRow
	for _, r := range last {
		if string(r.Key) == deployments[0].DeploymentID {
			require.NoError(t, json.Unmarshal(r.Value, &latest))
		}
	}
	require.Equal(t, analytics.FateRolledBack, latest.Fate, "the latest record of a key is its current state")
	require.Len(t, byTopic[kafka.DefaultIncidentsTopic], len(incidents))
}

func TestOptions(t *testing.T) {
	_, err := kafka.New(kafka.Options{})
	require.ErrorContains(t, err, "brokers: at least one is required")
	_, err = kafka.New(kafka.Options{Brokers: []string{"127.0.0.1:1"}, DeliveryTimeout: -time.Second})
	require.ErrorContains(t, err, "delivery_timeout must not be negative")
}
