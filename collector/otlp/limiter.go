package otlp

import "sync/atomic"

// Limiter bounds the bytes of requests in flight: the memory limiter. It
// refuses instead of waiting, so a flood turns into 429s, not into memory.
type Limiter struct {
	max int64
	cur atomic.Int64
}

// NewLimiter returns a limiter of max bytes.
func NewLimiter(max int64) *Limiter { return &Limiter{max: max} }

// TryAcquire reserves n bytes, or reports false when that would pass the
// bound. One request alone may always proceed, so a request under
// max_request_bytes is never refused forever.
func (l *Limiter) TryAcquire(n int64) bool {
	for {
		c := l.cur.Load()
		if c > 0 && c+n > l.max {
			return false
		}
		if l.cur.CompareAndSwap(c, c+n) {
			return true
		}
	}
}

// Release returns n reserved bytes.
func (l *Limiter) Release(n int64) { l.cur.Add(-n) }

// InFlight is the bytes reserved now.
func (l *Limiter) InFlight() int64 { return l.cur.Load() }

// Full reports whether the bound is reached.
func (l *Limiter) Full() bool { return l.cur.Load() >= l.max }
