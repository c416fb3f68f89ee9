package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/estatehq/estate/internal/config"
	"github.com/estatehq/estate/metrics"
)

// runReport computes the reliability figures of a window from a file of
// CloudEvents, one per line, with no server: for backfills and audits.
func runReport(_ context.Context, env *environ, args []string) error {
	fs := flag.NewFlagSet("estate report", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		events       = fs.String("events", "", "file of CloudEvents, one JSON object per line ('-' reads standard input); required")
		from         = fs.String("from", "", "start of the window, RFC 3339, inclusive (default: 7 days before --to)")
		to           = fs.String("to", "", "end of the window, RFC 3339, exclusive (default: the start of today, UTC)")
		format       = fs.String("format", "text", "output: text or json")
		includeChaos = fs.Bool("include-chaos", false, "count incidents caused by chaos experiments in incidents, downtime, MTTR and MTBF")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(env.stdout, "Usage: estate report --events FILE [--from RFC3339] [--to RFC3339] [--format text|json] [--include-chaos]")
			fmt.Fprintln(env.stdout, "\nComputes DORA, MTBF, MTTR and rollback rate per service and environment from a file of events.\n\nOptions:")
			config.PrintUsage(env.stdout, fs)
		}
		return fmt.Errorf("report: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("report: unexpected argument %q", fs.Arg(0))
	}
	if *events == "" {
		return errors.New("report: --events FILE is required")
	}
	if *format != "text" && *format != "json" {
		return fmt.Errorf("report: --format must be text or json, not %q", *format)
	}
	window, err := reportWindow(*from, *to, env.now())
	if err != nil {
		return err
	}
	in := env.stdin
	if *events != "-" {
		f, err := os.Open(*events)
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		defer f.Close()
		in = f
	}
	rep, err := metrics.ReportFromJSONL(in, window, metrics.Options{IncludeChaos: *includeChaos})
	if err != nil {
		return fmt.Errorf("report: %s: %w", *events, err)
	}
	if *format == "json" {
		return rep.WriteJSON(env.stdout)
	}
	return rep.WriteText(env.stdout)
}

// reportWindow parses the window's ends; a missing end takes its default.
func reportWindow(from, to string, now time.Time) (metrics.Window, error) {
	var w metrics.Window
	var err error
	if to == "" {
		w.To = now.UTC().Truncate(24 * time.Hour)
	} else if w.To, err = time.Parse(time.RFC3339, to); err != nil {
		return w, fmt.Errorf("report: --to must be an RFC 3339 time such as 2026-11-09T00:00:00Z, not %q", to)
	}
	if from == "" {
		w.From = w.To.Add(-7 * 24 * time.Hour)
	} else if w.From, err = time.Parse(time.RFC3339, from); err != nil {
		return w, fmt.Errorf("report: --from must be an RFC 3339 time such as 2026-11-02T00:00:00Z, not %q", from)
	}
	if !w.From.Before(w.To) {
		return w, fmt.Errorf("report: --from (%s) must be before --to (%s)", w.From.Format(time.RFC3339), w.To.Format(time.RFC3339))
	}
	w.From, w.To = w.From.UTC(), w.To.UTC()
	return w, nil
}
