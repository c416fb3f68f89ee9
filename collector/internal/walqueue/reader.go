package walqueue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Record is one record read from the queue.
type Record struct {
	// Seq numbers records in append order, across restarts.
	Seq uint64
	// Time is when the record was appended.
	Time time.Time
	// Data is the record as appended; it is not reused by the queue.
	Data []byte
	// Next is where the record after this one starts: the cursor to commit
	// once this record is delivered.
	Next Position
}

// Reader is one consumer's view of the queue. A reader is used by one
// goroutine.
type Reader struct {
	q    *Queue
	name string
	path string

	// read is where Next continues; owned by the reader's goroutine.
	read    Position
	readSeq uint64
	f       *os.File
	fSeg    uint64

	// committed is guarded by q.mu.
	committed    Position
	committedSeq uint64
}

// loadCursors creates a reader for every consumer, starting at its persisted
// cursor, and removes the cursor files of consumers no longer configured.
func (q *Queue) loadCursors() error {
	entries, err := os.ReadDir(q.curDir)
	if err != nil {
		return fmt.Errorf("listing cursors: %w", err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			// A replacement the crash interrupted; the cursor it was
			// replacing is intact.
			_ = os.Remove(filepath.Join(q.curDir, e.Name()))
			continue
		}
		name, ok := strings.CutSuffix(e.Name(), ".cursor")
		if !ok || !slices.Contains(q.opts.Consumers, name) {
			q.opts.Logger.Warn("removing the cursor of a consumer no longer configured", "file", e.Name())
			_ = os.Remove(filepath.Join(q.curDir, e.Name()))
		}
	}
	first := q.segs[0]
	for _, name := range q.opts.Consumers {
		r := &Reader{q: q, name: name, path: filepath.Join(q.curDir, name+".cursor")}
		r.committed = Position{Segment: first.id, Offset: segmentHeaderSize}
		r.committedSeq = first.firstSeq
		b, err := os.ReadFile(r.path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			// A new consumer reads everything the queue still holds.
		case err != nil:
			return fmt.Errorf("reading cursor of %s: %w", name, err)
		default:
			pos, seq, err := decodeCursor(b)
			if err != nil {
				// Replaying is safe (sinks are idempotent); losing is not.
				q.opts.Logger.Warn("cursor unreadable; the consumer replays from the oldest record", "consumer", name, "err", err)
			} else if q.validPosition(pos) {
				r.committed, r.committedSeq = pos, seq
			} else if pos.Segment > q.segs[len(q.segs)-1].id || (pos.Segment == q.segs[len(q.segs)-1].id && pos.Offset > q.segs[len(q.segs)-1].size) {
				q.opts.Logger.Warn("cursor beyond the end of the queue; the consumer replays from the oldest record", "consumer", name)
			}
		}
		r.read, r.readSeq = r.committed, r.committedSeq
		q.readers[name] = r
	}
	return nil
}

// validPosition reports whether pos is inside a segment on disk.
func (q *Queue) validPosition(pos Position) bool {
	for _, s := range q.segs {
		if s.id == pos.Segment {
			return pos.Offset >= segmentHeaderSize && pos.Offset <= s.size
		}
	}
	return false
}

// Reader returns the reader of a consumer listed in Options.Consumers.
func (q *Queue) Reader(name string) (*Reader, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	r, ok := q.readers[name]
	if !ok {
		return nil, fmt.Errorf("consumer %q is not among the queue's consumers", name)
	}
	return r, nil
}

// Name is the consumer's name.
func (r *Reader) Name() string { return r.name }

