//go:build !servicesonly

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/estatehq/estate/internal/config"
	"github.com/estatehq/estate/internal/progress"
	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/internal/timebound"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/sloreport"
	"github.com/estatehq/estate/sloreport/examples"
)

// defaultCollectorURL is the collector's API on this machine: its
// Prometheus API answers the SLOs' queries, and its incident timelines are
// the reviews the report links to.
const defaultCollectorURL = "http://127.0.0.1:8088"

// reportOptions are the options of `estate report`.
type reportOptions struct {
	week, from, to string
	format, out    string
	events         string
	dataDir        string
	postgresDSN    string
	collectorURL   string
	token          string
	includeChaos   bool
	slo            sloreport.Config
	thresholds     sloreport.Thresholds
}

func (o *reportOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.week, "week", "", "ISO week to report, UTC, such as 2026-W47 (instead of --from and --to)")
	fs.StringVar(&o.from, "from", "", "start of the period, RFC 3339, inclusive (default: 7 days before --to)")
	fs.StringVar(&o.to, "to", "", "end of the period, RFC 3339, exclusive (default: the start of today, UTC)")
	fs.StringVar(&o.format, "format", "text", "output: text, markdown, html or json")
	fs.StringVar(&o.out, "out", "", "file to write the report to, replaced whole (default: standard output)")
	o.registerSource(fs)
	fs.StringVar(&o.collectorURL, "collector-url", defaultCollectorURL, "the collector's API: it answers the SLOs' queries unless --slo.prometheus-url is set, and the report links each incident to its timeline there")
	fs.StringVar(&o.token, "token", "", "bearer token of the calls to the collector's API, which need observability.read, e.g. from `estate token` (env ESTATE_TOKEN)")
	fs.BoolVar(&o.includeChaos, "include-chaos", false, "count incidents caused by chaos experiments in incidents, downtime, MTTR and MTBF")
	o.slo.RegisterFlags(fs, "slo.")
	o.thresholds.RegisterFlags(fs, "thresholds.")
}

// registerSource registers the options that say where the events come
// from: a file, or the collector's event store. `estate export` shares
// them.
func (o *reportOptions) registerSource(fs *flag.FlagSet) {
	fs.StringVar(&o.events, "events", "", "file of CloudEvents, one JSON object per line ('-' reads standard input), instead of the collector's event store")
	fs.StringVar(&o.dataDir, "data-dir", "./.estate", "data folder of the collector whose event store (events.db) is read")
	fs.StringVar(&o.postgresDSN, "events.postgres-dsn", "", "PostgreSQL DSN of the collector's event store, instead of the SQLite one under --data-dir")
}

// fromEnv sets the options of the collector's store, SLOs and thresholds
// from their ESTATE_* variables (ESTATE_DATA_DIR, ESTATE_SLO_PROMETHEUS_URL),
// as the targets read them; the command line then wins.
func fromEnv(fs *flag.FlagSet, getenv func(string) string) error {
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(f.Name, ".") && f.Name != "data-dir" && f.Name != "collector-url" && f.Name != "token" {
			return
		}
		if v := getenv(config.EnvName(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", config.EnvName(f.Name), err))
			}
		}
	})
	return errors.Join(errs...)
}

// parseTool reads the options of a tool (cmd, "report") from the
// environment, then args, which must hold none but options; --help prints
// usage, help and the options.
func parseTool(env *environ, fs *flag.FlagSet, args []string, cmd, usage, help string) error {
	if err := fromEnv(fs, env.getenv); err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(env.stdout, usage)
			fmt.Fprintln(env.stdout, "\n"+help+"\n\nOptions:")
			config.PrintUsage(env.stdout, fs)
		}
		return fmt.Errorf("%s: %w", cmd, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", cmd, fs.Arg(0))
	}
	return nil
}

// runReport writes the reliability report of a week or a period: the
// figures of the collector's event store (or of a file of events), the
// SLOs through the collector's Prometheus API (or --slo.prometheus-url).
func runReport(ctx context.Context, env *environ, args []string) error {
	fs := flag.NewFlagSet("estate report", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o reportOptions
	o.register(fs)
	if err := parseTool(env, fs, args, "report",
		"Usage: estate report [--week 2026-W47 | --from RFC3339 --to RFC3339] [--format text|markdown|html|json] [--out FILE] [--events FILE]",
		"Writes the weekly reliability report: per service and overall, DORA, MTBF, MTTR and rollback rate with their samples and their change against the period before, SLO attainment and budget, incidents, chaos experiments, an 8-period trend. See docs/report.md."); err != nil {
		return err
	}
	in, format, err := o.inputs(env)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := o.source(ctx, env, &in); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if in.SLOs, err = o.evaluator(env); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	r, err := sloreport.Compute(ctx, in)
	if err != nil {
		return fmt.Errorf("report: %w", o.hint(err))
	}
	if o.out == "" {
		return r.Render(env.stdout, format)
	}
	return r.WriteFile(o.out, format)
}

// inputs checks the options and turns the period's into the report's
// inputs.
func (o *reportOptions) inputs(env *environ) (sloreport.Inputs, sloreport.Format, error) {
	in := sloreport.Inputs{Now: env.now(), IncludeChaos: o.includeChaos, Thresholds: o.thresholds}
	format, err := sloreport.ParseFormat(o.format)
	if err != nil {
		return in, "", fmt.Errorf("--%w", err)
	}
	var errs []error
	if err := o.slo.Validate(); err != nil {
		errs = append(errs, config.Under("slo.", err))
	}
	if err := o.thresholds.Validate(); err != nil {
		errs = append(errs, config.Under("thresholds.", err))
	}
	if u, err := url.Parse(o.collectorURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("collector-url: must be an http or https URL with a host, not %q", o.collectorURL))
	}
	if err := errors.Join(errs...); err != nil {
		return in, "", err
	}
	if o.week != "" {
		if o.from != "" || o.to != "" {
			return in, "", errors.New("--week and --from/--to name the period twice: give one")
		}
		w, err := sloreport.ParseWeek(o.week)
		if err != nil {
			return in, "", fmt.Errorf("--week: %w", err)
		}
		in.Week = w
	} else {
		w, err := reportWindow(o.from, o.to, env.now())
		if err != nil {
			return in, "", err
		}
		in.From, in.To = w.From, w.To
	}
	base := strings.TrimRight(o.collectorURL, "/")
	in.ReviewURL = func(id string) string { return base + "/v1/incidents/" + url.PathEscape(id) + "/timeline" }
	return in, format, nil
}

