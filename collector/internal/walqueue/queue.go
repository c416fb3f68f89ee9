// Package walqueue is the collector's durable queue: a write-ahead log of
// segment files that every accepted request is appended to before it is
// acknowledged, read by several consumers (sinks) each with its own
// persisted cursor.
//
// Appends share fsyncs (group commit): while one fsync runs, the appends that
// arrive queue up and are written and synced together by the next. A segment
// is deleted only when every consumer has committed past it. The queue holds
// at most MaxBytes; beyond that Append refuses with ErrFull, or, with
// WhenFullDropOldest, deletes the oldest segment and counts its records.
//
// Recovery never stops the queue: a torn record at the end of the last
// segment (a write the crash interrupted, never acknowledged under fsync
// durability) is truncated; a corrupt record anywhere else is copied to
// quarantine/ with a log line and a metric, and skipped.
package walqueue

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Errors of Append and Next. ErrFull is a throttle (retry later), ErrTooLarge
// is permanent, ErrClosed means the queue is shutting down.
var (
	ErrFull     = errors.New("queue full")
	ErrTooLarge = errors.New("record larger than the queue's max_record_bytes")
	ErrClosed   = errors.New("queue closed")
)

// Position is a place in the queue: a segment and a byte offset in it.
type Position struct {
	Segment uint64
	Offset  int64
}

// segment is one file's bookkeeping. size counts only bytes that are
// written (and, under fsync durability, synced): readers read up to it.
type segment struct {
	id       uint64
	firstSeq uint64
	size     int64
	records  uint64
	sealed   bool
}

// batch is one group commit: the appends waiting for the same write.
type batch struct {
	done chan struct{}
	err  error
}

// Queue is an open write-ahead log.
type Queue struct {
	opts    Options
	m       *metrics
	segDir  string
	curDir  string
	quarDir string

	mu       sync.Mutex
	segs     []*segment
	active   *os.File // written only by the flusher, swapped under mu
	headSeq  uint64   // sequence of the next record to be written
	bytes    int64    // on disk plus pending
	pending  []byte
	pendingN int
	spare    []byte
	cur      *batch
	closed   bool
	notify   chan struct{} // closed and replaced when records become readable
	readers  map[string]*Reader
	quarSeen map[Position]bool

	kick    chan struct{}
	closing chan struct{}
	flushed chan struct{}
}

// Open opens (creating if needed) the queue in opts.Dir and recovers it.
func Open(opts Options) (*Queue, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("invalid queue options: %w", err)
	}
	q := &Queue{
		opts:     opts,
		segDir:   filepath.Join(opts.Dir, "segments"),
		curDir:   filepath.Join(opts.Dir, "cursors"),
		quarDir:  filepath.Join(opts.Dir, "quarantine"),
		notify:   make(chan struct{}),
		readers:  map[string]*Reader{},
		quarSeen: map[Position]bool{},
		kick:     make(chan struct{}, 1),
		closing:  make(chan struct{}),
		flushed:  make(chan struct{}),
	}
	for _, d := range []string{q.segDir, q.curDir, q.quarDir} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("creating queue folder: %w", err)
		}
	}
	q.m = newMetrics(q, opts.Registerer)
	if err := q.recover(); err != nil {
		return nil, err
	}
	if err := q.loadCursors(); err != nil {
		_ = q.active.Close()
		return nil, err
	}
	q.deleteSegmentsLocked()
	go q.flusher()
	return q, nil
}

func segmentName(id uint64) string { return fmt.Sprintf("%020d.wal", id) }

func (q *Queue) segmentPath(id uint64) string { return filepath.Join(q.segDir, segmentName(id)) }

// recover scans every segment, truncates a torn tail, quarantines corrupt
// records, and opens the last segment for writing.
func (q *Queue) recover() error {
	entries, err := os.ReadDir(q.segDir)
	if err != nil {
		return fmt.Errorf("listing segments: %w", err)
	}
	var ids []uint64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".wal") {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(name, ".wal"), 10, 64)
		if err != nil {
			q.opts.Logger.Warn("ignoring unknown file in queue", "file", name)
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var nextSeq uint64
	for i, id := range ids {
		last := i == len(ids)-1
		seg, err := q.scanSegment(id, last, nextSeq)
		if err != nil {
			return err
		}
		if seg == nil {
			continue
		}
		nextSeq = seg.firstSeq + seg.records
		q.segs = append(q.segs, seg)
		q.bytes += seg.size
	}
	q.headSeq = nextSeq
	if len(q.segs) == 0 {
		return q.startSegment(1)
	}
	act := q.segs[len(q.segs)-1]
	f, err := os.OpenFile(q.segmentPath(act.id), os.O_RDWR, 0o640)
	if err != nil {
		return fmt.Errorf("opening active segment: %w", err)
	}
	q.active = f
	return nil
}

