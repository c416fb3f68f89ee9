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

// TestOneSenderHoldsOnlyItsShare: a sender whose stalled upload holds its
// share of the budget is refused more (429), while another sender's same
// request is served.
func TestOneSenderHoldsOnlyItsShare(t *testing.T) {
	const share = 64 << 10
	q := &fakeQueue{}
	r, err := New(Options{Queue: q, MaxRequestBytes: 1 << 20, Limiter: NewLimiter(16 << 20), MaxSenderBytes: share,
		Sender: func(req *http.Request) string { return req.Header.Get("X-Sender") }})
	require.NoError(t, err)
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()

	c, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), 5*time.Second)
	require.NoError(t, err)
	defer c.Close()
	held := share - 10
	_, err = fmt.Fprintf(c, "POST /v1/logs HTTP/1.1\r\nHost: estate.test\r\nX-Sender: a\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		1<<20, strings.Repeat(" ", held))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return r.opts.Limiter.InFlight() == int64(held) }, 10*time.Second, 10*time.Millisecond)

	logs := `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"hi"}}]}]}]}`
	post := func(sender string) int {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/logs", bytes.NewBufferString(logs))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Sender", sender)
		res, err := srv.Client().Do(req)
		require.NoError(t, err)
		require.NoError(t, res.Body.Close())
		return res.StatusCode
	}
	require.Equal(t, http.StatusTooManyRequests, post("a"), "a holds its share")
	require.Equal(t, http.StatusOK, post("b"))

	require.NoError(t, c.Close())
	require.Eventually(t, func() bool { return r.opts.Limiter.InFlight() == 0 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, http.StatusOK, post("a"), "once its upload is cut, a is served again")
	require.Empty(t, r.shares.held, "no share left held")
}
