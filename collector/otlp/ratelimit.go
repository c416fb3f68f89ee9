package otlp

import (
	"context"
	"net"
	"time"

	"google.golang.org/grpc/peer"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/ratelimit"
)

// RateLimit bounds the export requests each sender makes: a token bucket
// per sender (internal/ratelimit), Rate requests a second with bursts of
// Burst. A request is one export, whatever it holds: the memory share
// bounds its size. At most 10,000 senders are tracked; idle ones are
// forgotten first, so a stream of new names (addresses, when ingest is
// open) cannot grow the map.
type RateLimit struct {
	// Rate is the requests a second each sender may make; zero or less
	// lets every request through.
	Rate  float64
	Burst int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// limiter is the limit's buckets, nil when there is no limit.
func (o RateLimit) limiter() *ratelimit.Limiter {
	if o.Rate <= 0 {
		return nil
	}
	return ratelimit.New(ratelimit.Options{Rate: o.Rate, Burst: max(o.Burst, 1), Now: o.Now})
}

// allow takes a request of sender from its bucket, or says how long until
// one is there.
func (r *Receiver) allow(sender string) (bool, time.Duration) {
	if r.rates == nil {
		return true, 0
	}
	return r.rates.Reserve(sender)
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
