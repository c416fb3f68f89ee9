package sloreport

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/estatehq/estate/internal/timebound"
)

// ISOWeek is an ISO 8601 week in UTC: from Monday 00:00 to the next Monday
// 00:00. Week 1 of a year is the week that holds its first Thursday, so
// it may start in December (2026-W01 starts on 2025-12-29), and a year
// has 53 weeks when it starts on a Thursday, or on a Wednesday in a leap
// year (2020, 2026), else 52.
type ISOWeek struct {
	Year, Week int
}

// ErrNoSuchWeek is wrapped by the error of a week number a year does not
// have, such as 2025-W53.
var ErrNoSuchWeek = errors.New("no such ISO week")

var weekPattern = regexp.MustCompile(`^(\d{4})-W(\d{2})$`)

// ParseWeek reads a week written as ISO 8601 does: 2026-W47. Errors: a
// malformed week, one wrapping ErrNoSuchWeek for a week number the year
// does not have, and one wrapping timebound.ErrRange for a week outside
// the years a time.Time holds in nanoseconds.
func ParseWeek(s string) (ISOWeek, error) {
	m := weekPattern.FindStringSubmatch(s)
	if m == nil {
		return ISOWeek{}, fmt.Errorf("week %q: must be an ISO week such as 2026-W47", s)
	}
	y, _ := strconv.Atoi(m[1])
	n, _ := strconv.Atoi(m[2])
	if n < 1 || n > WeeksIn(y) {
		return ISOWeek{}, fmt.Errorf("week %s: %d has weeks 01 to %02d: %w", s, y, WeeksIn(y), ErrNoSuchWeek)
	}
	w := ISOWeek{Year: y, Week: n}
	if timebound.Check(w.Start()) != nil || timebound.Check(w.End()) != nil {
		return ISOWeek{}, fmt.Errorf("week %s: its days %w", s, timebound.ErrRange)
	}
	return w, nil
}

// WeekOf is the ISO week that holds t, in UTC.
func WeekOf(t time.Time) ISOWeek {
	y, n := t.UTC().ISOWeek()
	return ISOWeek{Year: y, Week: n}
}

// WeeksIn is the number of ISO weeks of year: 52 or 53. The week that
// holds 28 December is always its last.
func WeeksIn(year int) int {
	_, n := time.Date(year, 12, 28, 0, 0, 0, 0, time.UTC).ISOWeek()
	return n
}

// Start is the week's first instant: Monday 00:00 UTC.
func (w ISOWeek) Start() time.Time {
	// 4 January is always in week 1.
	jan4 := time.Date(w.Year, 1, 4, 0, 0, 0, 0, time.UTC)
	monday := jan4.AddDate(0, 0, -((int(jan4.Weekday()) + 6) % 7))
	return monday.AddDate(0, 0, 7*(w.Week-1))
}

// End is the instant after the week: the next Monday 00:00 UTC.
func (w ISOWeek) End() time.Time { return w.Start().AddDate(0, 0, 7) }

// Add is the week n weeks later (earlier when n is negative).
func (w ISOWeek) Add(n int) ISOWeek { return WeekOf(w.Start().AddDate(0, 0, 7*n)) }

// String writes the week as ISO 8601 does: 2026-W47.
func (w ISOWeek) String() string { return fmt.Sprintf("%04d-W%02d", w.Year, w.Week) }

// IsZero reports whether w is the zero ISOWeek, which names no week.
func (w ISOWeek) IsZero() bool { return w == ISOWeek{} }

// MarshalText implements encoding.TextMarshaler.
func (w ISOWeek) MarshalText() ([]byte, error) { return []byte(w.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (w *ISOWeek) UnmarshalText(b []byte) error {
	p, err := ParseWeek(string(b))
	if err != nil {
		return err
	}
	*w = p
	return nil
}
