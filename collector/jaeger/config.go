package jaeger

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"time"

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
	// Timeout bounds one Export call to Jaeger.
	Timeout time.Duration `yaml:"timeout"`
	// MaxAttempts bounds the tries of one batch within one ExportTraces.
	MaxAttempts int `yaml:"max_attempts"`
	// InitialBackoff is the first wait when Jaeger names none (RetryInfo);
	// it doubles up to MaxBackoff. A RetryInfo delay longer than MaxBackoff
	// is handed to the caller as a ThrottleError instead of waited for.
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	MaxBackoff     time.Duration `yaml:"max_backoff"`
}

func (c *Config) tls() delivery.TLS { return delivery.TLS{Enabled: c.TLS, CAFile: c.CAFile} }

// retry is the retry policy the configuration sets.
func (c *Config) retry() delivery.Retry {
	return delivery.Retry{Backoff: delivery.Backoff{Initial: c.InitialBackoff, Max: c.MaxBackoff}, MaxAttempts: c.MaxAttempts}
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
	fs.DurationVar(&c.Timeout, p+"timeout", 10*time.Second, "timeout of one export request")
	fs.IntVar(&c.MaxAttempts, p+"max-attempts", 5, "tries of one batch within one export before it is handed back")
	fs.DurationVar(&c.InitialBackoff, p+"initial-backoff", 100*time.Millisecond, "first wait before a retry when Jaeger names none; doubles each time")
	fs.DurationVar(&c.MaxBackoff, p+"max-backoff", 5*time.Second, "longest wait within one export; longer server delays are handed back to the queue")
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
	if c.Timeout <= 0 {
		errs = append(errs, errors.New("jaeger.timeout: must be positive"))
	}
	if err := c.retry().Validate("jaeger."); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
