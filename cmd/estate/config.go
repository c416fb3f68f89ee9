package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/estatehq/estate/internal/logging"
)

// Config is the whole configuration of the estate binary. Each target's part
// is its own package's Config; only the options every target shares live
// here.
type Config struct {
	// DataDir holds every embedded store: SQLite files, the collector's queue,
	// the development issuer's key.
	DataDir string `yaml:"data_dir"`
	// PortOffset is added to every listen port, so that two estates can run
	// side by side.
	PortOffset int `yaml:"port_offset"`
	// ShutdownTimeout bounds a graceful stop.
	ShutdownTimeout time.Duration  `yaml:"shutdown_timeout"`
	Log             logging.Config `yaml:"log"`
	// TLS is the listeners' certificate and the CAs the targets trust.
	TLS tlsConfig `yaml:"tls"`
	// Env is development or production; production refuses to start
	// with development settings (productionFaults).
	Env string `yaml:"env"`

	// Up holds the options of `estate up` alone: --postgres and --demo.
	Up upConfig `yaml:",inline"`

	targetConfigs `yaml:",inline"`
}

// RegisterFlags sets the defaults and binds the flags of the shared
// options and of the named targets' options.
func (c *Config) RegisterFlags(fs *flag.FlagSet, targetNames []string) {
	fs.StringVar(&c.DataDir, "data-dir", "./.estate", "folder of every embedded store; created if missing")
	fs.IntVar(&c.PortOffset, "port-offset", 0, "added to every listen port, to run several estates side by side")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "how long a graceful stop may take")
	c.Log.RegisterFlags(fs)
	c.TLS.RegisterFlags(fs)
	fs.StringVar(&c.Env, "env", envDevelopment, "development, or production: refuse to start with the development issuer, authentication off, a weak secret or a plain-text listener beyond loopback")
	c.targetConfigs.registerFlags(fs, targetNames)
}

// Validate checks the shared options and those of the targets in use, and
// names every field at fault.
func (c *Config) Validate(targetNames []string) error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir: must not be empty"))
	}
	if c.PortOffset < 0 || c.PortOffset > 60000 {
		errs = append(errs, fmt.Errorf("port_offset: must be between 0 and 60000, not %d", c.PortOffset))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("shutdown_timeout: must be positive, not %s", c.ShutdownTimeout))
	}
	if err := c.Log.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.TLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	switch c.Env {
	case envDevelopment:
	case envProduction:
		errs = append(errs, c.productionFaults(targetNames)...)
	default:
		errs = append(errs, fmt.Errorf("env: must be %s or %s, not %q", envDevelopment, envProduction, c.Env))
	}
	errs = append(errs, c.targetConfigs.validate(targetNames)...)
	return errors.Join(errs...)
}

// applyPortOffset moves the named targets' listen addresses by PortOffset.
func (c *Config) applyPortOffset(targetNames []string) {
	if c.PortOffset == 0 {
		return
	}
	for _, addr := range c.targetConfigs.listenAddrs(targetNames) {
		*addr = offsetPort(*addr, c.PortOffset)
	}
}

// offsetPort adds n to addr's port; an address without a numeric port, or
// with port 0 (any free port), is left alone.
func offsetPort(addr string, n int) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	p, err := strconv.Atoi(port)
	if err != nil || p == 0 {
		return addr
	}
	return net.JoinHostPort(host, strconv.Itoa(p+n))
}
