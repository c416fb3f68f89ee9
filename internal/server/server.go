// Package server is the HTTP bootstrap every Estate target shares: it binds
// the listener, serves GET /healthz (the process is alive), GET /readyz (its
// dependencies answer) and GET /metrics (the target's own Prometheus registry),
// hands every other path to the target's handler, and drains in-flight
// requests on Shutdown.
package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/estatehq/estate/internal/problem"
)

// ReadyCheck reports whether one dependency is reachable.
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// Options are what a server is built from.
type Options struct {
	// Name names the target in logs and readiness output.
	Name string
	// Addr is the listen address, host:port; port 0 picks a free one.
	Addr string
	// Handler serves every path but the three the server owns; nil means 404.
	Handler http.Handler
	Logger  *slog.Logger
	// Registry is the target's own registry; /metrics serves it.
	Registry *prometheus.Registry
	// Ready lists the dependencies /readyz checks.
	Ready []ReadyCheck
	// ReadHeaderTimeout bounds slow clients; the default is 10 s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included, so that
	// a stalled upload ends and frees what it holds; the default is 1 min.
	ReadTimeout time.Duration
	// IdleTimeout bounds a kept-alive connection waiting for its next
	// request; the default is 2 min.
	IdleTimeout time.Duration
	// TLS, when set, serves every connection over TLS; nil serves plain
	// text. A CertReloader's ServerConfig rotates the certificate without
	// a restart.
	TLS *tls.Config
}

// Server is one target's HTTP server.
type Server struct {
	opts     Options
	srv      *http.Server
	ln       net.Listener
	done     chan error
	stopOnce sync.Once
}

// NewRegistry returns a registry with the Go runtime and process collectors,
// the base every target's registry starts from.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// New returns a server; nothing listens until Start.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registry == nil {
		opts.Registry = NewRegistry()
	}
	if opts.ReadHeaderTimeout == 0 {
		opts.ReadHeaderTimeout = 10 * time.Second
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = time.Minute
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = 2 * time.Minute
	}
	s := &Server{opts: opts, done: make(chan error, 1)}
	s.srv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		ReadTimeout:       opts.ReadTimeout,
		IdleTimeout:       opts.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
	}
	return s
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.handleReady)
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(s.opts.Registry,
		promhttp.HandlerFor(s.opts.Registry, promhttp.HandlerOpts{
			Registry:          s.opts.Registry,
			EnableOpenMetrics: true,
			ErrorLog:          slog.NewLogLogger(s.opts.Logger.Handler(), slog.LevelError),
		})))
	// Another method on the server's own paths is refused here, not
	// passed to the application.
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		mux.Handle(path, problem.MethodNotAllowed(http.MethodGet, http.MethodHead))
	}
	app := s.opts.Handler
	if app == nil {
		app = http.HandlerFunc(problem.NotFound)
	}
	mux.Handle("/", app)
	return mux
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	type result struct {
		Name  string `json:"name"`
		OK    bool   `json:"ok"`
		Error string `json:"error,omitempty"`
	}
	status := http.StatusOK
	results := make([]result, 0, len(s.opts.Ready))
	for _, c := range s.opts.Ready {
		res := result{Name: c.Name, OK: true}
		if err := c.Check(ctx); err != nil {
			// The check's error may name hosts, files or credentials: it
			// goes to the log, and the answer says only which check failed.
			s.opts.Logger.Warn("readiness check failed", "check", c.Name, "err", err)
			res.OK, res.Error = false, "not ready; the target's log has the cause"
			status = http.StatusServiceUnavailable
		}
		results = append(results, res)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"ready": status == http.StatusOK, "checks": results})
}

// Start binds the listener and serves in the background. A port already in
// use is reported here, not later.
func (s *Server) Start(context.Context) error {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s for %s: %w", s.opts.Addr, s.opts.Name, err)
	}
	if s.opts.TLS != nil {
		tc := s.opts.TLS.Clone()
		if len(tc.NextProtos) == 0 {
			tc.NextProtos = []string{"h2", "http/1.1"}
		}
		ln = tls.NewListener(ln, tc)
	}
	s.ln = ln
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
		close(s.done)
	}()
	s.opts.Logger.Info("listening", "target", s.opts.Name, "addr", ln.Addr().String(), "tls", s.opts.TLS != nil)
	return nil
}

// Addr is the bound address once started.
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.opts.Addr
	}
	return s.ln.Addr().String()
}

// URL is the base URL clients on this machine use: https when the server
// serves TLS.
func (s *Server) URL() string {
	if s.opts.TLS != nil {
		return "https://" + LoopbackAddr(s.Addr())
	}
	return "http://" + LoopbackAddr(s.Addr())
}

// Done reports the server stopping on its own; it yields nil after a clean
// Shutdown.
func (s *Server) Done() <-chan error { return s.done }

// Shutdown stops accepting connections and waits for in-flight requests
// until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.stopOnce.Do(func() {
		if s.ln == nil {
			return
		}
		err = s.srv.Shutdown(ctx)
		if err != nil {
			_ = s.srv.Close()
			err = fmt.Errorf("draining %s: %w", s.opts.Name, err)
		}
	})
	return err
}

// LoopbackAddr turns a wildcard listen address (":8081", "0.0.0.0:8081",
// "[::]:8081") into one a local client can dial.
func LoopbackAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
