package sloreport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// FieldError is one problem of an SLO document, at one field.
type FieldError struct {
	// File is the document's file, when it came from one.
	File string
	// Line is where the field is, from 1; 0 when unknown.
	Line int
	// Field is the field's path in the document, such as
	// spec.objectives[0].target; empty for the document as a whole.
	Field string
	// Msg says what is wrong.
	Msg string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// maxNodes bounds the YAML nodes of one document, aliases followed, so
// that a small file of nested aliases cannot take the decoder's memory.
const maxNodes = 100_000

// Parse decodes the SLO documents of data (several documents separated by
// ---), strictly: an unknown key is an error. file names the source in
// errors and may be empty. The error, if any, joins one *FieldError per
// problem; the SLOs of the valid documents are returned beside it.
func Parse(file string, data []byte) ([]SLO, error) {
	var (
		slos []SLO
		errs []error
		seen = map[string]bool{}
	)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, yamlError(file, err))
			break // the decoder cannot go past a syntax error
		}
		if empty(&doc) {
			continue
		}
		s, line, docErrs := decodeDocument(file, &doc)
		switch {
		case len(docErrs) > 0:
			errs = append(errs, docErrs...)
		case seen[s.Name]:
			errs = append(errs, &FieldError{File: file, Line: line, Field: "metadata.name", Msg: fmt.Sprintf("%q names an earlier SLO of this file too", s.Name)})
		default:
			seen[s.Name] = true
			slos = append(slos, s)
		}
	}
	return slos, errors.Join(errs...)
}

// ParseFiles reads and decodes every file; names must be unique across
// them. Errors as Parse, for every file.
func ParseFiles(paths ...string) ([]SLO, error) {
	return parseEach(paths, os.ReadFile)
}

// ParseFS decodes every file of fsys whose name ends in .yaml or .yml,
// in lexical order, as ParseFiles.
func ParseFS(fsys fs.FS) ([]SLO, error) {
	var paths []string
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			paths = append(paths, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing SLO files: %w", err)
	}
	return parseEach(paths, func(p string) ([]byte, error) { return fs.ReadFile(fsys, p) })
}

