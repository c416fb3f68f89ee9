package invoicingapi

import (
	"sync"
	"time"
)

// Breaker is a circuit breaker: after Failures consecutive failed calls it
// opens and refuses calls for a cool-down, then lets one trial call through
// (half open); the trial's success closes it, its failure opens it again.
type Breaker struct {
	failures int
	open     time.Duration
	now      func() time.Time

	mu          sync.Mutex
	consecutive int
	openUntil   time.Time
	trial       bool
}

// NewBreaker returns a closed breaker.
func NewBreaker(failures int, open time.Duration, now func() time.Time) *Breaker {
	return &Breaker{failures: failures, open: open, now: now}
}

// Allow reports whether a call may go out and, when not, how long until the
// breaker lets one through. When it lets the trial call of a half-open
// breaker through, the caller must Record its outcome.
func (b *Breaker) Allow() (time.Duration, bool) { return b.check(true) }

// Open reports whether the breaker refuses calls now.
func (b *Breaker) Open() bool {
	_, ok := b.check(false)
	return !ok
}

func (b *Breaker) check(takeTrial bool) (time.Duration, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.consecutive < b.failures {
		return 0, true
	}
	if wait := b.openUntil.Sub(b.now()); wait > 0 {
		return wait, false
	}
	if b.trial {
		return b.open, false // the trial call is out
	}
	b.trial = takeTrial
	return 0, true
}

// Record records a call's outcome.
func (b *Breaker) Record(ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.trial = false
	if ok {
		b.consecutive = 0
		return
	}
	b.consecutive++
	if b.consecutive >= b.failures {
		b.openUntil = b.now().Add(b.open)
	}
}
