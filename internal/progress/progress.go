// Package progress shows how far long command-line work has come: a bar
// with its rate and the time left on a terminal, plain lines otherwise
// (every few seconds and at each tenth of the way), so a log of a CI job
// gets a line now and then rather than a stream of carriage returns.
//
// It writes to the writer it is given, standard error in the commands, so
// that standard output stays what scripts parse.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Options describe the work.
type Options struct {
	// Description names the work: "migrating invoicing".
	Description string
	// Total is the amount of work; zero when it is not known.
	Total int64
	// Unit names what is counted: "steps", "requests". Bytes counts bytes
	// and prints them as such.
	Unit  string
	Bytes bool
	// Every is how often a plain line is written at most when not on a
	// terminal; 5 s when zero. A line is also written each time another
	// tenth of Total is done.
	Every time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Reporter reports the progress of one piece of work. Its methods are safe
// for concurrent use; a nil Reporter does nothing.
type Reporter struct {
	o   Options
	w   io.Writer
	bar *progressbar.ProgressBar // on a terminal

	mu       sync.Mutex
	start    time.Time
	last     time.Time // of the last plain line
	lastTen  int64     // tenths of Total done at the last plain line
	done     int64
	finished bool
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) //nolint:gosec // a file descriptor fits an int
}

// New starts reporting to w: a bar when w is a terminal, plain lines
// otherwise.
func New(w io.Writer, o Options) *Reporter { return newReporter(w, IsTerminal(w), o) }

func newReporter(w io.Writer, terminal bool, o Options) *Reporter {
	if o.Every <= 0 {
		o.Every = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Unit == "" {
		o.Unit = "steps"
	}
	r := &Reporter{o: o, w: w, start: o.Now()}
	r.last = r.start
	if terminal {
		total := o.Total
		if total <= 0 {
			total = -1 // a spinner
		}
		rate := []progressbar.Option{progressbar.OptionShowIts(), progressbar.OptionSetItsString(o.Unit)}
		if o.Bytes {
			rate = nil // the bar shows bytes per second itself
		}
		r.bar = progressbar.NewOptions64(total, append(rate,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(o.Description),
			progressbar.OptionShowBytes(o.Bytes),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetWidth(30),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
		)...)
	}
	return r
}

// Add counts n more done.
func (r *Reporter) Add(n int64) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.set(r.done + n)
}

// Set says how much is done in all.
func (r *Reporter) Set(done int64) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.set(done)
}

func (r *Reporter) set(done int64) {
	if r.finished {
		return
	}
	r.done = done
	if r.bar != nil {
		if r.o.Total > 0 {
			// The bar completes itself on reaching its total; Finish
			// does that, once the work is really over.
			done = min(done, r.o.Total-1)
		}
		_ = r.bar.Set64(done)
		return
	}
	now := r.o.Now()
	ten := int64(0)
	if r.o.Total > 0 {
		ten = min(done*10/r.o.Total, 10)
	}
	if now.Sub(r.last) < r.o.Every && ten <= r.lastTen {
		return
	}
	if ten >= 10 {
		return // Finish says it
	}
	r.last, r.lastTen = now, ten
	fmt.Fprintln(r.w, r.line(now))
}

// line is the plain line of the progress at now.
func (r *Reporter) line(now time.Time) string {
	el := now.Sub(r.start)
	s := fmt.Sprintf("%s: %s", r.o.Description, r.amount(r.done))
	if r.o.Total > 0 {
		s += fmt.Sprintf(" of %s (%d%%)", r.amount(r.o.Total), r.done*100/r.o.Total)
	}
	s += ", " + round(el) + " elapsed"
	if el > 0 && r.done > 0 {
		rate := float64(r.done) / el.Seconds()
		s += fmt.Sprintf(", %s/s", r.amountF(rate))
		if r.o.Total > r.done {
			s += ", about " + round(time.Duration(float64(r.o.Total-r.done)/rate*float64(time.Second))) + " left"
		}
	}
	return s
}

// Finish reports the work done; later calls do nothing.
func (r *Reporter) Finish() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return
	}
	r.finished = true
	if r.bar != nil {
		if r.o.Total > 0 && r.done < r.o.Total {
			// Stopped short (an error, or a total that was only an
			// estimate): end the bar's line where it stands.
			_ = r.bar.Exit()
			return
		}
		_ = r.bar.Finish()
		return
	}
	fmt.Fprintf(r.w, "%s: done, %s in %s\n", r.o.Description, r.amount(r.done), round(r.o.Now().Sub(r.start)))
}

// Reader counts what is read through it as done.
func (r *Reporter) Reader(rd io.Reader) io.Reader { return &countingReader{rd, r} }

type countingReader struct {
	rd io.Reader
	r  *Reporter
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.rd.Read(p)
	c.r.Add(int64(n))
	return n, err
}

func (r *Reporter) amount(n int64) string { return r.amountF(float64(n)) }

func (r *Reporter) amountF(v float64) string {
	if !r.o.Bytes {
		if v == float64(int64(v)) {
			return fmt.Sprintf("%d %s", int64(v), r.o.Unit)
		}
		return fmt.Sprintf("%.1f %s", v, r.o.Unit)
	}
	const unit = 1024
	if v < unit {
		return fmt.Sprintf("%.0f B", v)
	}
	exp := 0
	for v >= unit*unit && exp < 4 {
		v /= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", v/unit, "KMGTP"[exp])
}

func round(d time.Duration) string {
	if d < 10*time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
