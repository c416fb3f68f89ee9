package otlpexporter

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/estatehq/estate/internal/delivery"
)

// Protocols.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http"
)

// Compression of export requests.
const (
	CompressionGzip = "gzip"
	CompressionNone = "none"
)

// Config is the OTLP exporter's configuration. The exporter is on when
// Endpoint is set.
type Config struct {
	// Endpoint is the receiver's URL, as OTEL_EXPORTER_OTLP_ENDPOINT is:
	// http://host:4317 for OTLP/gRPC, http://host:4318 for OTLP/HTTP, whose
	// requests go to /v1/traces, /v1/logs and /v1/metrics under it. https
	// turns TLS on.
	Endpoint string `yaml:"endpoint"`
	// Protocol is grpc or http (protobuf).
	Protocol string `yaml:"protocol"`
	// Compression is gzip or none.
	Compression string `yaml:"compression"`
	// Headers are sent with every request (gRPC metadata or HTTP headers),
	// such as an authorization token.
	Headers map[string]string `yaml:"headers"`
	// CAFile adds CAs to the system roots (https only).
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify accepts any server certificate (https only): for a
	// lab, never for production.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// RetryConfig is timeout, max_attempts, initial_backoff and
	// max_backoff.
	delivery.RetryConfig `yaml:",inline"`
}

// Enabled reports whether telemetry goes to an OTLP receiver.
func (c *Config) Enabled() bool { return c.Endpoint != "" }

// RegisterFlags sets the defaults and binds the flags, named prefix +
// "otlp-endpoint" and so on (prefix is empty or ends with a separator).
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	p := prefix + "otlp-"
	fs.StringVar(&c.Endpoint, p+"endpoint", "", "URL of an OTLP receiver (http://host:4317 for grpc, http://host:4318 for http; https for TLS); telemetry goes there when set")
	fs.StringVar(&c.Protocol, p+"protocol", ProtocolGRPC, "OTLP transport: grpc or http (protobuf)")
	fs.StringVar(&c.Compression, p+"compression", CompressionGzip, "compression of export requests: gzip or none")
	fs.Func(p+"header", "header of every export request, key=value (an authorization token...); repeat the flag or separate pairs with commas", func(s string) error {
		for _, kv := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if k = strings.TrimSpace(k); !ok || k == "" {
				return fmt.Errorf("%q is not key=value", kv)
			}
			if c.Headers == nil {
				c.Headers = map[string]string{}
			}
			c.Headers[k] = strings.TrimSpace(v)
		}
		return nil
	})
	fs.StringVar(&c.CAFile, p+"ca-file", "", "PEM file of CAs trusted for the OTLP receiver (https endpoints)")
	fs.BoolVar(&c.InsecureSkipVerify, p+"insecure-skip-verify", false, "accept any certificate of the OTLP receiver (https endpoints; labs only)")
	c.RetryConfig.RegisterFlags(fs, p)
}

// Validate names every field at fault. It checks nothing when the exporter
// is off.
func (c *Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	if _, err := c.target(); err != nil {
		errs = append(errs, err)
	}
	switch c.Protocol {
	case ProtocolGRPC, ProtocolHTTP:
	default:
		errs = append(errs, fmt.Errorf("otlp.protocol: must be grpc or http, not %q", c.Protocol))
	}
	switch c.Compression {
	case CompressionGzip, CompressionNone:
	default:
		errs = append(errs, fmt.Errorf("otlp.compression: must be gzip or none, not %q", c.Compression))
	}
	keys := make([]string, 0, len(c.Headers))
	for k := range c.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(c.Headers[k]) {
			errs = append(errs, fmt.Errorf("otlp.headers: %q is not a valid header", k))
		}
	}
	if err := c.tls().Validate("otlp."); err != nil {
		errs = append(errs, err)
	}
	if err := c.RetryConfig.Validate("otlp."); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// target is the endpoint as a URL: for gRPC its host:port is dialled, for
// HTTP the signals' paths go under it.
func (c *Config) target() (*url.URL, error) {
	u, err := url.Parse(c.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("otlp.endpoint: %q must be an http or https URL with a host", c.Endpoint)
	}
	if c.Protocol == ProtocolGRPC {
		if u.Port() == "" {
			return nil, fmt.Errorf("otlp.endpoint: %q needs a port for grpc (4317)", c.Endpoint)
		}
		if strings.Trim(u.Path, "/") != "" {
			return nil, fmt.Errorf("otlp.endpoint: %q may have no path for grpc", c.Endpoint)
		}
	}
	return u, nil
}

// tls is on for an https endpoint.
func (c *Config) tls() delivery.TLS {
	u, err := url.Parse(c.Endpoint)
	return delivery.TLS{Enabled: err == nil && u.Scheme == "https", CAFile: c.CAFile, InsecureSkipVerify: c.InsecureSkipVerify}
}
