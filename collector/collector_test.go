package collector

import (
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRecordEnvelope(t *testing.T) {
	rec := EncodeRecord(SignalLogs, []byte{1, 2, 3})
	sig, payload, err := DecodeRecord(rec)
	require.NoError(t, err)
	require.Equal(t, SignalLogs, sig)
	require.Equal(t, []byte{1, 2, 3}, payload)
	for _, bad := range [][]byte{nil, {1}, {9, 2}, {1, 9}} {
		_, _, err := DecodeRecord(bad)
		require.ErrorIs(t, err, ErrBadRecord)
	}
}

func TestErrorClasses(t *testing.T) {
	require.True(t, IsPermanent(Permanent(io.EOF)))
	d, ok := RetryAfter(Throttle(io.EOF, 3))
	require.True(t, ok)
	require.EqualValues(t, 3, d)
	require.True(t, IsShutdown(&ShutdownError{Err: ErrShutdown}))
	require.False(t, IsPermanent(io.EOF))
}