// Next returns up to maxRecords records (at least one, however large) and
// about maxBytes of data after the last one returned, waiting until there
// is one. It returns ErrClosed once the queue closes, or ctx's error.
// Corrupt records are quarantined and skipped.
func (r *Reader) Next(ctx context.Context, maxRecords, maxBytes int) ([]Record, error) {
	q := r.q
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			_ = r.closeFile()
			return nil, ErrClosed
		}
		var seg, next *segment
		for i, s := range q.segs {
			if s.id >= r.read.Segment {
				seg = s
				if i+1 < len(q.segs) {
					next = q.segs[i+1]
				}
				break
			}
		}
		if seg == nil {
			// Beyond the last segment: only a cursor from another queue
			// can say so. Start again at the oldest record.
			seg = q.segs[0]
			if len(q.segs) > 1 {
				next = q.segs[1]
			}
		}
		if seg.id != r.read.Segment {
			// The segment is gone (dropped when full, or the cursor was
			// behind a deleted one): continue at the next on disk.
			r.read, r.readSeq = Position{Segment: seg.id, Offset: segmentHeaderSize}, seg.firstSeq
		}
		limit, sealed, notify := seg.size, seg.sealed, q.notify
		q.mu.Unlock()

		if r.read.Offset < limit {
			recs, err := r.readFrom(seg.id, limit, maxRecords, maxBytes)
			if err != nil || len(recs) > 0 {
				return recs, err
			}
			continue
		}
		if sealed && next != nil {
			r.read, r.readSeq = Position{Segment: next.id, Offset: segmentHeaderSize}, next.firstSeq
			continue
		}
		select {
		case <-notify:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// readFrom reads frames of segment id from r.read up to limit.
func (r *Reader) readFrom(id uint64, limit int64, maxRecords, maxBytes int) ([]Record, error) {
	if r.f == nil || r.fSeg != id {
		_ = r.closeFile()
		f, err := os.Open(r.q.segmentPath(id))
		if err != nil {
			return nil, fmt.Errorf("opening segment %d: %w", id, err)
		}
		r.f, r.fSeg = f, id
	}
	want := max(int64(maxBytes), 64<<10)
	want = min(want, limit-r.read.Offset)
	base := r.read.Offset
	buf := make([]byte, want)
	if _, err := r.f.ReadAt(buf, base); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading segment %d: %w", id, err)
	}
	var recs []Record
	pos := 0
	for pos < len(buf) && len(recs) < maxRecords {
		f, n, err := decodeFrame(buf[pos:], r.q.opts.MaxRecordBytes)
		abs := base + int64(pos)
		switch {
		case err == nil:
		case errors.Is(err, errShort) && pos > 0 && abs+int64(max(n, frameHeaderSize)) <= limit:
			// The read size cut the frame: the next call reads it.
			return recs, nil
		case errors.Is(err, errShort) && n > 0 && abs+int64(n) <= limit:
			// One record larger than the read size: read it whole.
			buf = make([]byte, n)
			if _, err := r.f.ReadAt(buf, abs); err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("reading segment %d: %w", id, err)
			}
			base, pos = abs, 0
			continue
		case errors.Is(err, errChecksum):
			r.q.quarantine(id, abs, buf[pos:pos+n], err)
			pos += n
			r.read, r.readSeq = Position{Segment: id, Offset: abs + int64(n)}, r.readSeq+1
			continue
		default:
			// The frame cannot be delimited: nothing after it in this
			// segment can be found. Quarantine the rest up to limit.
			rest := make([]byte, limit-abs)
			_, _ = r.f.ReadAt(rest, abs)
			r.q.quarantine(id, abs, rest, err)
			r.read = Position{Segment: id, Offset: limit}
			return recs, nil
		}
		next := Position{Segment: id, Offset: abs + int64(n)}
		recs = append(recs, Record{Seq: r.readSeq, Time: time.Unix(0, f.time), Data: f.payload, Next: next})
		r.read, r.readSeq = next, r.readSeq+1
		pos += n
	}
	return recs, nil
}

// Rewind moves the read position back to the last commit, so the records
// after it are read again.
func (r *Reader) Rewind() {
	r.q.mu.Lock()
	defer r.q.mu.Unlock()
	r.read, r.readSeq = r.committed, r.committedSeq
}

// Commit records that every record up to and including rec is delivered:
// the cursor is persisted and the segments every consumer passed are
// deleted. The cursor file is replaced atomically but not fsynced: after a
// power loss a consumer may replay a little, which sinks absorb by being
// idempotent, and never skips.
func (r *Reader) Commit(rec Record) error {
	q := r.q
	q.mu.Lock()
	defer q.mu.Unlock()
	if rec.Seq+1 <= r.committedSeq {
		return nil
	}
	r.committed, r.committedSeq = rec.Next, rec.Seq+1
	if err := r.persistLocked(); err != nil {
		return err
	}
	q.deleteSegmentsLocked()
	return nil
}

// Committed returns the reader's persisted position and the sequence of
// the next record it has to deliver.
func (r *Reader) Committed() (Position, uint64) {
	r.q.mu.Lock()
	defer r.q.mu.Unlock()
	return r.committed, r.committedSeq
}

func (r *Reader) persistLocked() error {
	tmp := r.path + ".tmp"
	if err := os.WriteFile(tmp, encodeCursor(r.committed, r.committedSeq), 0o640); err != nil {
		return fmt.Errorf("writing cursor of %s: %w", r.name, err)
	}
	if err := os.Rename(tmp, r.path); err != nil {
		return fmt.Errorf("replacing cursor of %s: %w", r.name, err)
	}
	return nil
}

func (r *Reader) closeFile() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}
