package progress

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// clock is a clock the test moves.
type clock struct{ t time.Time }

func (c *clock) now() time.Time                 { return c.t }
func (c *clock) advance(d time.Duration)        { c.t = c.t.Add(d) }
func lines(b *bytes.Buffer) []string            { return strings.Split(strings.TrimSpace(b.String()), "\n") }
func newPlain(w io.Writer, o Options) *Reporter { return newReporter(w, false, o) }

// TestPlainLines: off a terminal, a line at each tenth of the way and
// every Every, none between, and one when done.
func TestPlainLines(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var b bytes.Buffer
	r := newPlain(&b, Options{Description: "migrating invoicing", Total: 20, Now: c.now})
	c.advance(time.Second)
	r.Add(1) // 5%: not yet a tenth, and Every has not passed
	require.Empty(t, b.String())
	r.Add(1) // 10%
	require.Equal(t, []string{"migrating invoicing: 2 steps of 20 steps (10%), 1s elapsed, 2 steps/s, about 9s left"}, lines(&b))
	r.Add(1)
	require.Len(t, lines(&b), 1, "15%: no new tenth, and Every has not passed")
	c.advance(5 * time.Second)
	r.Add(0)
	require.Equal(t, "migrating invoicing: 3 steps of 20 steps (15%), 6s elapsed, 0.5 steps/s, about 34s left", lines(&b)[1])
	r.Set(20)
	require.Len(t, lines(&b), 2, "the whole way is said by Finish")
	r.Finish()
	r.Finish()
	require.Equal(t, []string{
		"migrating invoicing: 2 steps of 20 steps (10%), 1s elapsed, 2 steps/s, about 9s left",
		"migrating invoicing: 3 steps of 20 steps (15%), 6s elapsed, 0.5 steps/s, about 34s left",
		"migrating invoicing: done, 20 steps in 6s",
	}, lines(&b))
	r.Add(5)
	require.Len(t, lines(&b), 3, "nothing after Finish")
}

// TestPlainBytesUnknownTotal: bytes print as such; without a total, a line
// every Every.
func TestPlainBytesUnknownTotal(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var b bytes.Buffer
	r := newPlain(&b, Options{Description: "reading events.jsonl", Bytes: true, Every: 10 * time.Second, Now: c.now})
	rd := r.Reader(strings.NewReader(strings.Repeat("x", 3<<20)))
	buf := make([]byte, 1<<20)
	for range 3 {
		c.advance(4 * time.Second)
		_, err := io.ReadFull(rd, buf)
		require.NoError(t, err)
	}
	r.Finish()
	require.Equal(t, []string{
		"reading events.jsonl: 3.0 MiB, 12s elapsed, 256.0 KiB/s",
		"reading events.jsonl: done, 3.0 MiB in 12s",
	}, lines(&b))
}

// TestTerminalBar: on a terminal, a bar redrawn in place with the rate and
// the time left, ended with a newline.
func TestTerminalBar(t *testing.T) {
	var b bytes.Buffer
	r := newReporter(&b, true, Options{Description: "migrating credit", Total: 4})
	for range 4 {
		r.Add(1)
		time.Sleep(110 * time.Millisecond) // past the bar's throttle
	}
	r.Finish()
	out := b.String()
	require.Contains(t, out, "\r", "redrawn in place")
	require.Contains(t, out, "migrating credit")
	require.Contains(t, out, "100%")
	require.Contains(t, out, "4/4")
	require.Contains(t, out, "steps/s")
	require.True(t, strings.HasSuffix(out, "\n"))
	require.NotContains(t, out, ": done,", "no plain lines on a terminal")
}

func TestIsTerminal(t *testing.T) {
	require.False(t, IsTerminal(&bytes.Buffer{}))
	f, err := os.CreateTemp(t.TempDir(), "out")
	require.NoError(t, err)
	defer f.Close()
	require.False(t, IsTerminal(f))
}

func TestNilReporter(t *testing.T) {
	var r *Reporter
	r.Add(1)
	r.Set(2)
	r.Finish()
}
