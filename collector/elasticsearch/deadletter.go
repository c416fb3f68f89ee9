package elasticsearch

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// deadLetter is a record the cluster refused for good, with the reason.
type deadLetter struct {
	Time      string          `json:"time"`
	Index     string          `json:"index"`
	ID        string          `json:"id"`
	Status    int             `json:"status"`
	ErrorType string          `json:"error_type,omitempty"`
	Reason    string          `json:"reason"`
	Document  json.RawMessage `json:"document"`
}

// deadLetterFile appends dead letters to one JSONL file per UTC day under
// dir, synced before a write returns: the file, not the dead-letter index,
// is what makes a refused record "not silently dropped". A batch replayed
// after a crash may append a record twice; its id tells the copies apart.
type deadLetterFile struct {
	dir string
	now func() time.Time

	mu sync.Mutex
}

func (f *deadLetterFile) write(entries []deadLetter) (err error) {
	if len(entries) == 0 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := os.MkdirAll(f.dir, 0o750); err != nil {
		return fmt.Errorf("creating dead-letter folder: %w", err)
	}
	name := filepath.Join(f.dir, "deadletter-"+f.now().UTC().Format("2006-01-02")+".jsonl")
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
	var buf []byte
	for _, e := range entries {
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encoding dead letter: %w", err)
		}
		buf = append(append(buf, b...), '\n')
	}
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
