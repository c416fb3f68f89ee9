package jaeger

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"

	"github.com/estatehq/estate/internal/delivery"
)

// Compression of export requests.
const (
	CompressionGzip = "gzip"
	CompressionNone = "none"
)

// Config is the Jaeger exporter's configuration. The exporter is on when
// Endpoint is set.
type Config struct {
	// Endpoint is host:port of Jaeger's OTLP gRPC receiver (4317).
	Endpoint string `yaml:"endpoint"`
	// TLS turns on TLS; CAFile adds CAs to the system roots.
	TLS    bool   `yaml:"tls"`
	CAFile string `yaml:"ca_file"`
	// Compression is gzip or none.
	Compression string `yaml:"compression"`
	// RetryConfig is timeout (of one Export call to Jaeger),
	// max_attempts, initial_backoff and max_backoff: a RetryInfo delay
	// longer than MaxBackoff is handed to the caller as a ThrottleError
	// instead of waited for.
	delivery.RetryConfig `yaml:",inline"`
}

// Enabled reports whether traces go to Jaeger.
func (c *Config) Enabled() bool { return c.Endpoint != "" }

// RegisterFlags sets the defaults and binds the flags, named prefix +
// "jaeger-endpoint" and so on (prefix is empty or ends with a separator).
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	p := prefix + "jaeger-"
	fs.StringVar(&c.Endpoint, p+"endpoint", "", "host:port of Jaeger's OTLP gRPC receiver; traces go there when set")
	fs.BoolVar(&c.TLS, p+"tls", false, "use TLS to Jaeger")
	fs.StringVar(&c.CAFile, p+"ca-file", "", "PEM file of CAs trusted for Jaeger (with --"+p+"tls)")
	fs.StringVar(&c.Compression, p+"compression", CompressionGzip, "compression of export requests: gzip or none")
	c.RetryConfig.RegisterFlags(fs, p)
}

// Validate names every field at fault. It checks nothing when the exporter
// is off.
func (c *Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	if host, port, err := net.SplitHostPort(c.Endpoint); err != nil || host == "" {
		errs = append(errs, fmt.Errorf("jaeger.endpoint: %q must be host:port", c.Endpoint))
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		errs = append(errs, fmt.Errorf("jaeger.endpoint: port %q must be 1-65535", port))
	}
	if err := c.tls().Validate("jaeger."); err != nil {
		errs = append(errs, err)
	}
	switch c.Compression {
	case CompressionGzip, CompressionNone:
	default:
		errs = append(errs, fmt.Errorf("jaeger.compression: must be gzip or none, not %q", c.Compression))
	}
	if err := c.RetryConfig.Validate("jaeger."); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// tls is the TLS the configuration sets.
func (c *Config) tls() delivery.TLS { return delivery.TLS{Enabled: c.TLS, CAFile: c.CAFile} }
