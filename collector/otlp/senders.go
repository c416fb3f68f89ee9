package otlp

import (
	"net"
	"net/http"
	"sync"

	"github.com/estatehq/estate/internal/auth"
)

// SenderOf names the sender of an OTLP/HTTP request, the key of its share
// of the memory budget.
type SenderOf func(*http.Request) string

// Principal names a request's sender by the principal it authenticated as
// (auth.Principal.Who), or, without one, by RemoteIP.
func Principal(r *http.Request) string {
	if p, ok := auth.FromContext(r.Context()); ok {
		return p.Who()
	}
	return RemoteIP(r)
}

// RemoteIP names a request's sender by its remote IP address: without
// authentication, the only name a sender cannot choose for itself.
func RemoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// shares bounds the bytes each sender has in flight, so that one sender
// (many connections from one address, say) cannot take the whole memory
// budget from the others.
type shares struct {
	max  int64
	mu   sync.Mutex
	held map[string]int64
}

func newShares(max int64) *shares { return &shares{max: max, held: map[string]int64{}} }

// tryAcquire reserves n bytes of sender's share, or reports false when
// that would pass it.
func (s *shares) tryAcquire(sender string, n int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held[sender]+n > s.max {
		return false
	}
	s.held[sender] += n
	return true
}

// release returns n bytes of sender's share.
func (s *shares) release(sender string, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held[sender] -= n; s.held[sender] <= 0 {
		delete(s.held, sender)
	}
}
