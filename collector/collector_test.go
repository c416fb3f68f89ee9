package collector

import (
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
