// Package logging builds the slog.Logger that every component is given: JSON
// by default, readable text on a terminal, level configurable.
package logging

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/term"
)

// Formats a logger can write.
const (
	FormatAuto = "auto" // text on a terminal, JSON elsewhere
	FormatJSON = "json"
	FormatText = "text"
)

// Config is the logging configuration shared by every target.
type Config struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// RegisterFlags sets the defaults and registers the flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Level, "log.level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.Format, "log.format", FormatAuto, "log format: auto (text on a terminal, JSON otherwise), json or text")
}

// Validate names the field at fault.
func (c *Config) Validate() error {
	var errs []error
	if _, err := parseLevel(c.Level); err != nil {
		errs = append(errs, fmt.Errorf("log.level: %w", err))
	}
	switch c.Format {
	case FormatAuto, FormatJSON, FormatText:
	default:
		errs = append(errs, fmt.Errorf("log.format: must be auto, json or text, not %q", c.Format))
	}
	return errors.Join(errs...)
}

// New returns a logger writing to w as the configuration says.
func New(c Config, w io.Writer) (*slog.Logger, error) {
	level, err := parseLevel(c.Level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	format := c.Format
	if format == FormatAuto || format == "" {
		format = FormatJSON
		if isTerminal(w) {
			format = FormatText
		}
	}
	if format == FormatText {
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(w, opts)), nil
}

// Discard returns a logger that writes nothing, for tests and tools.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("must be debug, info, warn or error, not %q", s)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
