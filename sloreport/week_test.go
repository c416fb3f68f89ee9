package sloreport

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// TestParseWeek pins ISO 8601 weeks across year ends. 2026 starts on a
// Thursday, so it has 53 weeks: 2026-W53 runs from 28 December 2026 to 3
// January 2027, and 2027-W01 starts on 4 January. 2025 starts on a
// Wednesday and is not a leap year: it has 52, and 2025-W53 does not
// exist.
func TestParseWeek(t *testing.T) {
	tests := []struct {
		in         string
		start, end time.Time
		err        string
		// noSuch: the error wraps ErrNoSuchWeek.
		noSuch bool
	}{
		{in: "2026-W47", start: date(2026, 11, 16), end: date(2026, 11, 23)},
		{in: "2026-W01", start: date(2025, 12, 29), end: date(2026, 1, 5)},
		{in: "2026-W52", start: date(2026, 12, 21), end: date(2026, 12, 28)},
		{in: "2026-W53", start: date(2026, 12, 28), end: date(2027, 1, 4)},
		{in: "2027-W01", start: date(2027, 1, 4), end: date(2027, 1, 11)},
		{in: "2020-W53", start: date(2020, 12, 28), end: date(2021, 1, 4)},
		{in: "2025-W01", start: date(2024, 12, 30), end: date(2025, 1, 6)},
		{in: "2025-W53", err: "week 2025-W53: 2025 has weeks 01 to 52: no such ISO week", noSuch: true},
		{in: "2027-W53", err: "week 2027-W53: 2027 has weeks 01 to 52: no such ISO week", noSuch: true},
		{in: "2026-W54", err: "week 2026-W54: 2026 has weeks 01 to 53: no such ISO week", noSuch: true},
		{in: "2026-W00", err: "week 2026-W00: 2026 has weeks 01 to 53", noSuch: true},
		{in: "1677-W38", err: "week 1677-W38: its days must be between 1677-09-21T00:12:44Z and 2262-04-11T23:47:16Z"},
		{in: "1677-W39", start: date(1677, 9, 27), end: date(1677, 10, 4)},
		{in: "2262-W14", start: date(2262, 3, 31), end: date(2262, 4, 7)},
		{in: "2262-W15", err: "week 2262-W15: its days must be between"},
		{in: "0001-W01", err: "its days must be between"},
		{in: "2026-47", err: `week "2026-47": must be an ISO week such as 2026-W47`},
		{in: "2026-W7", err: "must be an ISO week"},
		{in: "", err: "must be an ISO week"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			w, err := ParseWeek(tc.in)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				require.Equal(t, tc.noSuch, errors.Is(err, ErrNoSuchWeek))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.in, w.String())
			require.Equal(t, tc.start, w.Start())
			require.Equal(t, tc.end, w.End())
			require.Equal(t, w, WeekOf(w.Start()))
			require.Equal(t, w, WeekOf(w.End().Add(-time.Nanosecond)))
			require.Equal(t, w.Add(1), WeekOf(w.End()))
		})
	}
}

func TestWeekArithmetic(t *testing.T) {
	w52 := ISOWeek{2026, 52}
	require.Equal(t, ISOWeek{2026, 53}, w52.Add(1))
	require.Equal(t, ISOWeek{2027, 1}, w52.Add(2))
	require.Equal(t, ISOWeek{2025, 52}, ISOWeek{2026, 1}.Add(-1))
	require.Equal(t, ISOWeek{2026, 53}, WeekOf(date(2027, 1, 3).Add(23*time.Hour)))
	require.Equal(t, 53, WeeksIn(2026))
	require.Equal(t, 52, WeeksIn(2025))
	var u ISOWeek
	require.NoError(t, u.UnmarshalText([]byte("2026-W53")))
	require.Equal(t, ISOWeek{2026, 53}, u)
	require.Error(t, u.UnmarshalText([]byte("2025-W53")))
	b, err := u.MarshalText()
	require.NoError(t, err)
	require.Equal(t, "2026-W53", string(b))
}