func parseEach(paths []string, read func(string) ([]byte, error)) ([]SLO, error) {
	var (
		all  []SLO
		errs []error
		from = map[string]string{}
	)
	for _, p := range paths {
		b, err := read(p)
		if err != nil {
			errs = append(errs, &FieldError{File: p, Msg: fmt.Sprintf("cannot be read: %v", err)})
			continue
		}
		slos, err := Parse(p, b)
		if err != nil {
			errs = append(errs, err)
		}
		for _, s := range slos {
			if f, ok := from[s.Name]; ok {
				errs = append(errs, &FieldError{File: p, Field: "metadata.name", Msg: fmt.Sprintf("%q names an SLO of %s too", s.Name, f)})
				continue
			}
			from[s.Name] = p
			all = append(all, s)
		}
	}
	return all, errors.Join(errs...)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

func yamlError(file string, err error) error {
	msg := err.Error()
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	}
	return &FieldError{File: file, Line: line, Msg: "is not valid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

func empty(doc *yaml.Node) bool {
	n := doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return true
		}
		n = n.Content[0]
	}
	return n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// The document as OpenSLO writes it: the subset Estate reads. The walker
// below decodes into these strictly, by their yaml tags.
type (
	document struct {
		APIVersion string   `yaml:"apiVersion"`
		Kind       string   `yaml:"kind"`
		Metadata   metadata `yaml:"metadata"`
		Spec       spec     `yaml:"spec"`
	}
	metadata struct {
		Name        string            `yaml:"name"`
		DisplayName string            `yaml:"displayName"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	}
	spec struct {
		Description     string       `yaml:"description"`
		Service         string       `yaml:"service"`
		Indicator       *indicator   `yaml:"indicator"`
		IndicatorRef    *string      `yaml:"indicatorRef"`
		TimeWindow      []timeWindow `yaml:"timeWindow"`
		BudgetingMethod string       `yaml:"budgetingMethod"`
		Objectives      []objective  `yaml:"objectives"`
	}
	indicator struct {
		Metadata metadata `yaml:"metadata"`
		Spec     sliSpec  `yaml:"spec"`
	}
	sliSpec struct {
		RatioMetric     *ratioMetric  `yaml:"ratioMetric"`
		ThresholdMetric *metricHolder `yaml:"thresholdMetric"`
	}
	ratioMetric struct {
		Counter *bool         `yaml:"counter"`
		Good    *metricHolder `yaml:"good"`
		Bad     *metricHolder `yaml:"bad"`
		Total   *metricHolder `yaml:"total"`
	}
	metricHolder struct {
		MetricSource metricSource `yaml:"metricSource"`
	}
	metricSource struct {
		Type string      `yaml:"type"`
		Spec querySource `yaml:"spec"`
	}
	querySource struct {
		Query string `yaml:"query"`
	}
	timeWindow struct {
		Duration  string    `yaml:"duration"`
		IsRolling *bool     `yaml:"isRolling"`
		Calendar  *calendar `yaml:"calendar"`
	}
	calendar struct {
		StartTime string `yaml:"startTime"`
		TimeZone  string `yaml:"timeZone"`
	}
	objective struct {
		DisplayName   string   `yaml:"displayName"`
		Op            string   `yaml:"op"`
		Value         *float64 `yaml:"value"`
		Target        *float64 `yaml:"target"`
		TargetPercent *float64 `yaml:"targetPercent"`
	}
)

// walker decodes a YAML node into a value strictly, naming the field of
// every problem, and remembers each field's line.
type walker struct {
	file  string
	errs  []*FieldError
	lines map[string]int
	nodes int
}

func (w *walker) fail(field string, line int, format string, args ...any) {
	w.errs = append(w.errs, &FieldError{File: w.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// line is where field was, or its nearest parent.
func (w *walker) line(field string) int {
	for {
		if l, ok := w.lines[field]; ok {
			return l
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			return w.lines[""]
		}
		field = field[:i]
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func (w *walker) decode(path string, n *yaml.Node, v reflect.Value) {
	w.nodes++
	if w.nodes > maxNodes {
		if w.nodes == maxNodes+1 {
			w.fail("", n.Line, "the document has more than %d nodes", maxNodes)
		}
		return
	}
	if n.Kind == yaml.DocumentNode {
		w.decode(path, n.Content[0], v)
		return
	}
	if n.Kind == yaml.AliasNode {
		w.decode(path, n.Alias, v)
		return
	}
	if _, ok := w.lines[path]; !ok {
		w.lines[path] = n.Line
	}
	switch v.Kind() {
	case reflect.Pointer:
		if isNull(n) {
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		w.decode(path, n, v.Elem())
	case reflect.Struct:
		w.decodeStruct(path, n, v)
	case reflect.Map:
		w.decodeMap(path, n, v)
	case reflect.Slice:
		if isNull(n) {
			return
		}
		if n.Kind != yaml.SequenceNode {
			w.fail(path, n.Line, "must be a list, not %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			w.decode(fmt.Sprintf("%s[%d]", path, i), c, s.Index(i))
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			w.fail(path, n.Line, "must be a string, not %s", describe(n))
			return
		}
		if !isNull(n) {
			v.SetString(n.Value)
		}
	case reflect.Float64, reflect.Bool:
		what := "a number"
		if v.Kind() == reflect.Bool {
			what = "true or false"
		}
		if n.Kind != yaml.ScalarNode || n.Decode(v.Addr().Interface()) != nil {
			w.fail(path, n.Line, "must be %s, not %s", what, describe(n))
		}
	default:
		panic(fmt.Sprintf("sloreport: no decoding of %s", v.Type()))
	}
}

func (w *walker) decodeStruct(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		if !isNull(n) {
			w.fail(path, n.Line, "must be a mapping, not %s", describe(n))
		}
		return
	}
	t := v.Type()
	fields := map[string]int{}
	var names []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		fields[name] = i
		names = append(names, name)
	}
	sort.Strings(names)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			w.fail(path, k.Line, "keys must be strings, not %s", describe(k))
			continue
		}
		field := join(path, k.Value)
		idx, ok := fields[k.Value]
		switch {
		case !ok:
			w.fail(field, k.Line, "unknown field (%s has %s)", orDocument(path), strings.Join(names, ", "))
		case seen[k.Value]:
			w.fail(field, k.Line, "is set twice")
		default:
			seen[k.Value] = true
			w.lines[field] = k.Line
			w.decode(field, val, v.Field(idx))
		}
	}
}

// within says whether field is parent or one of its fields.
func within(field, parent string) bool {
	return field == parent || strings.HasPrefix(field, parent+".") || strings.HasPrefix(field, parent+"[")
}

func orDocument(path string) string {
	if path == "" {
		return "the document"
	}
	return path
}

func (w *walker) decodeMap(path string, n *yaml.Node, v reflect.Value) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		w.fail(path, n.Line, "must be a mapping of strings, not %s", describe(n))
		return
	}
	m := reflect.MakeMap(v.Type())
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if val.Kind == yaml.AliasNode {
			val = val.Alias
		}
		field := join(path, k.Value)
		switch {
		case k.Kind != yaml.ScalarNode:
			w.fail(path, k.Line, "keys must be strings, not %s", describe(k))
		case val.Kind != yaml.ScalarNode:
			w.fail(field, val.Line, "must be a string, not %s", describe(val))
		case m.MapIndex(reflect.ValueOf(k.Value)).IsValid():
			w.fail(field, k.Line, "is set twice")
		default:
			w.lines[field] = k.Line
			m.SetMapIndex(reflect.ValueOf(k.Value), reflect.ValueOf(val.Value))
		}
	}
	v.Set(m)
}

// decodeDocument decodes and validates one document; line is where its
// name is. The document's problems come in the order of their lines.
func decodeDocument(file string, n *yaml.Node) (s SLO, line int, errs []error) {
	w := &walker{file: file, lines: map[string]int{}}
	var doc document
	w.decode("", n, reflect.ValueOf(&doc).Elem())
	problems := w.errs
	// Validate what could be decoded too, so that one run names every
	// problem; a field that could not be decoded is named once.
	w.errs = nil
	v := &validator{walker: w}
	s = v.document(&doc)
	for _, p := range w.errs {
		if !slices.ContainsFunc(problems, func(d *FieldError) bool { return within(p.Field, d.Field) }) {
			problems = append(problems, p)
		}
	}
	slices.SortStableFunc(problems, func(a, b *FieldError) int { return a.Line - b.Line })
	for _, p := range problems {
		errs = append(errs, p)
	}
	return s, w.line("metadata.name"), errs
}
