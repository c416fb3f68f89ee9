package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/estatehq/estate/internal/delivery"
	"github.com/estatehq/estate/internal/server"
)

// tlsConfig is the `tls` group every command shares: one certificate for
// every listener of the process (in Kubernetes each target's pod mounts
// its own), and the CAs the targets trust when they call one another.
type tlsConfig struct {
	server.TLS `yaml:",inline"`
	// CAFile holds the CAs trusted, beside the system roots, by the
	// targets' clients of one another: the issuer's keys, credit's calls
	// to invoicing, the chaos controller's probes and fault surfaces.
	CAFile string `yaml:"ca_file"`
}

// RegisterFlags binds --tls.cert-file, --tls.key-file and --tls.ca-file.
func (c *tlsConfig) RegisterFlags(fs *flag.FlagSet) {
	c.TLS.RegisterFlags(fs, "tls.")
	fs.StringVar(&c.CAFile, "tls.ca-file", "", "PEM CAs the targets trust, beside the system roots, when they call one another (issuer keys, invoicing, fault surfaces, probes)")
}

// Validate names every field at fault.
func (c *tlsConfig) Validate() error {
	errs := []error{c.TLS.Validate("tls.")}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			errs = append(errs, fmt.Errorf("tls.ca_file: %w", err))
		}
	}
	return errors.Join(errs...)
}

// loadTLS reads the CAs the targets' clients trust and the listeners'
// certificate, when one is configured, before any target starts: a file
// that does not load stops the run here.
func (a *app) loadTLS() error {
	tc, err := delivery.TLS{Enabled: true, CAFile: a.cfg.TLS.CAFile}.ClientConfig("tls.")
	if err != nil {
		return err
	}
	a.clientTLS = tc
	if !a.cfg.TLS.Enabled() {
		return nil
	}
	r, err := server.NewCertReloader(server.ReloaderOptions{
		TLS: a.cfg.TLS.TLS, Logger: a.componentLogger("tls"), Now: a.now,
	})
	if err != nil {
		return fmt.Errorf("tls.cert_file: %w", err)
	}
	a.certs = r
	return nil
}

// listenerTLS is a listener's TLS configuration, nil for plain text; the
// certificate's reload counts are served on reg.
func (a *app) listenerTLS(reg prometheus.Registerer) *tls.Config {
	if a.certs == nil {
		return nil
	}
	if err := reg.Register(a.certs); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
		a.logger.Warn("registering the TLS reload metrics", "err", err)
	}
	return a.certs.ServerConfig()
}

// transport is what the targets' clients of one another send with: the
// default transport's settings, servers verified against the system roots
// and tls.ca_file, never skipped.
func (a *app) transport() *http.Transport {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: a.clientTLS.Clone()}
	}
	t = t.Clone()
	t.TLSClientConfig = a.clientTLS.Clone()
	return t
}

// httpClient is a client over transport, each request bounded by timeout
// (none when zero).
func (a *app) httpClient(timeout time.Duration) *http.Client {
	return &http.Client{Transport: a.transport(), Timeout: timeout}
}

// invoicingTransport is credit's transport to the invoicing API: up to 64
// idle connections kept (the default's 2 would open and close one per call
// under load).
func (a *app) invoicingTransport() *http.Transport {
	t := a.transport()
	t.MaxIdleConnsPerHost = 64
	return t
}
