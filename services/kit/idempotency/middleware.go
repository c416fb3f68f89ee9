package idempotency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/estatehq/estate/internal/problem"
)

// Header is the request header that carries the key.
const Header = "Idempotency-Key"

// ReplayedHeader marks a replayed response, as Stripe does.
const ReplayedHeader = "Idempotent-Replayed"

// Options are what the middleware is built from.
type Options struct {
	Store Store
	// Scope returns the tenant of the request; requests without one pass
	// through untouched.
	Scope func(r *http.Request) (string, bool)
	// TTL is how long a key is remembered; DefaultTTL by default. A Purger
	// deletes keys once they are past their retention, which must not be
	// shorter.
	TTL time.Duration
	// StaleAfter is when a key still in progress is taken over; 1 min by
	// default (longer than any request may run).
	StaleAfter time.Duration
	// MaxBody bounds the request body read for hashing; 1 MiB by default.
	MaxBody int64
	Now     func() time.Time
	Logger  *slog.Logger
}

// keptHeaders are the response headers a replay repeats.
var keptHeaders = []string{"Content-Type", "Etag", "Location"}

// Middleware applies Idempotency-Key semantics to POST requests that carry
// the header.
func Middleware(opts Options) func(http.Handler) http.Handler {
	if opts.TTL == 0 {
		opts.TTL = DefaultTTL
	}
	if opts.StaleAfter == 0 {
		opts.StaleAfter = time.Minute
	}
	if opts.MaxBody == 0 {
		opts.MaxBody = 1 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := r.Header.Get(Header)
			if r.Method != http.MethodPost || key == "" {
				next.ServeHTTP(w, r)
				return
			}
			scope, ok := opts.Scope(r)
			if !ok {
				next.ServeHTTP(w, r)
				return
			}
			if len(key) > 255 {
				problem.Write(w, r, problem.New(http.StatusBadRequest, "the Idempotency-Key is too long",
					problem.FieldError{Location: "header." + Header, Message: "must be at most 255 characters"}))
				return
			}
			body, err := io.ReadAll(io.LimitReader(r.Body, opts.MaxBody+1))
			if err != nil {
				problem.Write(w, r, problem.New(http.StatusBadRequest, "the request body could not be read"))
				return
			}
			if int64(len(body)) > opts.MaxBody {
				problem.Write(w, r, problem.New(http.StatusRequestEntityTooLarge, "the request body is too large"))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			h := sha256.New()
			_, _ = io.WriteString(h, r.Method+" "+r.URL.Path+"\n")
			_, _ = h.Write(body)
			hash := hex.EncodeToString(h.Sum(nil))

			now := opts.Now()
			ctx := r.Context()
			outcome, rec, err := opts.Store.Begin(ctx, Claim{
				Scope: scope, Key: key, Hash: hash, Now: now,
				ExpiredBefore: now.Add(-opts.TTL), StaleBefore: now.Add(-opts.StaleAfter),
			})
			if err != nil {
				opts.Logger.ErrorContext(ctx, "claiming idempotency key", "err", err)
				problem.Write(w, r, problem.New(http.StatusServiceUnavailable, "the request could not be processed; retry with the same Idempotency-Key"))
				return
			}
			switch outcome {
			case Replay:
				for k, vs := range rec.Header {
					w.Header()[k] = vs
				}
				w.Header().Set(ReplayedHeader, "true")
				w.WriteHeader(rec.Status)
				_, _ = w.Write(rec.Body)
				return
			case Mismatch:
				problem.Write(w, r, problem.New(http.StatusConflict, "this Idempotency-Key was already used with another request",
					problem.FieldError{Location: "header." + Header, Message: "reuse a key only to retry the very same request"}))
				return
			case InProgress:
				problem.RetryAfter(w, time.Second)
				problem.Write(w, r, problem.New(http.StatusConflict, "a request with this Idempotency-Key is still in progress; retry later"))
				return
			}

			rw := &recorder{ResponseWriter: w, status: http.StatusOK}
			defer func() {
				// A request that failed on our side, or was throttled, may be
				// retried with the same key: forget it.
				if p := recover(); p != nil || rw.status >= 500 || rw.status == http.StatusTooManyRequests {
					if err := opts.Store.Release(context0(r), scope, key); err != nil {
						opts.Logger.ErrorContext(ctx, "releasing idempotency key", "err", err)
					}
					if p != nil {
						panic(p)
					}
					return
				}
				hdr := http.Header{}
				for _, k := range keptHeaders {
					if v := w.Header().Values(k); len(v) > 0 {
						hdr[k] = v
					}
				}
				if err := opts.Store.Complete(context0(r), scope, key, Record{Status: rw.status, Header: hdr, Body: rw.body.Bytes()}); err != nil {
					opts.Logger.ErrorContext(ctx, "storing idempotent response", "err", err)
				}
			}()
			next.ServeHTTP(rw, r)
		})
	}
}

// recorder keeps a copy of the response.
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// context0 is the request's context without its cancellation: the outcome
// of a request that ran must be stored even if the client went away.
func context0(r *http.Request) context.Context { return context.WithoutCancel(r.Context()) }
