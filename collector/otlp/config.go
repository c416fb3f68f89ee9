package otlp

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/estatehq/estate/internal/config"
)

// Defaults of the receiver's settings, written once: RegisterFlags binds
// them and New applies them to zero Options.
const (
	DefaultMaxRequestBytes  = 16 << 20
	DefaultMaxInflightBytes = 256 << 20
	DefaultRetryAfter       = time.Second
	// DefaultRateLimit is far above what an SDK's batching exporters send
	// (a request per signal every few seconds), even for many pods that
	// share one static token, and below what one sender can flood with.
	DefaultRateLimit = 500
	DefaultRateBurst = 1000
)

// Config is the receiver's part of the collector's configuration (the
// `collector.otlp` group).
type Config struct {
	// GRPCListenAddr and HTTPListenAddr are the listen addresses.
	GRPCListenAddr string `yaml:"grpc_listen_addr"`
	HTTPListenAddr string `yaml:"http_listen_addr"`
	// MaxRequestBytes bounds one request after decompression.
	MaxRequestBytes int64 `yaml:"max_request_bytes"`
	// ClientCAFile, when set, makes both receivers accept only clients
	// presenting a certificate signed by one of its CAs (mutual TLS);
	// it needs the listeners' TLS certificate.
	ClientCAFile string `yaml:"client_ca_file"`
	// GRPCAuth and HTTPAuth make each listener accept only senders
	// holding the role telemetry.write.
	GRPCAuth bool `yaml:"grpc_auth"`
	HTTPAuth bool `yaml:"http_auth"`
	// RateLimit and RateBurst bound each sender's export requests a
	// second (RateLimit); zero turns the bound off.
	RateLimit float64 `yaml:"rate_limit"`
	RateBurst int     `yaml:"rate_burst"`
}

// RegisterFlags sets the defaults and binds the flags, named prefix +
// "grpc-listen-addr" and so on (prefix is empty or ends with a separator).
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.StringVar(&c.GRPCListenAddr, prefix+"grpc-listen-addr", ":4317", "OTLP/gRPC receiver address")
	fs.StringVar(&c.HTTPListenAddr, prefix+"http-listen-addr", ":4318", "OTLP/HTTP receiver address (POST /v1/traces, /v1/logs, /v1/metrics; protobuf or JSON, gzip)")
	fs.StringVar(&c.ClientCAFile, prefix+"client-ca-file", "", "PEM CAs of the client certificates the OTLP receivers require (mutual TLS; needs --tls.cert-file); no client certificate is asked for when empty")
	fs.Int64Var(&c.MaxRequestBytes, prefix+"max-request-bytes", DefaultMaxRequestBytes, "largest OTLP request accepted, in bytes, after decompression; larger ones get 413 / INVALID_ARGUMENT")
	fs.BoolVar(&c.GRPCAuth, prefix+"grpc-auth", true, "OTLP/gRPC accepts only senders holding the role telemetry.write; off lets anyone send")
	fs.BoolVar(&c.HTTPAuth, prefix+"http-auth", true, "OTLP/HTTP accepts only senders holding the role telemetry.write; off lets anyone send")
	fs.Float64Var(&c.RateLimit, prefix+"rate-limit", DefaultRateLimit, "export requests a second each sender (its principal, else its address) may make; more get 429 / RESOURCE_EXHAUSTED with a retry delay; 0 turns the limit off")
	fs.IntVar(&c.RateBurst, prefix+"rate-burst", DefaultRateBurst, "requests a sender may make at once above collector.otlp.rate-limit")
}

// Validate names every field at fault, by its key in this group.
func (c *Config) Validate() error {
	var errs []error
	errs = append(errs, config.ListenAddr("grpc_listen_addr", c.GRPCListenAddr), config.ListenAddr("http_listen_addr", c.HTTPListenAddr))
	errs = append(errs, config.Positive("max_request_bytes", c.MaxRequestBytes))
	if c.RateLimit < 0 {
		errs = append(errs, fmt.Errorf("rate_limit: must be 0 (off) or positive, not %v", c.RateLimit))
	}
	if c.RateLimit > 0 && c.RateBurst < 1 {
		errs = append(errs, fmt.Errorf("rate_burst: must be at least 1, not %d", c.RateBurst))
	}
	if c.ClientCAFile != "" {
		if _, err := os.Stat(c.ClientCAFile); err != nil {
			errs = append(errs, fmt.Errorf("client_ca_file: %w", err))
		}
	}
	return errors.Join(errs...)
}

// LimiterConfig is the memory limiter shared by both transports (the
// `collector.memory` group).
type LimiterConfig struct {
	// MaxInflightBytes bounds the bytes of requests being decoded and
	// queued at once; above it ingest answers 429 / RESOURCE_EXHAUSTED.
	MaxInflightBytes int64 `yaml:"max_inflight_bytes"`
	// RetryAfter is the delay suggested to refused clients.
	RetryAfter time.Duration `yaml:"retry_after"`
}

// RegisterFlags sets the defaults and binds the flags, named prefix +
// "max-inflight-bytes" and so on.
func (c *LimiterConfig) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.Int64Var(&c.MaxInflightBytes, prefix+"max-inflight-bytes", DefaultMaxInflightBytes, "memory limiter: bytes of requests in flight at once; above it ingest answers 429 / RESOURCE_EXHAUSTED")
	fs.DurationVar(&c.RetryAfter, prefix+"retry-after", DefaultRetryAfter, "Retry-After suggested to clients refused by the memory limiter or a full queue")
}

// Validate names every field at fault, by its key in this group.
func (c *LimiterConfig) Validate() error {
	var errs []error
	errs = append(errs, config.Positive("max_inflight_bytes", c.MaxInflightBytes))
	errs = append(errs, config.Positive("retry_after", c.RetryAfter))
	return errors.Join(errs...)
}
