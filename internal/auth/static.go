package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"
)

// StaticIssuer is the Issuer of the principals of static tokens.
const StaticIssuer = "urn:estate:static-token"

// StaticToken is one entry of a static tokens file: a bearer token for a
// sender that cannot do OIDC (an OTel SDK, Alertmanager), kept only as the
// hex SHA-256 of the token.
type StaticToken struct {
	Name     string   `yaml:"name"`
	SHA256   string   `yaml:"sha256"`
	Roles    []string `yaml:"roles"`
	Business string   `yaml:"business,omitempty"`
}

type staticFile struct {
	Tokens []StaticToken `yaml:"tokens"`
}

// StaticTokensOptions configure StaticTokens.
type StaticTokensOptions struct {
	// Path is the YAML file: `tokens: [{name, sha256, roles, business}]`.
	Path   string
	Logger *slog.Logger
	// Registerer takes the reload metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Interval is how often the file's modification time and size are
	// checked; 5 s by default.
	Interval time.Duration
}

// StaticTokens are the static bearer tokens of a file, read again when the
// file changes (Start): a file that does not load keeps the last good set,
// and the error is logged and counted.
type StaticTokens struct {
	opts    StaticTokensOptions
	errors  prometheus.Counter
	loaded  prometheus.Gauge
	entries atomicEntries

	// stamp is the file's modification time and size at the last read.
	mtime time.Time
	size  int64

	cancel context.CancelFunc
	done   chan struct{}
}

// OpenStaticTokens reads the file; an error when it does not load, so a
// bad file stops a start rather than letting no one in.
func OpenStaticTokens(opts StaticTokensOptions) (*StaticTokens, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Second
	}
	s := &StaticTokens{
		opts: opts,
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "estate", Subsystem: "auth", Name: "static_tokens_reload_errors_total",
			Help: "Reads of the static tokens file that failed; the last good set stays in force.",
		}),
		loaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "estate", Subsystem: "auth", Name: "static_tokens",
			Help: "Static tokens in force.",
		}),
	}
	if opts.Registerer != nil {
		for _, c := range s.Metrics() {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("registering static token metrics: %w", err)
			}
		}
	}
	if _, err := s.reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Metrics are the reload errors counter and the tokens-in-force gauge, for
// a caller that registers them itself.
func (s *StaticTokens) Metrics() []prometheus.Collector {
	return []prometheus.Collector{s.errors, s.loaded}
}

// Start checks the file every Interval until Shutdown.
func (s *StaticTokens) Start(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.opts.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if changed, err := s.reload(); err != nil {
					s.errors.Inc()
					s.opts.Logger.ErrorContext(ctx, "static tokens file not loaded; the last good set stays in force",
						"path", s.opts.Path, "err", err)
				} else if changed {
					s.opts.Logger.InfoContext(ctx, "static tokens reloaded", "path", s.opts.Path, "tokens", len(s.entries.load()))
				}
			}
		}
	}()
}

// Shutdown stops the checks.
func (s *StaticTokens) Shutdown(ctx context.Context) error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stopping static tokens: %w", ctx.Err())
	}
}

// reload reads the file when its modification time or size changed since
// the last read, and reports whether it did.
func (s *StaticTokens) reload() (bool, error) {
	fi, err := os.Stat(s.opts.Path)
	if err != nil {
		return false, fmt.Errorf("reading static tokens: %w", err)
	}
	if s.entries.load() != nil && fi.ModTime().Equal(s.mtime) && fi.Size() == s.size {
		return false, nil
	}
	b, err := os.ReadFile(s.opts.Path)
	if err != nil {
		return false, fmt.Errorf("reading static tokens: %w", err)
	}
	// The stamp is taken even for a bad file, so that it is reported once
	// per change rather than at every check.
	s.mtime, s.size = fi.ModTime(), fi.Size()
	entries, err := ParseStaticTokens(b)
	if err != nil {
		return false, fmt.Errorf("static tokens %s: %w", s.opts.Path, err)
	}
	s.entries.store(entries)
	s.loaded.Set(float64(len(entries)))
	return true, nil
}

// ParseStaticTokens decodes a static tokens file strictly and checks every
// entry: a unique name, a SHA-256 in hex, known roles.
func ParseStaticTokens(b []byte) ([]StaticToken, error) {
	var f staticFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	var errs []error
	names := map[string]bool{}
	for i, t := range f.Tokens {
		switch {
		case t.Name == "":
			errs = append(errs, fmt.Errorf("tokens[%d].name: must not be empty", i))
		case names[t.Name]:
			errs = append(errs, fmt.Errorf("tokens[%d].name: %q is used twice", i, t.Name))
		}
		names[t.Name] = true
		if h, err := hex.DecodeString(t.SHA256); err != nil || len(h) != sha256.Size {
			errs = append(errs, fmt.Errorf("tokens[%d].sha256: must be 64 hex digits (sha256sum of the token)", i))
		}
		if len(t.Roles) == 0 {
			errs = append(errs, fmt.Errorf("tokens[%d].roles: must name at least one role", i))
		}
		for _, r := range t.Roles {
			if !isRole(r) {
				errs = append(errs, fmt.Errorf("tokens[%d].roles: unknown role %q", i, r))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if f.Tokens == nil {
		f.Tokens = []StaticToken{}
	}
	return f.Tokens, nil
}

// Lookup returns the principal of a static token. Every entry is compared,
// in constant time, with the token's hash.
func (s *StaticTokens) Lookup(raw string) (Principal, bool) {
	got := sha256.Sum256([]byte(raw))
	var match *StaticToken
	for _, t := range s.entries.load() {
		want, _ := hex.DecodeString(t.SHA256)
		if subtle.ConstantTimeCompare(got[:], want) == 1 {
			match = &t
		}
	}
	if match == nil {
		return Principal{}, false
	}
	return Principal{
		Issuer: StaticIssuer, Subject: match.Name, StaticToken: match.Name,
		BusinessID: match.Business, Roles: match.Roles,
	}, true
}

// HashToken is the hex SHA-256 a static tokens file keeps of a token, as
// `sha256sum` prints it.
func HashToken(token string) string { return hashHex(token) }
