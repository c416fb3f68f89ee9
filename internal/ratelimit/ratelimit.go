// Package ratelimit limits the request rate of each tenant with a token
// bucket and answers 429 problem+json with Retry-After beyond it.
package ratelimit

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/estatehq/estate/internal/problem"
)

// Options are what a Limiter is built from.
type Options struct {
	// Rate is the sustained requests per second of one tenant.
	Rate float64
	// Burst is how many requests a tenant may make at once.
	Burst int
	// Key returns the tenant of a request; requests without one are not
	// limited.
	Key func(r *http.Request) (string, bool)
	// MaxTenants bounds the memory: idle buckets are dropped beyond it.
	// 10,000 by default.
	MaxTenants int
	Now        func() time.Time
	// Registerer gets the count of throttled requests; optional.
	Registerer prometheus.Registerer
}

// Limiter holds one token bucket per tenant.
type Limiter struct {
	opts      Options
	mu        sync.Mutex
	buckets   map[string]*bucket
	throttled prometheus.Counter
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// New returns a Limiter.
func New(opts Options) *Limiter {
	if opts.MaxTenants == 0 {
		opts.MaxTenants = 10_000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &Limiter{opts: opts, buckets: map[string]*bucket{}}
	l.throttled = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "http_server_throttled_requests_total", Help: "Requests refused with 429 by the per-tenant rate limit.",
	})
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(l.throttled)
	}
	return l
}

// Reserve takes a token for the tenant, or says how long to wait for one.
func (l *Limiter) Reserve(tenant string) (ok bool, retryAfter time.Duration) {
	now := l.opts.Now()
	l.mu.Lock()
	b := l.buckets[tenant]
	if b == nil {
		if len(l.buckets) >= l.opts.MaxTenants {
			l.evict(now)
		}
		b = &bucket{lim: rate.NewLimiter(rate.Limit(l.opts.Rate), l.opts.Burst)}
		l.buckets[tenant] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	l.mu.Unlock()
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// evict drops the buckets idle long enough to be full again, or else the
// oldest half.
func (l *Limiter) evict(now time.Time) {
	full := time.Duration(float64(l.opts.Burst)/l.opts.Rate*float64(time.Second)) + time.Second
	for k, b := range l.buckets {
		if now.Sub(b.seen) > full {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) < l.opts.MaxTenants {
		return
	}
	n := 0
	for k := range l.buckets {
		if n >= len(l.buckets)/2 {
			break
		}
		delete(l.buckets, k)
		n++
	}
}

// Middleware refuses requests over the tenant's rate.
func (l *Limiter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenant, ok := l.opts.Key(r)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if ok, wait := l.Reserve(tenant); !ok {
			l.throttled.Inc()
			problem.RetryAfter(w, wait)
			problem.Write(w, r, problem.New(http.StatusTooManyRequests, "too many requests for this tenant; retry after the delay in Retry-After"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// MaxInFlight sheds load beyond max requests served at once: 503 with
// Retry-After, so an overloaded service answers quickly and keeps its memory
// bounded instead of queueing without limit.
func MaxInFlight(max int, reg prometheus.Registerer) func(http.Handler) http.Handler {
	sem := make(chan struct{}, max)
	shed := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "http_server_shed_requests_total", Help: "Requests refused with 503 because too many were in flight.",
	})
	if reg != nil {
		reg.MustRegister(shed)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case sem <- struct{}{}:
			default:
				shed.Inc()
				problem.RetryAfter(w, time.Second)
				problem.Write(w, r, problem.New(http.StatusServiceUnavailable, "the service is overloaded; retry after the delay in Retry-After"))
				return
			}
			defer func() { <-sem }()
			next.ServeHTTP(w, r)
		})
	}
}
