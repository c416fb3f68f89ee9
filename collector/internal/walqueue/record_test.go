package walqueue

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFrameRoundTrip(t *testing.T) {
	b := appendFrame(nil, 42, []byte("hello"))
	f, n, err := decodeFrame(b, 1<<20)
	require.NoError(t, err)
	require.Equal(t, len(b), n)
	require.Equal(t, int64(42), f.time)
	require.Equal(t, []byte("hello"), f.payload)
	for i := range b {
		bad := bytes.Clone(b)
		bad[i] ^= 1
		_, _, err := decodeFrame(bad, 1<<20)
		require.Error(t, err, "flipping byte %d must be caught", i)
	}
}

// FuzzDecodeFrame feeds arbitrary bytes to the record decoder: it never
// panics, never claims more than it was given, and what it accepts encodes
// back to the same bytes.
func FuzzDecodeFrame(f *testing.F) {
	f.Add(appendFrame(nil, 1, []byte("x")))
	f.Add(appendFrame(nil, 1<<62, bytes.Repeat([]byte{0xab}, 300)))
	f.Add([]byte{})
	f.Add(make([]byte, 16))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := decodeFrame(b, 1<<16)
		switch {
		case err == nil:
			require.LessOrEqual(t, n, len(b))
			require.Equal(t, b[:n], appendFrame(nil, fr.time, fr.payload))
		case errors.Is(err, errChecksum):
			require.LessOrEqual(t, n, len(b))
		case errors.Is(err, errShort), errors.Is(err, errBadLength):
		default:
			t.Fatalf("unexpected error %v", err)
		}
		_, _ = decodeSegmentHeader(b)
		_, _, _ = decodeCursor(b)
	})
}