// scanSegment validates one segment. It returns nil for a file that holds
// nothing usable (moved to quarantine).
func (q *Queue) scanSegment(id uint64, last bool, expectSeq uint64) (*segment, error) {
	path := q.segmentPath(id)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading segment %d: %w", id, err)
	}
	firstSeq, err := decodeSegmentHeader(data)
	if err != nil {
		if last && len(data) < segmentHeaderSize {
			// Created but its header never reached the disk: start it again.
			q.opts.Logger.Warn("rewriting torn segment header", "segment", id)
			if err := os.WriteFile(path, encodeSegmentHeader(expectSeq), 0o640); err != nil {
				return nil, fmt.Errorf("rewriting segment header: %w", err)
			}
			return &segment{id: id, firstSeq: expectSeq, size: segmentHeaderSize}, nil
		}
		q.opts.Logger.Error("segment header corrupt; moving the whole file to quarantine", "segment", id, "err", err)
		q.m.quarantined.Inc()
		q.m.quarantinedB.Add(float64(len(data)))
		if err := os.Rename(path, filepath.Join(q.quarDir, segmentName(id)+".bad")); err != nil {
			return nil, fmt.Errorf("quarantining segment %d: %w", id, err)
		}
		return nil, nil
	}
	seg := &segment{id: id, firstSeq: firstSeq, sealed: !last}
	off := segmentHeaderSize
	for off < len(data) {
		_, n, err := decodeFrame(data[off:], q.opts.MaxRecordBytes)
		switch {
		case err == nil:
			seg.records++
			off += n
			continue
		case errors.Is(err, errChecksum) && off+n < len(data):
			// Delimited and followed by more: corrupt in place. Readers skip it.
			q.quarantine(id, int64(off), data[off:off+n], err)
			seg.records++
			off += n
			continue
		}
		// The frame cannot be delimited, or it is the last one and does not
		// check out.
		if last {
			if err := q.truncateTail(path, id, int64(off), int64(len(data)), err); err != nil {
				return nil, err
			}
		} else {
			q.quarantine(id, int64(off), data[off:], err)
		}
		break
	}
	if last {
		seg.size = int64(off)
	} else {
		seg.size = int64(len(data))
	}
	return seg, nil
}

func (q *Queue) truncateTail(path string, id uint64, off, size int64, cause error) error {
	q.opts.Logger.Warn("truncating torn record at the end of the queue",
		"segment", id, "offset", off, "bytes", size-off, "cause", cause)
	q.m.truncatedBytes.Add(float64(size - off))
	f, err := os.OpenFile(path, os.O_RDWR, 0o640)
	if err != nil {
		return fmt.Errorf("opening segment to truncate: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(off); err != nil {
		return fmt.Errorf("truncating torn tail: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing truncated segment: %w", err)
	}
	return nil
}

// quarantine copies a corrupt record to quarantine/ once per process, with a
// log line and a metric. It never fails the caller: losing the copy of a
// record already known to be corrupt must not stop the queue.
func (q *Queue) quarantine(segID uint64, off int64, b []byte, cause error) {
	key := Position{Segment: segID, Offset: off}
	q.mu.Lock()
	seen := q.quarSeen[key]
	q.quarSeen[key] = true
	q.mu.Unlock()
	if seen {
		return
	}
	q.m.quarantined.Inc()
	q.m.quarantinedB.Add(float64(len(b)))
	name := filepath.Join(q.quarDir, fmt.Sprintf("%020d-%012d.bad", segID, off))
	if _, err := os.Stat(name); err != nil {
		if err := os.WriteFile(name, b, 0o640); err != nil {
			q.opts.Logger.Error("writing quarantine file", "file", name, "err", err)
		}
	}
	q.opts.Logger.Error("corrupt record moved to quarantine and skipped",
		"segment", segID, "offset", off, "bytes", len(b), "cause", cause, "file", name)
}

// startSegment creates segment id, holding records from headSeq on.
func (q *Queue) startSegment(id uint64) error {
	path := q.segmentPath(id)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("creating segment: %w", err)
	}
	if _, err := f.Write(encodeSegmentHeader(q.headSeq)); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing segment header: %w", err)
	}
	if q.opts.Durability != DurabilityNone {
		if err := q.sync(f); err != nil {
			_ = f.Close()
			return fmt.Errorf("syncing segment header: %w", err)
		}
		if err := syncDir(q.segDir); err != nil {
			_ = f.Close()
			return err
		}
	}
	q.active = f
	q.segs = append(q.segs, &segment{id: id, firstSeq: q.headSeq, size: segmentHeaderSize})
	q.bytes += segmentHeaderSize
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening folder to sync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing folder: %w", err)
	}
	return nil
}

