package walqueue

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t *testing.T, o Options) (*Queue, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	o.Registerer = reg
	if o.Consumers == nil {
		o.Consumers = []string{"a"}
	}
	q, err := Open(o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = q.Close() })
	return q, reg
}

func appendN(t *testing.T, q *Queue, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		require.NoError(t, q.Append(context.Background(), fmt.Appendf(nil, "record-%04d", i)))
	}
}

// readAll reads until n records have come, committing each batch when commit.
func readAll(t *testing.T, r *Reader, n int, commit bool) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []string
	for len(out) < n {
		recs, err := r.Next(ctx, min(7, n-len(out)), 1<<20)
		require.NoError(t, err)
		for _, rec := range recs {
			out = append(out, string(rec.Data))
		}
		if commit {
			require.NoError(t, r.Commit(recs[len(recs)-1]))
		}
	}
	return out
}

func names(from, n int) []string {
	var out []string
	for i := from; i < from+n; i++ {
		out = append(out, fmt.Sprintf("record-%04d", i))
	}
	return out
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"defaults", func(*Options) {}, ""},
		{"no dir", func(o *Options) { o.Dir = "" }, "dir: must not be empty"},
		{"durability", func(o *Options) { o.Durability = "sometimes" }, `durability: must be fsync, interval or none, not "sometimes"`},
		{"when full", func(o *Options) { o.WhenFull = "panic" }, `when_full: must be reject or drop_oldest, not "panic"`},
		{"segment over half", func(o *Options) { o.MaxBytes, o.SegmentBytes = 100, 80 }, "segment_bytes: must be at most half of max_bytes"},
		{"bad consumer", func(o *Options) { o.Consumers = []string{"a/b"} }, `consumers: "a/b" must be`},
		{"twice", func(o *Options) { o.Consumers = []string{"a", "a"} }, `consumers: "a" listed twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{Dir: t.TempDir()}
			o.setDefaults()
			tt.edit(&o)
			err := o.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestAppendReadResume(t *testing.T) {
	for _, d := range []Durability{DurabilityFsync, DurabilityInterval, DurabilityNone} {
		t.Run(string(d), func(t *testing.T) {
			dir := t.TempDir()
			o := Options{Dir: dir, Config: Config{Durability: d, SegmentBytes: 256, MaxBytes: 1 << 20}, Consumers: []string{"a", "b"}}
			q, _ := open(t, o)
			appendN(t, q, 0, 20)
			ra, err := q.Reader("a")
			require.NoError(t, err)
			rb, err := q.Reader("b")
			require.NoError(t, err)
			require.Equal(t, names(0, 20), readAll(t, ra, 20, true))
			require.Equal(t, names(0, 10), readAll(t, rb, 10, true))
			require.NoError(t, q.Close())

			q, _ = open(t, o)
			appendN(t, q, 20, 5)
			ra, _ = q.Reader("a")
			rb, _ = q.Reader("b")
			require.Equal(t, names(20, 5), readAll(t, ra, 5, true))
			require.Equal(t, names(10, 15), readAll(t, rb, 15, true))
			require.Equal(t, map[string]uint64{"a": 0, "b": 0}, q.Lag())
			require.Equal(t, 1, q.Segments(), "segments every consumer passed are deleted")
		})
	}
}

func TestSegmentsDeletedOnlyWhenEveryConsumerPassed(t *testing.T) {
	q, _ := open(t, Options{Dir: t.TempDir(), Config: Config{SegmentBytes: 128, MaxBytes: 1 << 20}, Consumers: []string{"fast", "slow"}})
	appendN(t, q, 0, 30)
	before := q.Segments()
	require.Greater(t, before, 3)
	fast, _ := q.Reader("fast")
	readAll(t, fast, 30, true)
	require.Equal(t, before, q.Segments(), "slow has read nothing")
	slow, _ := q.Reader("slow")
	readAll(t, slow, 30, true)
	require.Equal(t, 1, q.Segments())
	require.Equal(t, map[string]uint64{"fast": 0, "slow": 0}, q.Lag())
}

func TestGroupCommitSharesFsyncs(t *testing.T) {
	q, reg := open(t, Options{Dir: t.TempDir()})
	var wg sync.WaitGroup
	const n = 200
	for i := range n {
		wg.Go(func() {
			require.NoError(t, q.Append(context.Background(), fmt.Appendf(nil, "r%d", i)))
		})
	}
	wg.Wait()
	require.Equal(t, float64(n), value(q.m.appendedRecords))
	// Every append waited for an fsync; fewer fsyncs than appends means
	// they were shared.
	syncs := histogramCount(t, reg, "estate_collector_queue_fsync_duration_seconds")
	require.Less(t, syncs, uint64(n))
	r, _ := q.Reader("a")
	require.Len(t, readAll(t, r, n, true), n)
}

func histogramCount(t *testing.T, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

func TestFullRejects(t *testing.T) {
	q, _ := open(t, Options{Dir: t.TempDir(), Config: Config{MaxBytes: 1024, SegmentBytes: 256}})
	var err error
	appended := 0
	for err == nil {
		err = q.Append(context.Background(), make([]byte, 40))
		if err == nil {
			appended++
		}
	}
	require.ErrorIs(t, err, ErrFull)
	require.LessOrEqual(t, q.Bytes(), int64(1024))
	require.Equal(t, 1.0, value(q.m.refused))
	r, _ := q.Reader("a")
	readAll(t, r, appended, true)
	require.NoError(t, q.Append(context.Background(), make([]byte, 40)), "room again once the consumer passed")
}

func TestFullDropsOldest(t *testing.T) {
	q, _ := open(t, Options{Dir: t.TempDir(), Config: Config{MaxBytes: 1024, SegmentBytes: 256, WhenFull: WhenFullDropOldest}})
	for i := range 100 {
		require.NoError(t, q.Append(context.Background(), fmt.Appendf(nil, "record-%04d", i)))
	}
	require.LessOrEqual(t, q.Bytes(), int64(1024))
	dropped := int(value(q.m.dropped))
	require.Positive(t, dropped)
	r, _ := q.Reader("a")
	got := readAll(t, r, 100-dropped, true)
	require.Equal(t, names(dropped, 100-dropped), got, "the oldest are dropped, counted, and the rest read in order")
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "segments", "*.wal"))
	require.NoError(t, err)
	return m
}

func TestTornTailTruncated(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir}
	q, _ := open(t, o)
	appendN(t, q, 0, 5)
	require.NoError(t, q.Close())

	segs := segmentFiles(t, dir)
	last := segs[len(segs)-1]
	st, err := os.Stat(last)
	require.NoError(t, err)
	// A frame cut short, as a crash mid-write leaves it.
	torn := appendFrame(nil, 1, []byte("never acknowledged"))[:20]
	f, err := os.OpenFile(last, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.Write(torn)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	q, _ = open(t, o)
	require.Equal(t, float64(len(torn)), value(q.m.truncatedBytes))
	st2, err := os.Stat(last)
	require.NoError(t, err)
	require.Equal(t, st.Size(), st2.Size())
	appendN(t, q, 5, 2)
	r, _ := q.Reader("a")
	require.Equal(t, names(0, 7), readAll(t, r, 7, true))
	require.Zero(t, value(q.m.quarantined))
}

func TestCorruptRecordQuarantined(t *testing.T) {
	tests := []struct {
		name string
		// corrupt edits the segment bytes; off is where record 2 starts.
		corrupt func(b []byte, off int)
		// want are the records still read.
		want []string
		// rest is whether everything after the bad frame goes to quarantine.
		rest bool
	}{
		{
			name:    "payload bit flip",
			corrupt: func(b []byte, off int) { b[off+frameHeaderSize+3] ^= 0x40 },
			want:    append(names(0, 2), names(3, 7)...),
		},
		{
			name:    "length out of bounds",
			corrupt: func(b []byte, off int) { b[off+3] = 0xff },
			want:    names(0, 2),
			rest:    true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			o := Options{Dir: dir, Config: Config{SegmentBytes: 16 + 10*27, MaxBytes: 1 << 20}}
			q, _ := open(t, o)
			appendN(t, q, 0, 10)
			appendN(t, q, 10, 1) // starts a second segment: the first is sealed
			require.NoError(t, q.Close())
			segs := segmentFiles(t, dir)
			require.Len(t, segs, 2)
			b, err := os.ReadFile(segs[0])
			require.NoError(t, err)
			frame := int(frameSize(len("record-0000")))
			off := segmentHeaderSize + 2*frame
			want := append([]byte(nil), b[off:off+frame]...)
			if tt.rest {
				want = append([]byte(nil), b[off:]...)
			}
			tt.corrupt(b, off)
			if tt.rest {
				want[3] = 0xff
			} else {
				want[frameHeaderSize+3] ^= 0x40
			}
			require.NoError(t, os.WriteFile(segs[0], b, 0o640))

			q, _ = open(t, o)
			require.Equal(t, 1.0, value(q.m.quarantined))
			r, _ := q.Reader("a")
			got := readAll(t, r, len(tt.want)+1, true)
			require.Empty(t, cmp.Diff(append(tt.want, "record-0010"), got))
			qf, err := filepath.Glob(filepath.Join(dir, "quarantine", "*.bad"))
			require.NoError(t, err)
			require.Len(t, qf, 1)
			bad, err := os.ReadFile(qf[0])
			require.NoError(t, err)
			require.Equal(t, want, bad, "the quarantine file holds the bad bytes")
			require.Equal(t, 1.0, value(q.m.quarantined), "counted once, not once per read")
		})
	}
}

func TestUnreadableCursorReplays(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir}
	q, _ := open(t, o)
	appendN(t, q, 0, 3)
	r, _ := q.Reader("a")
	readAll(t, r, 3, true)
	require.NoError(t, q.Close())
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cursors", "a.cursor"), []byte("garbage"), 0o640))
	q, _ = open(t, o)
	r, _ = q.Reader("a")
	require.Equal(t, names(0, 3), readAll(t, r, 3, true), "replayed, not skipped")
}

func TestRemovedConsumerReleasesSegments(t *testing.T) {
	dir := t.TempDir()
	q, _ := open(t, Options{Dir: dir, Config: Config{SegmentBytes: 128, MaxBytes: 1 << 20}, Consumers: []string{"a", "gone"}})
	appendN(t, q, 0, 20)
	r, _ := q.Reader("a")
	readAll(t, r, 20, true)
	require.Greater(t, q.Segments(), 1)
	require.NoError(t, q.Close())
	q, _ = open(t, Options{Dir: dir, Config: Config{SegmentBytes: 128, MaxBytes: 1 << 20}, Consumers: []string{"a"}})
	require.Equal(t, 1, q.Segments())
	_, err := q.Reader("gone")
	require.Error(t, err)
}

func TestNextStopsOnClose(t *testing.T) {
	q, _ := open(t, Options{Dir: t.TempDir()})
	r, _ := q.Reader("a")
	errc := make(chan error, 1)
	go func() {
		_, err := r.Next(context.Background(), 10, 1<<20)
		errc <- err
	}()
	require.NoError(t, q.Close())
	require.ErrorIs(t, <-errc, ErrClosed)
	require.ErrorIs(t, q.Append(context.Background(), []byte("x")), ErrClosed)
}

func TestOldestAge(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	q, _ := open(t, Options{Dir: t.TempDir(), Now: clock})
	require.Zero(t, q.OldestAge())
	appendN(t, q, 0, 2)
	mu.Lock()
	now = now.Add(90 * time.Second)
	mu.Unlock()
	require.Equal(t, 90*time.Second, q.OldestAge())
	r, _ := q.Reader("a")
	readAll(t, r, 2, true)
	require.Zero(t, q.OldestAge())
}

func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
