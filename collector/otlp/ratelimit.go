package otlp

import (
	"context"
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc/peer"

	"github.com/estatehq/estate/internal/auth"
)

// DefaultMaxRateSenders bounds the senders whose rate is tracked at once.
const DefaultMaxRateSenders = 10_000

// RateLimit bounds the export requests each sender makes: a token bucket
// per sender (golang.org/x/time/rate), Rate requests a second with bursts
// of Burst. A request is one export, whatever it holds: the memory share
// bounds its size. Senders are forgotten when idle, so that a stream of
// new names (addresses, when ingest is open) holds at most MaxSenders
// buckets; a sender forgotten and back starts with a full bucket.
type RateLimit struct {
	// Rate is the requests a second each sender may make; zero or less
	// lets every request through.
	Rate  float64
	Burst int
	// MaxSenders bounds the buckets kept; DefaultMaxRateSenders when zero.
	MaxSenders int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

type rateLimits struct {
	o  RateLimit
	mu sync.Mutex
	// buckets by sender, and when each was last used.
	buckets map[string]*bucket
}

type bucket struct {
	l    *rate.Limiter
	used time.Time
}

func newRateLimits(o RateLimit) *rateLimits {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxSenders <= 0 {
		o.MaxSenders = DefaultMaxRateSenders
	}
	if o.Burst <= 0 {
		o.Burst = max(1, int(o.Rate))
	}
	return &rateLimits{o: o, buckets: map[string]*bucket{}}
}

// allow takes a request of sender from its bucket, or says how long until
// one is there.
func (l *rateLimits) allow(sender string) (bool, time.Duration) {
	if l.o.Rate <= 0 {
		return true, 0
	}
	now := l.o.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[sender]
	if b == nil {
		if len(l.buckets) >= l.o.MaxSenders {
			l.evict(now)
		}
		b = &bucket{l: rate.NewLimiter(rate.Limit(l.o.Rate), l.o.Burst)}
		l.buckets[sender] = b
	}
	b.used = now
	r := b.l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// evict forgets the senders whose buckets are full again (idle for the
// time a bucket takes to refill), or else the least recently used one.
func (l *rateLimits) evict(now time.Time) {
	refill := time.Duration(float64(l.o.Burst) / l.o.Rate * float64(time.Second))
	var oldest string
	for s, b := range l.buckets {
		if now.Sub(b.used) >= refill {
			delete(l.buckets, s)
			continue
		}
		if oldest == "" || b.used.Before(l.buckets[oldest].used) {
			oldest = s
		}
	}
	if len(l.buckets) >= l.o.MaxSenders && oldest != "" {
		delete(l.buckets, oldest)
	}
}

// grpcSender names a gRPC request's sender as Principal does an HTTP
// one's: its principal, or its peer's address.
func grpcSender(ctx context.Context) string {
	if p, ok := auth.FromContext(ctx); ok {
		return p.Who()
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		if host, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
			return host
		}
		return p.Addr.String()
	}
	return ""
}