func (q *Queue) sync(f *os.File) error {
	start := time.Now()
	err := f.Sync()
	q.m.fsync.Observe(time.Since(start).Seconds())
	return err
}

// Append adds records to the queue and returns once they are durable as
// Options.Durability says. It returns ErrFull when the queue is at its bound
// (retry later), ErrTooLarge for a record over max_record_bytes, ErrClosed
// once Close began, or the write error. When ctx ends first, the records
// may still be written.
func (q *Queue) Append(ctx context.Context, records ...[]byte) error {
	var size int64
	for _, r := range records {
		if len(r) == 0 || len(r) > q.opts.MaxRecordBytes {
			return ErrTooLarge
		}
		size += frameSize(len(r))
	}
	if len(records) == 0 {
		return nil
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	// The header of a segment the batch may start is reserved too.
	for q.bytes+size+segmentHeaderSize > q.opts.MaxBytes {
		if q.opts.WhenFull == WhenFullDropOldest && q.dropOldestLocked() {
			continue
		}
		q.mu.Unlock()
		q.m.refused.Inc()
		return ErrFull
	}
	now := q.opts.Now().UnixNano()
	for _, r := range records {
		q.pending = appendFrame(q.pending, now, r)
	}
	q.pendingN += len(records)
	q.bytes += size
	if q.cur == nil {
		q.cur = &batch{done: make(chan struct{})}
	}
	b := q.cur
	q.mu.Unlock()
	select {
	case q.kick <- struct{}{}:
	default:
	}
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flusher is the one goroutine that writes segments.
func (q *Queue) flusher() {
	defer close(q.flushed)
	var tick <-chan time.Time
	if q.opts.Durability == DurabilityInterval {
		t := time.NewTicker(q.opts.SyncInterval)
		defer t.Stop()
		tick = t.C
	}
	dirty := false
	for {
		select {
		case <-q.kick:
		case <-tick:
			if dirty {
				q.mu.Lock()
				f := q.active
				q.mu.Unlock()
				if err := q.sync(f); err != nil {
					q.opts.Logger.Error("periodic fsync of the queue", "err", err)
				}
				dirty = false
			}
			continue
		case <-q.closing:
			q.flushOnce()
			return
		}
		if q.flushOnce() {
			dirty = true
		}
	}
}

// flushOnce writes what is pending as one batch; it reports whether it
// wrote anything.
func (q *Queue) flushOnce() bool {
	q.mu.Lock()
	buf, n, b := q.pending, q.pendingN, q.cur
	q.pending, q.spare = q.spare[:0], nil
	q.pendingN, q.cur = 0, nil
	q.mu.Unlock()
	if b == nil {
		return false
	}
	err := q.write(buf, n)
	q.mu.Lock()
	if err != nil {
		q.bytes -= int64(len(buf))
	}
	if cap(buf) <= 4<<20 {
		q.spare = buf[:0]
	}
	q.mu.Unlock()
	b.err = err
	close(b.done)
	return err == nil
}

// write appends one batch to the active segment, sealing it first when the
// batch would take it past SegmentBytes.
func (q *Queue) write(buf []byte, n int) error {
	q.mu.Lock()
	act := q.segs[len(q.segs)-1]
	if act.size > segmentHeaderSize && act.size+int64(len(buf)) > q.opts.SegmentBytes {
		if err := q.sealLocked(); err != nil {
			q.mu.Unlock()
			return err
		}
		act = q.segs[len(q.segs)-1]
	}
	f, off := q.active, act.size
	q.mu.Unlock()

	_, err := f.WriteAt(buf, off)
	if err == nil && q.opts.Durability == DurabilityFsync {
		err = q.sync(f)
	}
	if err != nil {
		// Undo a partial write so the next batch does not land behind a
		// torn frame.
		_ = f.Truncate(off)
		q.opts.Logger.Error("writing to the queue", "err", err)
		return fmt.Errorf("writing queue segment: %w", err)
	}
	q.m.appendedRecords.Add(float64(n))
	q.m.appendedBytes.Add(float64(len(buf)))
	q.m.batchRecords.Observe(float64(n))
	q.mu.Lock()
	act.size += int64(len(buf))
	act.records += uint64(n)
	q.headSeq += uint64(n)
	close(q.notify)
	q.notify = make(chan struct{})
	q.mu.Unlock()
	return nil
}

// sealLocked closes the active segment and starts the next.
func (q *Queue) sealLocked() error {
	act := q.segs[len(q.segs)-1]
	if q.opts.Durability != DurabilityNone {
		if err := q.sync(q.active); err != nil {
			return fmt.Errorf("syncing sealed segment: %w", err)
		}
	}
	if err := q.active.Close(); err != nil {
		return fmt.Errorf("closing sealed segment: %w", err)
	}
	act.sealed = true
	if err := q.startSegment(act.id + 1); err != nil {
		return err
	}
	close(q.notify)
	q.notify = make(chan struct{})
	return nil
}

// dropOldestLocked deletes the oldest sealed segment to make room, moving
// every consumer behind it to the next one.
func (q *Queue) dropOldestLocked() bool {
	if len(q.segs) < 2 {
		return false
	}
	old, next := q.segs[0], q.segs[1]
	var unread uint64
	for _, r := range q.readers {
		if r.committed.Segment <= old.id {
			if lag := next.firstSeq - min(r.committedSeq, next.firstSeq); lag > unread {
				unread = lag
			}
			r.committed = Position{Segment: next.id, Offset: segmentHeaderSize}
			r.committedSeq = next.firstSeq
		}
	}
	q.removeSegmentLocked(old)
	q.m.dropped.Add(float64(unread))
	q.opts.Logger.Warn("queue full: dropped the oldest segment", "segment", old.id, "records", unread)
	return true
}

func (q *Queue) removeSegmentLocked(s *segment) {
	if err := os.Remove(q.segmentPath(s.id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		q.opts.Logger.Error("deleting segment", "segment", s.id, "err", err)
	}
	q.segs = slices.DeleteFunc(q.segs, func(x *segment) bool { return x == s })
	q.bytes -= s.size
	q.m.deletedSegments.Inc()
}

// deleteSegmentsLocked removes the sealed segments every consumer passed.
func (q *Queue) deleteSegmentsLocked() {
	for len(q.segs) > 1 {
		s := q.segs[0]
		for _, r := range q.readers {
			if r.committed.Segment < s.id || (r.committed.Segment == s.id && r.committed.Offset < s.size) {
				return
			}
		}
		q.removeSegmentLocked(s)
	}
}

// Bytes is what the queue holds against its bound.
func (q *Queue) Bytes() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

// Segments is the number of segment files.
func (q *Queue) Segments() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.segs)
}

// Lag returns, per consumer, the records it has not committed.
func (q *Queue) Lag() map[string]uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make(map[string]uint64, len(q.readers))
	for name, r := range q.readers {
		out[name] = q.headSeq - min(r.committedSeq, q.headSeq)
	}
	return out
}

