//go:build !servicesonly

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/estatehq/estate/internal/config"
	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/sloreport"
	"github.com/estatehq/estate/sloreport/examples"
	slohttp "github.com/estatehq/estate/sloreport/http"
	sloprom "github.com/estatehq/estate/sloreport/prometheus"
)

// runSLO is `estate slo validate|rules`: the SLO definitions, checked or
// turned into Prometheus rules, with no server.
func runSLO(_ context.Context, env *environ, args []string) error {
	return runSubcommand(env, "slo", "Usage: estate slo validate FILE...\n       estate slo rules [--examples] [--min-events N] [--runbook-url URL] [FILE...]", args,
		subcommand{"validate", func(args []string) error { return runSLOValidate(env, args) }},
		subcommand{"rules", func(args []string) error { return runSLORules(env, args) }})
}

// runSLOValidate checks SLO files: one line per problem on stderr, and an
// error when there is any.
func runSLOValidate(env *environ, args []string) error {
	fs := flag.NewFlagSet("estate slo validate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(env.stdout, "Usage: estate slo validate FILE...\n\nChecks SLO files (OpenSLO, apiVersion openslo/v1, kind SLO): one line per problem, naming the file, line and field.")
		}
		return fmt.Errorf("slo validate: %w", err)
	}
	if fs.NArg() == 0 {
		return errors.New("slo validate: name the SLO files to check")
	}
	slos, err := sloreport.ParseFiles(fs.Args()...)
	if err != nil {
		n := printProblems(env.stderr, err)
		return fmt.Errorf("slo validate: %d problems", n)
	}
	fmt.Fprintf(env.stdout, "%d SLOs in %d files, all valid:", len(slos), fs.NArg())
	for _, s := range slos {
		fmt.Fprintf(env.stdout, " %s", s.Name)
	}
	fmt.Fprintln(env.stdout)
	return nil
}

// printProblems writes each problem of err on a line of its own and
// counts them.
func printProblems(w io.Writer, err error) int {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		n := 0
		for _, e := range joined.Unwrap() {
			n += printProblems(w, e)
		}
		return n
	}
	fmt.Fprintln(w, err)
	return 1
}

// runSLORules writes the Prometheus rules of SLO files (and of the
// examples) to stdout.
func runSLORules(env *environ, args []string) error {
	fs := flag.NewFlagSet("estate slo rules", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		withExamples = fs.Bool("examples", false, "the rules of the example SLOs of invoicing and credit too")
		minEvents    = fs.Float64("min-events", sloreport.DefaultMinEvents, "low-traffic guard: both windows of a burn alert must hold at least this many events")
		runbook      = fs.String("runbook-url", sloreport.DefaultRunbookURL, "runbook_url of the alerts of an SLO whose metadata.annotations name none")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(env.stdout, "Usage: estate slo rules [--examples] [--min-events N] [--runbook-url URL] [FILE...] > rules.yaml\n\nWrites the Prometheus rules of the SLOs: error ratios and event counts over 5m to 3d, multi-window burn-rate alerts (page, ticket) with the low-traffic guard, and an absent-data alert.\n\nOptions:")
			config.PrintUsage(env.stdout, fs)
		}
		return fmt.Errorf("slo rules: %w", err)
	}
	if fs.NArg() == 0 && !*withExamples {
		return errors.New("slo rules: name the SLO files, or --examples")
	}
	c := sloreport.Config{Files: fs.Args(), Examples: *withExamples}
	slos, err := c.Load(examples.FS)
	if err != nil {
		n := printProblems(env.stderr, err)
		return fmt.Errorf("slo rules: %d problems in the SLO files", n)
	}
	b, err := sloreport.RuleFile(slos, sloreport.RuleOptions{MinEvents: *minEvents, RunbookURL: *runbook})
	if err != nil {
		return fmt.Errorf("slo rules: %w", err)
	}
	_, err = env.stdout.Write(b)
	return err
}

// sloWiring is what the collector takes of the SLOs: the routes of their
// API, and their generated rules, which its rules evaluator loads beside
// the rule files (again on SIGHUP); and, for the incident reviews, the
// SLOs and the querier they are computed through.
type sloWiring struct {
	routes  func(chi.Router) error
	rules   func() (map[string][]byte, error)
	slos    []sloreport.SLO
	querier promquery.Querier
}

// sloAPI loads the configured SLOs, registers their series on reg and
// returns their API and rules. Their queries go to slo.prometheus_url when
// it is set, else in process to the collector's embedded metrics store.
func (a *app) sloAPI(reg *prometheus.Registry) (sloWiring, error) {
	cfg := a.cfg.SLO
	slos, err := cfg.Load(examples.FS)
	if err != nil {
		return sloWiring{}, fmt.Errorf("loading SLOs: %w", err)
	}
	rules, err := sloreport.RuleFile(slos, sloreport.RuleOptions{MinEvents: cfg.MinEvents})
	if err != nil {
		return sloWiring{}, err
	}
	backend := func() (promquery.Querier, error) {
		if a.collector == nil {
			return nil, errors.New("no collector in this process")
		}
		return a.collector.TSDB().Querier(), nil
	}
	if cfg.PrometheusURL != "" {
		backend = func() (promquery.Querier, error) {
			return promquery.NewHTTP(promquery.HTTPOptions{URL: cfg.PrometheusURL})
		}
	}
	querier := &lazyQuerier{backend: backend}
	eval, err := sloreport.New(sloreport.Options{
		Querier:  querier,
		SLOs:     slos,
		Policy:   cfg.Policy(),
		CacheTTL: cfg.CacheTTL,
		Now:      a.now,
	})
	if err != nil {
		return sloWiring{}, err
	}
	logger := a.componentLogger("slo")
	series, err := sloprom.NewCollector(sloprom.Options{Evaluator: eval, Logger: logger})
	if err != nil {
		return sloWiring{}, err
	}
	if err := reg.Register(series); err != nil {
		return sloWiring{}, fmt.Errorf("registering SLO series: %w", err)
	}
	logger.Info("SLOs loaded", "count", len(slos), "examples", cfg.Examples, "files", cfg.Files)
	return sloWiring{
		routes: func(r chi.Router) error {
			if err := slohttp.Routes(r, slohttp.Options{Evaluator: eval, Logger: logger}); err != nil {
				return fmt.Errorf("SLO API: %w", err)
			}
			return nil
		},
		rules: func() (map[string][]byte, error) {
			return map[string][]byte{"slos.yaml": rules}, nil
		},
		slos:    slos,
		querier: querier,
	}, nil
}

// lazyQuerier is the querier that backend builds at the first query: the
// collector, whose store the SLOs are computed from, exists only once the
// routes that serve them are mounted.
type lazyQuerier struct {
	backend func() (promquery.Querier, error)
	once    sync.Once
	q       promquery.Querier
	err     error
}

func (l *lazyQuerier) get() (promquery.Querier, error) {
	l.once.Do(func() { l.q, l.err = l.backend() })
	return l.q, l.err
}

// Query implements promquery.Querier.
func (l *lazyQuerier) Query(ctx context.Context, expr string, t time.Time) (model.Value, error) {
	q, err := l.get()
	if err != nil {
		return nil, err
	}
	return q.Query(ctx, expr, t)
}

// QueryRange implements promquery.Querier.
func (l *lazyQuerier) QueryRange(ctx context.Context, expr string, r promquery.Range) (model.Matrix, error) {
	q, err := l.get()
	if err != nil {
		return nil, err
	}
	return q.QueryRange(ctx, expr, r)
}
