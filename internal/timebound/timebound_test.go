package timebound

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr error
	}{
		{"2026-11-02T00:00:00Z", time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), nil},
		{"2026-11-02T01:30:00.5+01:30", time.Date(2026, 11, 2, 0, 0, 0, 5e8, time.UTC), nil},
		{"1677-09-21T00:12:44Z", time.Date(1677, 9, 21, 0, 12, 44, 0, time.UTC), nil},
		{"2262-04-11T23:47:16Z", time.Date(2262, 4, 11, 23, 47, 16, 0, time.UTC), nil},
		{"1677-09-21T00:12:43Z", time.Time{}, ErrRange},
		{"1600-01-01T00:00:00Z", time.Time{}, ErrRange},
		{"2262-04-11T23:47:17Z", time.Time{}, ErrRange},
		{"9999-12-31T23:59:59Z", time.Time{}, ErrRange},
		{"0001-01-01T00:00:00Z", time.Time{}, ErrRange},
		{"2262-04-12T01:00:00+02:00", time.Date(2262, 4, 11, 23, 0, 0, 0, time.UTC), nil},
		{"yesterday", time.Time{}, ErrSyntax},
		{"2026-11-02", time.Time{}, ErrSyntax},
		{"", time.Time{}, ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			require.ErrorIs(t, err, tt.wantErr)
			require.True(t, tt.want.Equal(got), "got %s", got)
			if err == nil {
				require.Equal(t, time.UTC, got.Location())
				require.Equal(t, got, time.Unix(0, got.UnixNano()).UTC(), "UnixNano holds it")
			}
		})
	}
	require.EqualError(t, ErrRange, "must be between 1677-09-21T00:12:44Z and 2262-04-11T23:47:16Z")
}
