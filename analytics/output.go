package analytics

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Output is where an export's files go: a local folder (Dir) or an object
// store (analytics/s3). Keys are slash-separated paths relative to the
// export's root: "events/dt=2026-11-16/part-00000.parquet".
type Output interface {
	// Sum returns the hex SHA-256 of the file at key; found is false when
	// there is none. Errors: the context's, or the store's.
	Sum(ctx context.Context, key string) (sum string, found bool, err error)
	// Put stores the size bytes of r at key, replacing any file there, so
	// that a reader sees the old file or the new one, never a part.
	// sum is their hex SHA-256. Errors: the context's, or the store's.
	Put(ctx context.Context, key string, r io.Reader, size int64, sum string) error
	// Delete removes the file at key; none there is not an error. Errors:
	// the context's, or the store's.
	Delete(ctx context.Context, key string) error
}

// Dir is an Output onto a local folder.
type Dir struct {
	// Root is the folder; it is made when missing.
	Root string
}

func (d Dir) path(key string) (string, error) {
	if !fs.ValidPath(key) {
		return "", fmt.Errorf("key %q: not a relative slash-separated path", key)
	}
	return filepath.Join(d.Root, filepath.FromSlash(key)), nil
}

// Sum implements Output.
func (d Dir) Sum(ctx context.Context, key string) (string, bool, error) {
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	p, err := d.path(key)
	if err != nil {
		return "", false, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", false, fmt.Errorf("reading %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), true, nil
}

// Put implements Output: it writes a temporary file beside the target and
// renames it over the target.
func (d Dir) Put(ctx context.Context, key string, r io.Reader, size int64, sum string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil { //nolint:gosec // a data lake's folders are shared
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // gone after the rename; fails then
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), r)
	if err == nil && n != size {
		err = fmt.Errorf("wrote %d bytes of %d", n, size)
	}
	if err == nil && !strings.EqualFold(hex.EncodeToString(h.Sum(nil)), sum) {
		err = errors.New("content does not match its SHA-256")
	}
	if err = errors.Join(err, tmp.Chmod(0o644), tmp.Close()); err != nil { //nolint:gosec // data lake files are read by others
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return os.Rename(tmp.Name(), p)
}

// Delete implements Output. It removes the partition's folder too when
// that leaves it empty.
func (d Dir) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	_ = os.Remove(filepath.Dir(p)) // fails, as it should, when not empty
	return nil
}