// OldestAge is the age of the oldest record some consumer has not
// committed, or 0.
func (q *Queue) OldestAge() time.Duration {
	q.mu.Lock()
	var oldest *Reader
	for _, r := range q.readers {
		if r.committedSeq < q.headSeq && (oldest == nil || r.committedSeq < oldest.committedSeq) {
			oldest = r
		}
	}
	if oldest == nil {
		q.mu.Unlock()
		return 0
	}
	pos := oldest.committed
	var seg *segment
	for _, s := range q.segs {
		if s.id == pos.Segment && pos.Offset < s.size {
			seg = s
			break
		}
		if s.id > pos.Segment {
			seg, pos = s, Position{Segment: s.id, Offset: segmentHeaderSize}
			break
		}
	}
	q.mu.Unlock()
	if seg == nil {
		return 0
	}
	f, err := os.Open(q.segmentPath(seg.id))
	if err != nil {
		return 0
	}
	defer f.Close()
	var h [frameHeaderSize]byte
	if _, err := f.ReadAt(h[:], pos.Offset); err != nil && !errors.Is(err, io.EOF) {
		return 0
	}
	ts := int64(binary.LittleEndian.Uint64(h[8:16]))
	if ts == 0 {
		return 0
	}
	return max(0, q.opts.Now().Sub(time.Unix(0, ts)))
}

// Close writes what is pending, stops the flusher, persists every cursor
// and closes the files. Appends and reads after Close return ErrClosed.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	q.mu.Unlock()
	close(q.closing)
	<-q.flushed
	q.mu.Lock()
	defer q.mu.Unlock()
	var errs []error
	for _, r := range q.readers {
		errs = append(errs, r.persistLocked())
	}
	if q.active != nil {
		if q.opts.Durability != DurabilityNone {
			errs = append(errs, q.active.Sync())
		}
		errs = append(errs, q.active.Close())
	}
	close(q.notify)
	q.notify = make(chan struct{})
	return errors.Join(errs...)
}
