package metrics

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"sync"
)

// maxLineBytes bounds one line of a JSONL file: a deployment with thousands
// of commits fits many times over.
const maxLineBytes = 16 << 20

// LineError reports a bad line of a JSONL file. Lines count from 1.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

func (e *LineError) Unwrap() error { return e.Err }

// ReadJSONL reads a file of CloudEvents in structured JSON mode, one per
// line; blank lines are skipped. Every line is validated; the error of the
// first bad line is a *LineError (wrapping ErrInvalid for invalid events).
// Lines are decoded on every CPU, and the events returned in file order.
func ReadJSONL(r io.Reader) ([]Event, error) {
	type line struct {
		no   int
		text []byte
	}
	// The whole file is read at once: the lines then share one buffer, and
	// the report needs every event in memory anyway.
	all, err := readAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading events: %w", err)
	}
	var lines []line
	for n, rest := 1, all; len(rest) > 0; n++ {
		text := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			text, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		if len(text) > maxLineBytes {
			return nil, &LineError{Line: n, Err: fmt.Errorf("line longer than %d bytes", maxLineBytes)}
		}
		if text = bytes.TrimSpace(text); len(text) > 0 {
			lines = append(lines, line{no: n, text: text})
		}
	}

	events := make([]Event, len(lines))
	errs := make([]error, len(lines))
	workers := min(runtime.GOMAXPROCS(0), max(1, len(lines)/1024))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(lines); i += workers {
				ev, err := ParseEvent(lines[i].text)
				if err != nil {
					errs[i] = &LineError{Line: lines[i].no, Err: err}
					continue
				}
				events[i] = ev
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return events, nil
}

// WriteJSONL writes events as CloudEvents in structured JSON mode, one per
// line: the format ReadJSONL reads.
func WriteJSONL(w io.Writer, events []Event) error {
	bw := bufio.NewWriter(w)
	for _, e := range events {
		b, err := e.MarshalJSON()
		if err != nil {
			return fmt.Errorf("writing events: %w", err)
		}
		// bufio keeps the first write error and Flush returns it.
		_, _ = bw.Write(b)
		_ = bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing events: %w", err)
	}
	return nil
}

// ReportFromJSONL computes the report from a file of CloudEvents, one per
// line, with no store: what `estate report --events FILE` prints.
func ReportFromJSONL(r io.Reader, w Window, o Options) (Report, error) {
	if err := w.Validate(); err != nil {
		return Report{}, fmt.Errorf("computing report: %w", err)
	}
	events, err := ReadJSONL(r)
	if err != nil {
		return Report{}, err
	}
	deployments, incidents := Fold(events)
	return Compute(deployments, incidents, w, o)
}

// readAll is io.ReadAll that allocates the buffer once when the size is
// known (a file, a bytes.Reader), rather than growing it by copies.
func readAll(r io.Reader) ([]byte, error) {
	size := -1
	switch x := r.(type) {
	case interface{ Len() int }:
		size = x.Len()
	case interface{ Stat() (fs.FileInfo, error) }:
		if fi, err := x.Stat(); err == nil && fi.Mode().IsRegular() {
			size = int(fi.Size())
		}
	}
	if size < 0 {
		return io.ReadAll(r)
	}
	b := make([]byte, 0, size+512) // room to see EOF without growing
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) { // the file grew while being read
			b = append(b, 0)[:len(b)]
		}
	}
}
