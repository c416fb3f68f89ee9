package service

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/collector"
)

// TestCorruptQueueRecordQuarantinedAndRestDelivered stops a collector with
// three requests queued and undelivered, flips a bit in the second and cuts
// a torn frame onto the end, and restarts it: the first and third are
// delivered, the second is in quarantine/, the torn tail is gone.
func TestCorruptQueueRecordQuarantinedAndRestDelivered(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t)
	g := &gate{open: make(chan struct{})}
	s, err := New(context.Background(), Options{Config: cfg, Dir: dir, WrapSink: g.wrap})
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	c := client(t)
	for _, body := range []string{"first", "second", "third"} {
		b, _ := logsRequest("rec", body).MarshalProto()
		resp, _ := post(t, c, "http://"+s.OTLPHTTPAddr()+"/v1/logs", "application/x-protobuf", b, false)
		require.Equal(t, 200, resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.Shutdown(ctx))

	segs, err := filepath.Glob(filepath.Join(dir, "queue", "segments", "*.wal"))
	require.NoError(t, err)
	require.Len(t, segs, 1)
	data, err := os.ReadFile(segs[0])
	require.NoError(t, err)
	first := 16 + 16 + int(binary.LittleEndian.Uint32(data[16:20]))
	second := 16 + int(binary.LittleEndian.Uint32(data[first:first+4]))
	bad := append([]byte(nil), data[first:first+second]...)
	data[first+second-1] ^= 0x01
	bad[len(bad)-1] ^= 0x01
	data = append(data, 0x20, 0, 0, 0, 1, 2, 3) // a torn frame header
	require.NoError(t, os.WriteFile(segs[0], data, 0o640))

	s = start(t, Options{Config: cfg, Dir: dir})
	logs := waitLogs(t, c, s.URL(), "rec", 2)
	require.ElementsMatch(t, []string{"first", "third"}, bodies(logs))
	q, err := filepath.Glob(filepath.Join(dir, "queue", "quarantine", "*.bad"))
	require.NoError(t, err)
	require.Len(t, q, 1)
	got, err := os.ReadFile(q[0])
	require.NoError(t, err)
	require.Equal(t, bad, got, "the quarantine file holds the corrupt record")
	st, err := os.Stat(segs[0])
	require.NoError(t, err)
	require.Equal(t, int64(len(data)-7), st.Size(), "the torn tail is truncated")
}

func bodies(logs []collector.LogRecord) []string {
	out := make([]string, 0, len(logs))
	for _, l := range logs {
		out = append(out, l.Body)
	}
	return out
}
