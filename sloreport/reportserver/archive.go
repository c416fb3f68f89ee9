package reportserver

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/estatehq/estate/sloreport"
)

// ErrNotArchived is the error of a week whose report is not in the
// archive.
var ErrNotArchived = errors.New("report not archived")

// Archive keeps each week's report on disk, in every format, under one
// folder: 2026-W45.html, .md, .txt and .json.
type Archive struct{ dir string }

// OpenArchive opens the archive in dir, creating it if missing.
func OpenArchive(dir string) (*Archive, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("opening report archive: %w", err)
	}
	return &Archive{dir: dir}, nil
}

// Dir is the archive's folder.
func (a *Archive) Dir() string { return a.dir }

func (a *Archive) path(w sloreport.ISOWeek, f sloreport.Format) string {
	return filepath.Join(a.dir, w.String()+"."+f.Extension())
}

// Put archives a week's report in every format, each file written whole
// or not at all (Report.WriteFile); the JSON, which the listing reads,
// last. Errors: a report that is not
// of an ISO week, and the file system's.
func (a *Archive) Put(r *sloreport.Report) error {
	if r.Week == nil {
		return errors.New("archiving report: only a week's report is archived")
	}
	// The JSON, which the listing reads, last.
	for _, f := range []sloreport.Format{sloreport.HTML, sloreport.Markdown, sloreport.Text, sloreport.JSON} {
		if err := r.WriteFile(a.path(*r.Week, f), f); err != nil {
			return fmt.Errorf("archiving report %s: %w", r.Week, err)
		}
	}
	return nil
}

// Get is a week's archived report in format f. Errors: ErrNotArchived,
// and the file system's.
func (a *Archive) Get(w sloreport.ISOWeek, f sloreport.Format) ([]byte, error) {
	b, err := os.ReadFile(a.path(w, f))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("week %s: %w", w, ErrNotArchived)
	}
	if err != nil {
		return nil, fmt.Errorf("reading archived report %s: %w", w, err)
	}
	return b, nil
}

// Weeks lists the archived weeks, newest first.
func (a *Archive) Weeks() ([]sloreport.ISOWeek, error) {
	entries, err := os.ReadDir(a.dir)
	if err != nil {
		return nil, fmt.Errorf("listing report archive: %w", err)
	}
	var out []sloreport.ISOWeek
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() {
			continue
		}
		if w, err := sloreport.ParseWeek(name); err == nil {
			out = append(out, w)
		}
	}
	slices.SortFunc(out, func(x, y sloreport.ISOWeek) int { return y.Start().Compare(x.Start()) })
	return out, nil
}
