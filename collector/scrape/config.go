package scrape

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/estatehq/estate/internal/config"
)

// Config is what an operator sets of the scrape (the `collector.scrape`
// group of the collector's configuration).
type Config struct {
	// Interval is the time between two scrapes of a target.
	Interval time.Duration `yaml:"interval"`
	// Timeout bounds one scrape; at most Interval.
	Timeout time.Duration `yaml:"timeout"`
	// SampleLimit fails a scrape (up 0, nothing stored) that returns more
	// samples than this, so one target cannot fill the store; 0 is no
	// limit.
	SampleLimit int `yaml:"sample_limit"`
	// Targets are scraped besides those the estate knows of itself (the
	// collector, and the services running in its process): job=host:port,
	// for services that run as separate processes.
	Targets []string `yaml:"targets"`
}

// RegisterFlags sets the defaults and binds the flags, named prefix +
// "interval" and so on.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.DurationVar(&c.Interval, prefix+"interval", 15*time.Second, "time between two scrapes of a target's /metrics into the embedded metrics store")
	fs.DurationVar(&c.Timeout, prefix+"timeout", 10*time.Second, "timeout of one scrape; at most the interval")
	fs.IntVar(&c.SampleLimit, prefix+"sample-limit", 0, "most samples one scrape may return, else it fails with up 0 and stores nothing; 0 is no limit")
	c.Targets = []string{}
	fs.Var(config.CommaList{List: &c.Targets}, prefix+"targets", "more targets to scrape, comma-separated job=host:port (services running as separate processes)")
}

// Validate names every field at fault, by its key in this group.
func (c *Config) Validate() error {
	errs := []error{config.Positive("interval", c.Interval), config.Positive("timeout", c.Timeout)}
	if c.Timeout > c.Interval {
		errs = append(errs, fmt.Errorf("timeout: must be at most interval (%s), not %s", c.Interval, c.Timeout))
	}
	if c.SampleLimit < 0 {
		errs = append(errs, fmt.Errorf("sample_limit: must not be negative, not %d", c.SampleLimit))
	}
	for i, t := range c.Targets {
		if _, _, err := parseTarget(t); err != nil {
			errs = append(errs, fmt.Errorf("targets[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// StaticTargets are the Targets by job, in the order given.
func (c *Config) StaticTargets() (map[string][]string, error) {
	out := map[string][]string{}
	for i, t := range c.Targets {
		job, addr, err := parseTarget(t)
		if err != nil {
			return nil, fmt.Errorf("targets[%d]: %w", i, err)
		}
		out[job] = append(out[job], addr)
	}
	return out, nil
}

// parseTarget splits job=host:port.
func parseTarget(s string) (job, addr string, err error) {
	job, addr, ok := strings.Cut(s, "=")
	if !ok || job == "" {
		return "", "", fmt.Errorf("must be job=host:port, not %q", s)
	}
	if err := checkAddr(addr); err != nil {
		return "", "", fmt.Errorf("%q: %w", s, err)
	}
	return job, addr, nil
}

// checkAddr accepts host:port with a host and a port from 1 to 65535.
func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return fmt.Errorf("address must be host:port, not %q", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("port must be a number from 1 to 65535, not %q", port)
	}
	return nil
}
