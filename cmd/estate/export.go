//go:build !servicesonly

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/estatehq/estate/analytics"
	analyticss3 "github.com/estatehq/estate/analytics/s3"
	"github.com/estatehq/estate/internal/progress"
	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/internal/timebound"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/sloreport"
)

// exportOptions are the options of `estate export`.
type exportOptions struct {
	from, to     string
	out          string
	tables       string
	rowGroupRows int
	s3           analyticss3.ClientOptions
	// source holds where the events come from, as `estate report` reads
	// them.
	source reportOptions
}

func (o *exportOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.from, "from", "", "first day to export, YYYY-MM-DD or RFC 3339, UTC (default: the day before --to)")
	fs.StringVar(&o.to, "to", "", "end of the export, exclusive, YYYY-MM-DD or RFC 3339; a time inside a day exports that day (default: the start of today, UTC)")
	fs.StringVar(&o.out, "out", "", "folder, or s3://BUCKET/PREFIX, to write the tables to (required)")
	fs.StringVar(&o.tables, "tables", "", "tables to write, comma-separated ("+strings.Join(analytics.Tables(), ", ")+"), or all (default: the event tables: "+strings.Join(analytics.EventTables(), ", ")+")")
	fs.StringVar(&o.source.collectorURL, "collector-url", defaultCollectorURL, "the collector's API, whose Prometheus API answers the queries of the red and slo tables")
	fs.StringVar(&o.source.token, "token", "", "bearer token of the calls to the collector's API (observability.read), e.g. from `estate token`")
	fs.IntVar(&o.rowGroupRows, "row-group-rows", analytics.DefaultRowGroupRows, "rows of one Parquet row group: what is held of a table in memory at once")
	fs.StringVar(&o.s3.Endpoint, "s3.endpoint", "", "URL of an S3-compatible store (MinIO, Ceph, R2) for an s3:// --out; AWS's S3 when empty. Credentials and region come from the AWS SDK's chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, the instance's role)")
	fs.StringVar(&o.s3.Region, "s3.region", "", "region of the bucket (default: the AWS SDK's, else us-east-1)")
	fs.BoolVar(&o.s3.PathStyle, "s3.path-style", false, "address the bucket as ENDPOINT/BUCKET, as most S3-compatible stores want")
	o.source.registerSource(fs)
}

