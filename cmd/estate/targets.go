package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/estatehq/estate/internal/modules"
)

// target describes one public target of the binary.
type target struct {
	name    string
	summary string
	// flagPrefixes are the other option groups the target uses, shown by its
	// --help beside its own.
	flagPrefixes []string
}

// targets lists the public targets in the order `up` starts them.
func targets() []target {
	return []target{}
}

// tools lists the commands that are not long-running targets.
func tools() []command {
	return []command{}
}

// sharedFlagPrefixes lists the option groups, beyond their own, that targets
// use.
func sharedFlagPrefixes(targetNames []string) []string {
	var out []string
	for _, t := range targets() {
		if slices.Contains(targetNames, t.name) {
			out = append(out, t.flagPrefixes...)
		}
	}
	return out
}

// targetConfigs holds each target's configuration.
type targetConfigs struct{}

func (c *targetConfigs) registerFlags(fs *flag.FlagSet) {}

func (c *targetConfigs) validate(targetNames []string) []error {
	var errs []error
	_ = targetNames
	return errs
}

func (c *targetConfigs) listenAddrs() []*string {
	return nil
}

// app wires the modules of one run of the binary; every module gets what it
// needs from here and nothing else.
type app struct {
	cfg     *Config
	logger  *slog.Logger
	env     *environ
	now     func() time.Time
	closers []func() error
}

// modules lists every module, public and internal.
func (a *app) modules() []modules.Module {
	return []modules.Module{
		{Name: "datadir", Init: a.initDataDir},
	}
}

// onClose registers f to run when the run ends, after every module stopped.
func (a *app) onClose(f func() error) { a.closers = append(a.closers, f) }

func (a *app) close() {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	if err := errors.Join(errs...); err != nil {
		a.logger.Error("closing", "err", err)
	}
}

// componentLogger returns the logger a module is given.
func (a *app) componentLogger(name string) *slog.Logger {
	return a.logger.With("component", name)
}

func (a *app) initDataDir(context.Context) (modules.Service, error) {
	if err := os.MkdirAll(a.cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("creating data dir: %w", err)
	}
	return nil, nil
}
