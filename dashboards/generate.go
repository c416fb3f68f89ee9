package dashboards

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// Files are generated files by their slash-separated path under the
// generated folder.
type Files map[string][]byte

// Paths are the files' paths, sorted.
func (f Files) Paths() []string { return slices.Sorted(maps.Keys(f)) }

// Generate returns every generated file: the six dashboards
// (<uid>.json), the rules of the SLOs and of the collector's and services'
// alerts with their promtool unit tests (rules/), the example Alertmanager
// configuration and the Grafana provisioning. The same options always
// give the same bytes.
func Generate(o Options) (Files, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("dashboards options: %w", err)
	}
	files := Files{}
	for _, b := range []*board{o.overview(), o.service(), o.reliability(), o.slos(), o.collector(), o.chaos()} {
		d, err := b.Build()
		if err != nil {
			return nil, fmt.Errorf("building a dashboard: %w", err)
		}
		numberPanels(&d)
		out, err := encodeJSON(d)
		if err != nil {
			return nil, fmt.Errorf("encoding the dashboard %s: %w", *d.Uid, err)
		}
		files[*d.Uid+".json"] = out
	}
	for path, gen := range map[string]func() ([]byte, error){
		EstateRulesFile: o.estateRules,
		SLORulesFile:    o.sloRules,
		estateTestsFile: o.estateTests,
		sloTestsFile:    o.sloTests,
		AlertmanagerFile: func() ([]byte, error) {
			return Alertmanager(o.Endpoints, DefaultTiming)
		},
		DatasourcesFile: o.datasources,
		ProvidersFile:   o.providers,
	} {
		b, err := gen()
		if err != nil {
			return nil, fmt.Errorf("generating %s: %w", path, err)
		}
		files[path] = b
	}
	return files, nil
}

// boardModel is a dashboard of the SDK's v1 schema, as board builds it.
//
//lint:ignore SA1019 the v1 schema is the one every Grafana provisions (board)
type boardModel = dashboard.Dashboard //nolint:staticcheck // the v1 schema is the one every Grafana provisions (board)

// numberPanels gives every panel an id of its own, in order: Grafana
// needs them to tell panels apart (links to one panel, its state in the
// URL), and leaves them unset otherwise.
func numberPanels(d *boardModel) {
	var id uint32
	next := func() uint32 { id++; return id }
	for i := range d.Panels {
		switch p := d.Panels[i]; {
		case p.Panel != nil:
			p.Panel.Id = cog.ToPtr(next())
		case p.RowPanel != nil:
			p.RowPanel.Id = next()
			for j := range p.RowPanel.Panels {
				p.RowPanel.Panels[j].Id = cog.ToPtr(next())
			}
		}
	}
}

// encodeJSON writes v as indented JSON with every object's keys sorted
// and no HTML escaping, so that a change to a dashboard is a small diff.
func encodeJSON(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // numbers as written, not through float64
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(tree); err != nil { // maps encode with sorted keys
		return nil, err
	}
	return b.Bytes(), nil
}

// Write writes the files under dir, creating folders as needed.
func (f Files) Write(dir string) error {
	for _, p := range f.Paths() {
		path := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("creating the folder of %s: %w", path, err)
		}
		if err := os.WriteFile(path, f[p], 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return nil
}

// Read reads every file under dir.
func Read(dir string) (Files, error) {
	files := Files{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the generated files: %w", err)
	}
	return files, nil
}

// ErrStale is the error of Stale when the files on disk are not those
// generated.
var ErrStale = errors.New("generated files are stale")

// Stale compares what dir holds with want: it names each file that
// differs, is missing or should not be there, and wraps ErrStale when
// any does.
func Stale(dir string, want Files) error {
	have, err := Read(dir)
	if err != nil {
		return err
	}
	var problems []error
	for _, p := range want.Paths() {
		switch b, ok := have[p]; {
		case !ok:
			problems = append(problems, fmt.Errorf("%s is missing", p))
		case !bytes.Equal(b, want[p]):
			problems = append(problems, fmt.Errorf("%s differs from what is generated", p))
		}
	}
	for _, p := range have.Paths() {
		if _, ok := want[p]; !ok {
			problems = append(problems, fmt.Errorf("%s is not generated: remove it", p))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w in %s: %w", ErrStale, dir, errors.Join(problems...))
	}
	return nil
}
