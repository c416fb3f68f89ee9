package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TLS is a listener's TLS configuration: a certificate and its key, read
// from files and read again when they change, so that a rotated
// certificate (cert-manager renewing a Secret) is served without a
// restart. Both empty serve plain text.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Enabled reports whether the listener serves TLS.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// RegisterFlags binds the flags, named prefix + "cert-file" and
// prefix + "key-file" (prefix is empty or ends with a separator).
func (t *TLS) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.StringVar(&t.CertFile, prefix+"cert-file", "", "PEM certificate (chain) the listeners serve over TLS, re-read when it changes; plain text when empty")
	fs.StringVar(&t.KeyFile, prefix+"key-file", "", "PEM private key of the certificate, re-read when it changes")
}

// Validate checks that both files are set together and can be read; it
// does not parse them. keyPrefix names the fields: "tls." gives
// "tls.cert_file".
func (t TLS) Validate(keyPrefix string) error {
	if !t.Enabled() {
		return nil
	}
	var errs []error
	for _, f := range []struct{ key, path string }{{"cert_file", t.CertFile}, {"key_file", t.KeyFile}} {
		if f.path == "" {
			errs = append(errs, fmt.Errorf("%s%s: must be set for TLS (cert_file and key_file go together)", keyPrefix, f.key))
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			errs = append(errs, fmt.Errorf("%s%s: %w", keyPrefix, f.key, err))
		}
	}
	return errors.Join(errs...)
}

// DefaultReloadInterval is how often, at most, a CertReloader looks at its
// files' modification times.
const DefaultReloadInterval = 5 * time.Second

// ReloaderOptions are what a CertReloader is built from.
type ReloaderOptions struct {
	TLS TLS
	// Interval is the least time between two looks at the files;
	// DefaultReloadInterval when zero.
	Interval time.Duration
	Logger   *slog.Logger
	Now      func() time.Time
}

// CertReloader serves a certificate read from files and reads them again,
// on a handshake at most every Interval, when their modification time or
// size changed. A pair that does not load (half written, or a key that
// does not match) is logged and counted, and the last good pair is kept.
type CertReloader struct {
	opts    ReloaderOptions
	reloads *prometheus.CounterVec

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]fileStamp
	checked time.Time
}

// fileStamp is what tells a changed file.
type fileStamp struct {
	mod  time.Time
	size int64
}

// NewCertReloader loads the pair once; an error here stops the target
// from starting with a certificate it cannot serve.
func NewCertReloader(opts ReloaderOptions) (*CertReloader, error) {
	if opts.Interval <= 0 {
		opts.Interval = DefaultReloadInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &CertReloader{opts: opts, reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "estate_tls_certificate_reloads_total",
		Help: "Reloads of the listeners' TLS certificate and key after their files changed, by result (ok, error: the last good pair is kept).",
	}, []string{"result"})}
	r.reloads.WithLabelValues("ok")
	r.reloads.WithLabelValues("error")
	stamp, err := r.stamps()
	if err == nil {
		err = r.load(stamp)
	}
	if err != nil {
		return nil, fmt.Errorf("loading TLS certificate: %w", err)
	}
	r.checked = opts.Now()
	return r, nil
}

func (r *CertReloader) stamps() ([2]fileStamp, error) {
	var out [2]fileStamp
	for i, path := range []string{r.opts.TLS.CertFile, r.opts.TLS.KeyFile} {
		fi, err := os.Stat(path)
		if err != nil {
			return out, err
		}
		out[i] = fileStamp{mod: fi.ModTime(), size: fi.Size()}
	}
	return out, nil
}

// load reads the pair and, when it is good, serves it from now on.
func (r *CertReloader) load(stamp [2]fileStamp) error {
	cert, err := tls.LoadX509KeyPair(r.opts.TLS.CertFile, r.opts.TLS.KeyFile)
	if err != nil {
		return err
	}
	if cert.Leaf == nil && len(cert.Certificate) > 0 {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return err
		}
	}
	r.cert, r.stamp = &cert, stamp
	return nil
}

// GetCertificate is the tls.Config hook: the current pair, read again
// first when the files changed since the last look.
func (r *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.opts.Now()
	if now.Sub(r.checked) < r.opts.Interval {
		return r.cert, nil
	}
	r.checked = now
	stamp, err := r.stamps()
	if err == nil && stamp == r.stamp {
		return r.cert, nil
	}
	if err == nil {
		err = r.load(stamp)
	}
	if err != nil {
		// The stamp is not remembered: the next look tries again, so a
		// pair caught half written is picked up once complete.
		r.reloads.WithLabelValues("error").Inc()
		r.opts.Logger.Error("reloading TLS certificate; serving the last good one", "cert_file", r.opts.TLS.CertFile, "key_file", r.opts.TLS.KeyFile, "err", err)
		return r.cert, nil
	}
	r.reloads.WithLabelValues("ok").Inc()
	r.opts.Logger.Info("reloaded TLS certificate", "cert_file", r.opts.TLS.CertFile, "not_after", r.cert.Leaf.NotAfter)
	return r.cert, nil
}

// ServerConfig is a listener's *tls.Config: TLS 1.2 at least, the
// certificate from GetCertificate.
func (r *CertReloader) ServerConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
}

// Describe and Collect make the reloader a prometheus.Collector; it may be
// registered with every registry of the process's targets.
func (r *CertReloader) Describe(ch chan<- *prometheus.Desc) { r.reloads.Describe(ch) }

// Collect implements prometheus.Collector.
func (r *CertReloader) Collect(ch chan<- prometheus.Metric) { r.reloads.Collect(ch) }

// RequireClientCerts returns a copy of tc that accepts only clients
// presenting a certificate signed by a CA of caFile (mutual TLS).
// keyPrefix names the field in errors.
func RequireClientCerts(tc *tls.Config, caFile, keyPrefix string) (*tls.Config, error) {
	if tc == nil {
		return nil, fmt.Errorf("%sclient_ca_file: needs the listener's TLS certificate (tls.cert_file)", keyPrefix)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("%sclient_ca_file: %w", keyPrefix, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%sclient_ca_file: no PEM certificate in %s", keyPrefix, caFile)
	}
	out := tc.Clone()
	out.ClientCAs, out.ClientAuth = pool, tls.RequireAndVerifyClientCert
	return out, nil
}