// source sets where the events come from: the file of --events, or the
// collector's store.
func (o *reportOptions) source(ctx context.Context, env *environ, in *sloreport.Inputs) error {
	switch {
	case o.events == "-":
		events, err := metrics.ReadJSONL(env.stdin)
		if err != nil {
			return fmt.Errorf("standard input: %w", err)
		}
		in.Events = events
	case o.events != "":
		f, err := os.Open(o.events)
		if err != nil {
			return err
		}
		defer f.Close()
		// A large file takes a while: its bytes read show on stderr.
		var size int64
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
		p := progress.New(env.stderr, progress.Options{Description: "reading " + filepath.Base(o.events), Total: size, Bytes: true})
		events, err := metrics.ReadJSONL(p.Reader(f))
		p.Finish()
		if err != nil {
			return fmt.Errorf("%s: %w", o.events, err)
		}
		in.Events = events
	default:
		// Reading must not create an empty store where there was none.
		if path := filepath.Join(o.dataDir, eventsFile); o.postgresDSN == "" {
			if _, err := os.Stat(path); err != nil {
				return fmt.Errorf("no event store at %s (run the collector with --data-dir %s, give --events.postgres-dsn, or a file of events with --events): %w", path, o.dataDir, err)
			}
		}
		st, closeStore, err := openEvents(ctx, o.dataDir, o.postgresDSN, slog.New(slog.DiscardHandler))
		if err != nil {
			return err
		}
		// The report reads the events once, before Compute returns.
		in.Store = closingStore{Store: st, close: closeStore}
	}
	return nil
}

// closingStore closes the store after its one read of a report.
type closingStore struct {
	metrics.Store
	close func() error
}

func (s closingStore) Events(ctx context.Context, f metrics.Filter) ([]metrics.Event, error) {
	events, err := s.Store.Events(ctx, f)
	return events, errors.Join(err, s.close())
}

// evaluator is the SLOs' evaluator of a report: the configured SLOs,
// queried at --slo.prometheus-url or else through the collector's API.
// None when no SLO is configured.
func (o *reportOptions) evaluator(env *environ) (*sloreport.Evaluator, error) {
	u := o.slo.PrometheusURL
	if u == "" {
		u = o.collectorURL
	}
	q, err := promquery.NewHTTP(promquery.HTTPOptions{URL: u, Transport: tokenClient(o.token, 0).Transport})
	if err != nil {
		return nil, err
	}
	return reportEvaluator(o.slo, q, env.now)
}

// reportEvaluator loads the SLOs that cfg names and returns their
// evaluator for reports over q; nil when there is none.
func reportEvaluator(cfg sloreport.Config, q promquery.Querier, now func() time.Time) (*sloreport.Evaluator, error) {
	slos, err := cfg.Load(examples.FS)
	if err != nil {
		return nil, fmt.Errorf("loading SLOs: %w", err)
	}
	if len(slos) == 0 {
		return nil, nil
	}
	// The cache serves the statuses now (the report server's home page);
	// a report's periods are computed anew.
	return sloreport.New(sloreport.Options{Querier: q, SLOs: slos, Policy: cfg.Policy(), Chunk: sloreport.ReportChunk, CacheTTL: cfg.CacheTTL, Now: now})
}

// hint adds what to do to an error of the SLOs' queries.
func (o *reportOptions) hint(err error) error {
	var pe *promquery.Error
	if errors.As(err, &pe) && pe.Type == promquery.ErrUnavailable {
		return fmt.Errorf("%w (start the collector, point --slo.prometheus-url at a Prometheus, or leave the SLOs out with --slo.examples=false)", err)
	}
	return err
}

// reportWindow parses the window's ends; a missing end takes its default.
func reportWindow(from, to string, now time.Time) (metrics.Window, error) {
	var w metrics.Window
	var err error
	if to == "" {
		w.To = now.UTC().Truncate(24 * time.Hour)
	} else if w.To, err = timebound.Parse(to); err != nil {
		return w, fmt.Errorf("--to %w, not %q", err, to)
	}
	if from == "" {
		w.From = w.To.Add(-7 * 24 * time.Hour)
	} else if w.From, err = timebound.Parse(from); err != nil {
		return w, fmt.Errorf("--from %w, not %q", err, from)
	}
	if !w.From.Before(w.To) {
		return w, fmt.Errorf("--from (%s) must be before --to (%s)", w.From.Format(time.RFC3339), w.To.Format(time.RFC3339))
	}
	w.From, w.To = w.From.UTC(), w.To.UTC()
	return w, nil
}
