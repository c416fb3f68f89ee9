package otlp

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestStalledUploadsLeaveOtherSendersServed: sixteen uploads on loopback
// each declare a whole request's worth of Content-Length, as many as the
// memory budget holds, send a little and stall. The budget is reserved as
// bytes arrive, so another sender's request is still served with 200;
// once the stalled uploads are cut, everything is released.
func TestStalledUploadsLeaveOtherSendersServed(t *testing.T) {
	const (
		stalled  = 16
		maxBytes = 1 << 20
		sent     = 1024
	)
	q := &fakeQueue{}
	r, err := New(Options{Queue: q, MaxRequestBytes: maxBytes, Limiter: NewLimiter(stalled * maxBytes)})
	require.NoError(t, err)
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()

	conns := make([]net.Conn, 0, stalled)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for range stalled {
		c, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), 5*time.Second)
		require.NoError(t, err)
		conns = append(conns, c)
		_, err = fmt.Fprintf(c, "POST /v1/logs HTTP/1.1\r\nHost: estate.test\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			maxBytes, strings.Repeat(" ", sent))
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return r.opts.Limiter.InFlight() == stalled*sent },
		10*time.Second, 10*time.Millisecond, "each stalled upload holds what it sent, not what it declared")

	logs := `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"hi"}}]}]}]}`
	for range 3 {
		res, err := srv.Client().Post(srv.URL+"/v1/logs", "application/json", bytes.NewBufferString(logs))
		require.NoError(t, err)
		require.NoError(t, res.Body.Close())
		require.Equal(t, http.StatusOK, res.StatusCode)
	}
	q.mu.Lock()
	require.Len(t, q.recs, 3)
	q.mu.Unlock()

	for _, c := range conns {
		require.NoError(t, c.Close())
	}
	conns = nil
	require.Eventually(t, func() bool { return r.opts.Limiter.InFlight() == 0 },
		10*time.Second, 10*time.Millisecond, "a cut upload releases what it held")
}
