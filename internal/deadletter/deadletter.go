// Package deadletter keeps what a component refused for good, so that no
// refused record is dropped without a trace: each record, with its reason,
// is appended as one JSON line to a file per UTC day, synced before the
// write returns. The Elasticsearch exporter writes the records the cluster
// refuses; the events API writes the items its intakes cannot map.
package deadletter

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// File appends records of type T to <dir>/<prefix>-<YYYY-MM-DD>.jsonl. It
// is safe for concurrent use. A caller that retries after a failed write
// may append a record twice: records should carry what tells copies apart.
type File[T any] struct {
	dir    string
	prefix string
	now    func() time.Time

	mu sync.Mutex
}

// New returns a File under dir whose files are named prefix-<day>.jsonl;
// now (nil is time.Now) dates them. The folder is made at the first write.
func New[T any](dir, prefix string, now func() time.Time) *File[T] {
	if now == nil {
		now = time.Now
	}
	return &File[T]{dir: dir, prefix: prefix, now: now}
}

// Dir is the folder the files are in.
func (f *File[T]) Dir() string { return f.dir }

// Write appends records, one JSON line each, and syncs the file (and, for
// a new file, its folder) before it returns. Errors: the file system's,
// or a record that does not encode; then nothing is appended.
func (f *File[T]) Write(records ...T) (err error) {
	if len(records) == 0 {
		return nil
	}
	var buf []byte
	for _, r := range records {
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encoding dead letter: %w", err)
		}
		buf = append(append(buf, b...), '\n')
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := os.MkdirAll(f.dir, 0o750); err != nil {
		return fmt.Errorf("creating dead-letter folder: %w", err)
	}
	name := filepath.Join(f.dir, f.prefix+"-"+f.now().UTC().Format("2006-01-02")+".jsonl")
	_, statErr := os.Stat(name)
	fh, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("opening dead-letter file: %w", err)
	}
	defer func() {
		if cerr := fh.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing dead-letter file: %w", cerr)
		}
	}()
	if _, err := fh.Write(buf); err != nil {
		return fmt.Errorf("writing dead-letter file: %w", err)
	}
	if err := fh.Sync(); err != nil {
		return fmt.Errorf("syncing dead-letter file: %w", err)
	}
	if errors.Is(statErr, os.ErrNotExist) {
		// A new file's name is durable only once its folder is synced.
		if d, err := os.Open(f.dir); err == nil {
			serr := d.Sync()
			_ = d.Close()
			if serr != nil {
				return fmt.Errorf("syncing dead-letter folder: %w", serr)
			}
		}
	}
	return nil
}
