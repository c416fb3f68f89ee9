package otlp

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/problem"
)

const (
	contentProto = "application/x-protobuf"
	contentJSON  = "application/json"
)

// Handler serves POST /v1/traces, /v1/logs and /v1/metrics, and answers
// other paths and methods with problem details.
func (r *Receiver) Handler() http.Handler { return r.routes }

func (r *Receiver) newRoutes() chi.Router {
	mux := chi.NewRouter()
	problem.Route(mux)
	mux.Method(http.MethodPost, "/v1/traces", r.handleHTTP(tracesCodec))
	mux.Method(http.MethodPost, "/v1/logs", r.handleHTTP(logsCodec))
	mux.Method(http.MethodPost, "/v1/metrics", r.handleHTTP(metricsCodec))
	return mux
}

// Access is what each OTLP route and gRPC method requires: the role
// telemetry.write, on the listeners whose authentication is on.
var Access = auth.RouteTable{
	"POST /v1/traces":  auth.Need(auth.RoleTelemetryWrite),
	"POST /v1/logs":    auth.Need(auth.RoleTelemetryWrite),
	"POST /v1/metrics": auth.Need(auth.RoleTelemetryWrite),
	"/opentelemetry.proto.collector.trace.v1.TraceService/Export":     auth.Need(auth.RoleTelemetryWrite),
	"/opentelemetry.proto.collector.logs.v1.LogsService/Export":       auth.Need(auth.RoleTelemetryWrite),
	"/opentelemetry.proto.collector.metrics.v1.MetricsService/Export": auth.Need(auth.RoleTelemetryWrite),
}

// Routes are the OTLP/HTTP routes, for the route table's check.
func (r *Receiver) Routes() chi.Routes { return r.routes }

// GRPCServer is the OTLP/gRPC server; nil when its listener is off.
func (r *Receiver) GRPCServer() *grpc.Server { return r.grpc }

var (
	errTooLarge    = errors.New("request body too large")
	errMemoryLimit = errors.New("memory limit reached; retry later")
	errRateLimit   = errors.New("this sender's rate limit is reached; retry later")
)

// handleHTTP is one signal's OTLP/HTTP endpoint. Errors are answered the
// way the OTLP specification asks: a google.rpc.Status in the request's
// encoding, 400 for bad input (not retried), 429 / 503 with Retry-After for
// refusals (retried).
func (r *Receiver) handleHTTP(c codec) http.Handler {
	sig := c.signal.String()
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
		isJSON := mt == contentJSON
		if !isJSON && mt != contentProto {
			r.m.requests.WithLabelValues("http", sig, outcomeInvalid).Inc()
			writeStatus(w, http.StatusUnsupportedMediaType, false, codes.InvalidArgument,
				fmt.Sprintf("Content-Type must be %s or %s", contentProto, contentJSON), 0)
			return
		}
		var reserved int64
		sender := r.opts.Sender(req)
		if ok, wait := r.allow(sender); !ok {
			r.m.requests.WithLabelValues("http", sig, outcomeRate).Inc()
			writeStatus(w, http.StatusTooManyRequests, isJSON, codes.ResourceExhausted, errRateLimit.Error(), wait)
			return
		}
		defer func() {
			r.opts.Limiter.Release(reserved)
			r.shares.release(sender, reserved)
		}()
		acquire := func(n int64) bool {
			if !r.shares.tryAcquire(sender, n) {
				return false
			}
			if !r.opts.Limiter.TryAcquire(n) {
				r.shares.release(sender, n)
				return false
			}
			reserved += n
			return true
		}
		refuse := func() {
			r.m.requests.WithLabelValues("http", sig, outcomeMemory).Inc()
			writeStatus(w, http.StatusTooManyRequests, isJSON, codes.ResourceExhausted, errMemoryLimit.Error(), r.opts.RetryAfter)
		}
		if req.ContentLength > r.opts.MaxRequestBytes {
			r.m.requests.WithLabelValues("http", sig, outcomeTooLarge).Inc()
			writeStatus(w, http.StatusRequestEntityTooLarge, isJSON, codes.InvalidArgument, errTooLarge.Error(), 0)
			return
		}
		// The body is reserved as its bytes arrive, never from the length
		// it declares: an upload that declares 16 MiB and stalls holds only
		// what it sent, and cannot starve the other senders.
		body, raw, err := r.readBody(req, acquire)
		if errors.Is(err, errMemoryLimit) {
			refuse()
			return
		}
		if err != nil {
			code, outcome := http.StatusBadRequest, outcomeInvalid
			if errors.Is(err, errTooLarge) {
				code, outcome = http.StatusRequestEntityTooLarge, outcomeTooLarge
			}
			r.m.requests.WithLabelValues("http", sig, outcome).Inc()
			writeStatus(w, code, isJSON, codes.InvalidArgument, err.Error(), 0)
			return
		}
		// Decoding into pdata takes about twice the encoded size again; a
		// decompressed body is held beside the raw one already reserved.
		extra := 2 * int64(len(body))
		if raw != int64(len(body)) {
			extra += int64(len(body))
		}
		if !acquire(extra) {
			refuse()
			return
		}
		d, err := c.decode(body, isJSON, r.opts.Redactor)
		if err != nil {
			r.m.requests.WithLabelValues("http", sig, outcomeInvalid).Inc()
			writeStatus(w, http.StatusBadRequest, isJSON, codes.InvalidArgument, "decoding OTLP request: "+err.Error(), 0)
			return
		}
		outcome, delay, err := r.accept(req.Context(), "http", c, d)
		r.m.requests.WithLabelValues("http", sig, outcome).Inc()
		switch outcome {
		case outcomeAccepted, outcomePartial:
		case outcomeFull:
			writeStatus(w, http.StatusTooManyRequests, isJSON, codes.ResourceExhausted, "queue full; retry later", delay)
			return
		case outcomeTooLarge:
			writeStatus(w, http.StatusRequestEntityTooLarge, isJSON, codes.InvalidArgument, err.Error(), 0)
			return
		default:
			r.opts.Logger.Error("queueing OTLP request", "signal", sig, "err", err)
			writeStatus(w, http.StatusServiceUnavailable, isJSON, codes.Unavailable, "the request could not be queued; retry later", delay)
			return
		}
		resp, err := c.response(d.rejected, d.message, isJSON)
		if err != nil {
			writeStatus(w, http.StatusInternalServerError, isJSON, codes.Internal, "encoding response", 0)
			return
		}
		if isJSON {
			w.Header().Set("Content-Type", contentJSON)
		} else {
			w.Header().Set("Content-Type", contentProto)
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(resp)
	})
}

