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

// DefaultWait is how long a request waits for another with its key to
// finish before answering 409.
const DefaultWait = 5 * time.Second

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
	// Wait bounds how long a request waits for a concurrent one with its
	// key to commit or roll back; DefaultWait by default.
	Wait time.Duration
	// MaxBody bounds the request body read for hashing; 1 MiB by default.
	MaxBody int64
	Now     func() time.Time
	Logger  *slog.Logger
}

// keptHeaders are the response headers a replay repeats.
var keptHeaders = []string{"Content-Type", "Etag", "Location"}

// Middleware applies Idempotency-Key semantics to POST requests that carry
// the header: the handler runs in the request's transaction (Store.Begin)
// and its response is held back until the key is committed with it, so
// that a client never sees a success that was not committed.
func Middleware(opts Options) func(http.Handler) http.Handler {
	if opts.TTL == 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Wait == 0 {
		opts.Wait = DefaultWait
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

			ctx, txn := opts.Store.Begin(r.Context())
			// A panic, or a return before the commit, rolls back.
			defer func() { _ = txn.Rollback() }()
			req := &request{}
			ctx = context.WithValue(ctx, requestKey{}, req)
			rw := &buffer{header: http.Header{}, status: http.StatusOK}
			next.ServeHTTP(rw, r.WithContext(ctx))

			// A request that failed on our side, or was throttled, may be
			// retried with the same key: it leaves nothing. So does one whose
			// client went away before it was answered.
			if rw.status >= 500 || rw.status == http.StatusTooManyRequests || r.Context().Err() != nil {
				if err := txn.Rollback(); err != nil {
					opts.Logger.ErrorContext(ctx, "rolling back an idempotent request", "err", err)
				}
				rw.writeTo(w)
				return
			}
			hdr := http.Header{}
			for _, k := range keptHeaders {
				if v := rw.header.Values(k); len(v) > 0 {
					hdr[k] = v
				}
			}
			now := opts.Now()
			outcome, rec, err := txn.Commit(ctx, Claim{Scope: scope, Key: key, Hash: hash, Now: now, ExpiredBefore: now.Add(-opts.TTL), Wait: opts.Wait},
				Record{Status: rw.status, Header: hdr, Body: rw.body.Bytes()})
			if err != nil {
				opts.Logger.ErrorContext(ctx, "committing an idempotent request", "err", err)
				problem.RetryAfter(w, time.Second)
				problem.Write(w, r, problem.New(http.StatusServiceUnavailable, "the request could not be processed; retry with the same Idempotency-Key"))
				return
			}
			switch outcome {
			case Acquired:
				for _, fn := range req.onCommit {
					fn()
				}
				rw.writeTo(w)
			case Replay:
				for k, vs := range rec.Header {
					w.Header()[k] = vs
				}
				w.Header().Set(ReplayedHeader, "true")
				w.WriteHeader(rec.Status)
				_, _ = w.Write(rec.Body)
			case Mismatch:
				problem.Write(w, r, problem.New(http.StatusConflict, "this Idempotency-Key was already used with another request",
					problem.FieldError{Location: "header." + Header, Message: "reuse a key only to retry the very same request"}))
			default:
				problem.RetryAfter(w, time.Second)
				problem.Write(w, r, problem.New(http.StatusConflict, "a request with this Idempotency-Key is still in progress; retry later"))
			}
		})
	}
}

// request is what the middleware keeps of a request in its context.
type request struct {
	onCommit []func()
}

type requestKey struct{}

// OnCommit runs fn once the change of the request ctx belongs to has
// committed: at once for a request outside the middleware, never for one
// rolled back or answered from another's response. A handler that writes
// events to an outbox wakes its relay this way, when there is something
// to read.
func OnCommit(ctx context.Context, fn func()) {
	if req, ok := ctx.Value(requestKey{}).(*request); ok {
		req.onCommit = append(req.onCommit, fn)
		return
	}
	fn()
}

// buffer holds the handler's response until the key is committed with it.
type buffer struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (b *buffer) Header() http.Header { return b.header }

func (b *buffer) WriteHeader(code int) {
	if !b.wrote {
		b.status, b.wrote = code, true
	}
}

func (b *buffer) Write(p []byte) (int, error) {
	b.wrote = true
	return b.body.Write(p)
}

// writeTo sends the held response.
func (b *buffer) writeTo(w http.ResponseWriter) {
	h := w.Header()
	for k, vs := range b.header {
		h[k] = vs
	}
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}
