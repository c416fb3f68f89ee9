// Package timebound parses the time bounds of queries and commands (from,
// to) the one way every API and command of Estate takes them: RFC 3339,
// within the years a time.Time can hold as nanoseconds since the Unix
// epoch. Stores and queries compute with UnixNano, which silently wraps
// outside 1677-09-21 to 2262-04-11, so a bound outside them would return
// nothing instead of an error.
package timebound

import (
	"errors"
	"math"
	"time"
)

// Min and Max are the first and last instants of UnixNano's range.
var (
	Min = time.Unix(0, math.MinInt64).UTC()
	Max = time.Unix(0, math.MaxInt64).UTC()
)

// The errors of Parse and Check; their text completes a sentence naming
// the parameter ("from must be ...").
var (
	ErrSyntax = errors.New("must be an RFC 3339 timestamp, such as 2026-11-02T00:00:00Z")
	ErrRange  = errors.New("must be between " + Min.Truncate(time.Second).Add(time.Second).Format(time.RFC3339) +
		" and " + Max.Truncate(time.Second).Format(time.RFC3339))
)

// Parse reads an RFC 3339 time, with or without fractional seconds, in
// UTC. Errors: ErrSyntax, ErrRange.
func Parse(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, ErrSyntax
	}
	if err := Check(t); err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// Check returns ErrRange for a time outside [Min, Max].
func Check(t time.Time) error {
	if t.Before(Min) || t.After(Max) {
		return ErrRange
	}
	return nil
}