// reserving reserves from the memory limiter each chunk of a body as it
// is read; a chunk the limiter refuses ends the read with errMemoryLimit.
type reserving struct {
	r       io.Reader
	acquire func(int64) bool
	n       int64
}

func (rr *reserving) Read(p []byte) (int, error) {
	n, err := rr.r.Read(p)
	if n > 0 {
		if !rr.acquire(int64(n)) {
			return 0, errMemoryLimit
		}
		rr.n += int64(n)
	}
	return n, err
}

// readBody reads and decompresses the body, bounded by MaxRequestBytes,
// reserving the raw bytes with acquire as they arrive. It returns the body
// and how many raw bytes were read. Errors: errMemoryLimit when acquire
// refuses, errTooLarge, or what is wrong with the body.
func (r *Receiver) readBody(req *http.Request, acquire func(int64) bool) ([]byte, int64, error) {
	limit := r.opts.MaxRequestBytes
	rr := &reserving{r: io.LimitReader(req.Body, limit+1), acquire: acquire}
	raw, err := io.ReadAll(rr)
	if errors.Is(err, errMemoryLimit) {
		return nil, rr.n, err
	}
	if err != nil {
		return nil, rr.n, fmt.Errorf("reading request body: %w", err)
	}
	if int64(len(raw)) > limit {
		return nil, rr.n, errTooLarge
	}
	switch enc := req.Header.Get("Content-Encoding"); enc {
	case "", "identity":
		return raw, rr.n, nil
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, rr.n, fmt.Errorf("reading gzip body: %w", err)
		}
		body, err := io.ReadAll(io.LimitReader(zr, limit+1))
		if err != nil {
			return nil, rr.n, fmt.Errorf("reading gzip body: %w", err)
		}
		if int64(len(body)) > limit {
			return nil, rr.n, errTooLarge
		}
		return body, rr.n, nil
	default:
		return nil, rr.n, fmt.Errorf("Content-Encoding %q is not supported; use gzip or none", enc)
	}
}

// writeStatus answers with a google.rpc.Status, as OTLP/HTTP asks.
func writeStatus(w http.ResponseWriter, httpCode int, isJSON bool, code codes.Code, msg string, retryAfter time.Duration) {
	st := &spb.Status{Code: int32(code), Message: msg}
	var b []byte
	if isJSON {
		b, _ = protojson.Marshal(st)
		w.Header().Set("Content-Type", contentJSON)
	} else {
		b, _ = proto.Marshal(st)
		w.Header().Set("Content-Type", contentProto)
	}
	if retryAfter > 0 {
		secs := int((retryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	}
	w.WriteHeader(httpCode)
	_, _ = w.Write(b)
}