// runExport writes the analytics tables of a range of days as Parquet,
// Hive-partitioned by day, with the run's manifest (docs/analytics.md). A
// long range is a backfill: its progress shows on stderr.
func runExport(ctx context.Context, env *environ, args []string) error {
	fs := flag.NewFlagSet("estate export", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o exportOptions
	o.register(fs)
	if err := parseTool(env, fs, args, "export",
		"Usage: estate export --out DIR|s3://BUCKET/PREFIX [--from DAY] [--to DAY] [--events FILE] [--tables events,deployments,...]",
		"Writes the reliability events, deployments, incidents, chaos runs and weekly figures as Parquet tables partitioned by day (TABLE/dt=YYYY-MM-DD/part-00000.parquet) for Athena, Glue or DuckDB, with a manifest of the run under _manifests/. Exporting a day again writes the same bytes; only the partitions whose content changed are rewritten. See docs/analytics.md."); err != nil {
		return err
	}
	if err := o.run(ctx, env); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

func (o *exportOptions) run(ctx context.Context, env *environ) error {
	from, to, err := exportDays(o.from, o.to, env.now())
	if err != nil {
		return err
	}
	tables, err := analytics.ParseTables(o.tables)
	if err != nil {
		return fmt.Errorf("--tables: %w", err)
	}
	if o.rowGroupRows < 1 {
		return fmt.Errorf("--row-group-rows must be positive, not %d", o.rowGroupRows)
	}
	out, where, err := o.output(ctx)
	if err != nil {
		return err
	}
	var series promquery.Querier
	if slices.ContainsFunc(tables, analytics.IsSeries) {
		if series, err = promquery.NewHTTP(promquery.HTTPOptions{URL: o.source.collectorURL, Transport: tokenClient(o.source.token, 0).Transport}); err != nil {
			return fmt.Errorf("--collector-url: %w", err)
		}
	}
	events, source, err := o.source.readEvents(ctx, env)
	if err != nil {
		return err
	}
	// A nil Reporter does nothing: it is made once the total is known.
	var p *progress.Reporter
	m, err := analytics.Export(ctx, events, from, to, analytics.Options{
		Output: out, Tables: tables, Series: series, RowGroupRows: o.rowGroupRows, Source: source, Now: env.now,
		Progress: func(done, total int) {
			if p == nil {
				p = progress.New(env.stderr, progress.Options{Description: "exporting to " + where, Unit: "partitions", Total: int64(total)})
			}
			p.Set(int64(done))
		},
	})
	p.Finish()
	if err != nil {
		var pe *promquery.Error
		if errors.As(err, &pe) && pe.Type == promquery.ErrUnavailable {
			return fmt.Errorf("%w (the red and slo tables are read from the collector at --collector-url: start it, or leave them out of --tables)", err)
		}
		return err
	}
	printManifest(env.stdout, m, where)
	return nil
}

// readEvents reads every event from the file of --events or the
// collector's store, as `estate report` does, and says which for the
// manifest.
func (o *reportOptions) readEvents(ctx context.Context, env *environ) ([]metrics.Event, string, error) {
	var in sloreport.Inputs
	if err := o.source(ctx, env, &in); err != nil {
		return nil, "", err
	}
	switch {
	case o.events != "":
		return in.Events, "file:" + o.events, nil
	case o.postgresDSN != "":
		events, err := in.Store.Events(ctx, metrics.Filter{})
		return events, "postgres", err
	default:
		events, err := in.Store.Events(ctx, metrics.Filter{})
		return events, "sqlite:" + filepath.Join(o.dataDir, eventsFile), err
	}
}

// output opens the output that --out names, and says where it is.
func (o *exportOptions) output(ctx context.Context) (analytics.Output, string, error) {
	if o.out == "" {
		return nil, "", errors.New("--out is required: the folder or s3://BUCKET/PREFIX to write the tables to")
	}
	out, err := openExportOutput(ctx, o.out, o.s3)
	if err != nil {
		return nil, "", fmt.Errorf("--%w", err)
	}
	return out, o.out, nil
}

// openExportOutput opens a folder, or an s3://BUCKET/PREFIX with the
// client options. Errors name the option at fault (out, s3.endpoint).
func openExportOutput(ctx context.Context, out string, s3 analyticss3.ClientOptions) (analytics.Output, error) {
	bucket, prefix, isS3, err := analyticss3.ParseURL(out)
	if err != nil {
		return nil, fmt.Errorf("out %w", err)
	}
	if !isS3 {
		return analytics.Dir{Root: out}, nil
	}
	if err := checkEndpoint(s3.Endpoint); err != nil {
		return nil, fmt.Errorf("s3.endpoint %w", err)
	}
	client, err := analyticss3.NewClient(ctx, s3)
	if err != nil {
		return nil, err
	}
	return analyticss3.New(analyticss3.Options{Client: client, Bucket: bucket, Prefix: prefix})
}

// checkEndpoint checks an S3-compatible store's URL; "" is AWS's.
func checkEndpoint(endpoint string) error {
	if endpoint == "" {
		return nil
	}
	if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("must be an http or https URL with a host, not %q", endpoint)
	}
	return nil
}

// exportDays parses --from and --to; a missing end takes its default: to
// the start of today, from the day before to.
func exportDays(from, to string, now time.Time) (time.Time, time.Time, error) {
	end := now.UTC().Truncate(24 * time.Hour)
	if to != "" {
		t, err := parseDay(to)
		if err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("--to %w, not %q", err, to)
		}
		end = t
	}
	start := end.Add(-24 * time.Hour)
	if from != "" {
		t, err := parseDay(from)
		if err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("--from %w, not %q", err, from)
		}
		start = t
	}
	if !start.Before(end) {
		return time.Time{}, time.Time{}, fmt.Errorf("--from (%s) must be before --to (%s)", start.Format(time.RFC3339), end.Format(time.RFC3339))
	}
	return start, end, nil
}

// parseDay reads a day (2026-11-02, its midnight UTC) or an RFC 3339
// time.
func parseDay(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, timebound.Check(t)
	}
	t, err := timebound.Parse(s)
	if errors.Is(err, timebound.ErrSyntax) {
		return t, errors.New("must be a day such as 2026-11-02 or an RFC 3339 time")
	}
	return t, err
}

// printManifest writes what a run did, a line per table.
func printManifest(w io.Writer, m analytics.Manifest, where string) {
	for _, t := range m.Tables {
		count := map[string]int{}
		for _, p := range t.Partitions {
			count[p.Status]++
		}
		fmt.Fprintf(w, "%s: %d rows in %d partitions (%d written, %d unchanged, %d removed)\n", t.Name, t.Rows,
			len(t.Partitions)-count[analytics.StatusRemoved], count[analytics.StatusWritten], count[analytics.StatusUnchanged], count[analytics.StatusRemoved])
	}
	fmt.Fprintf(w, "manifest: %s/%s/%s.json (%d events, %s to %s)\n", strings.TrimRight(where, "/"), analytics.ManifestDir, m.RunID,
		m.Events, m.From.Format(time.DateOnly), m.To.Format(time.DateOnly))
}
