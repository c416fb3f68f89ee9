package remotewrite

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"time"

	"github.com/estatehq/estate/internal/delivery"
)

// Config is the remote_write exporter's configuration. The exporter is on
// when URL is set.
type Config struct {
	// URL is the receiver's endpoint, for Prometheus
	// http://host:9090/api/v1/write (started with
	// --web.enable-remote-write-receiver).
	URL string `yaml:"url"`
	// Interval is the time between two pushes of the whole registry.
	Interval time.Duration `yaml:"interval"`
	// Timeout bounds one push request.
	Timeout time.Duration `yaml:"timeout"`
	// MaxAttempts bounds the tries of one snapshot; a newer snapshot
	// replaces an undelivered one, as every series is cumulative or a gauge.
	MaxAttempts    int           `yaml:"max_attempts"`
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	MaxBackoff     time.Duration `yaml:"max_backoff"`
	// Job and Instance label every pushed series, as a scrape would.
	Job      string `yaml:"job"`
	Instance string `yaml:"instance"`
	// Username and Password select basic authentication.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// CAFile is a PEM file of CAs trusted, beside the system roots, to
	// verify an https endpoint.
	CAFile string `yaml:"ca_file"`
}

// Enabled reports whether metrics are pushed.
func (c *Config) Enabled() bool { return c.URL != "" }

// RegisterFlags sets the defaults and binds the flags, named prefix +
// "prometheus-remote-write-url" and so on (prefix is empty or ends with a
// separator).
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	p := prefix + "prometheus-remote-write-"
	fs.StringVar(&c.URL, p+"url", "", "Prometheus remote_write endpoint (e.g. http://prometheus:9090/api/v1/write); metrics are pushed there when set")
	fs.DurationVar(&c.Interval, p+"interval", 15*time.Second, "time between two pushes")
	fs.DurationVar(&c.Timeout, p+"timeout", 10*time.Second, "timeout of one push request")
	fs.IntVar(&c.MaxAttempts, p+"max-attempts", 3, "tries of one snapshot before it is given up for the next")
	fs.DurationVar(&c.InitialBackoff, p+"initial-backoff", 500*time.Millisecond, "first wait before retrying a push; doubles each time")
	fs.DurationVar(&c.MaxBackoff, p+"max-backoff", 5*time.Second, "longest wait before retrying a push")
	fs.StringVar(&c.Job, p+"job", "estate", "job label of pushed series")
	fs.StringVar(&c.Instance, p+"instance", "", "instance label of pushed series; the host name when empty")
	fs.StringVar(&c.Username, p+"username", "", "basic-auth user for the remote_write endpoint")
	fs.StringVar(&c.Password, p+"password", "", "basic-auth password for the remote_write endpoint")
	fs.StringVar(&c.CAFile, p+"ca-file", "", "PEM CAs trusted, beside the system roots, to verify an https remote_write endpoint")
}

// Validate names every field at fault. It checks nothing when the exporter
// is off.
func (c *Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("prometheus_remote_write.url: %q must be an http or https URL with a host", c.URL))
	}
	if c.Interval <= 0 {
		errs = append(errs, errors.New("prometheus_remote_write.interval: must be positive"))
	}
	if c.Timeout <= 0 {
		errs = append(errs, errors.New("prometheus_remote_write.timeout: must be positive"))
	}
	if err := c.retry().Validate("prometheus_remote_write."); err != nil {
		errs = append(errs, err)
	}
	if c.Job == "" {
		errs = append(errs, errors.New("prometheus_remote_write.job: must not be empty"))
	}
	if c.Password != "" && c.Username == "" {
		errs = append(errs, errors.New("prometheus_remote_write.username: must be set with password"))
	}
	if err := c.tls().Validate("prometheus_remote_write."); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// tls is on for an https endpoint.
func (c *Config) tls() delivery.TLS {
	u, err := url.Parse(c.URL)
	return delivery.TLS{Enabled: err == nil && u.Scheme == "https", CAFile: c.CAFile}
}

// retry is the retry policy the configuration sets.
func (c *Config) retry() delivery.Retry {
	return delivery.Retry{Backoff: delivery.Backoff{Initial: c.InitialBackoff, Max: c.MaxBackoff}, MaxAttempts: c.MaxAttempts}
}
