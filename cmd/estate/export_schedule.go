//go:build !servicesonly

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/robfig/cron/v3"

	"github.com/estatehq/estate/analytics"
	analyticss3 "github.com/estatehq/estate/analytics/s3"
	"github.com/estatehq/estate/internal/modules"
	"github.com/estatehq/estate/metrics"
)

// exportConfig is the collector's daily export of the analytics tables
// (docs/analytics.md): off unless out is set.
type exportConfig struct {
	// Out is the folder or s3://BUCKET/PREFIX; empty turns the export off.
	Out      string `yaml:"out"`
	Schedule string `yaml:"schedule"`
	Days     int    `yaml:"days"`
	S3       struct {
		Endpoint  string `yaml:"endpoint"`
		Region    string `yaml:"region"`
		PathStyle bool   `yaml:"path_style"`
	} `yaml:"s3"`
}

func (c *exportConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Out, "export.out", "", "folder or s3://BUCKET/PREFIX the collector exports the analytics tables to on a schedule; empty turns the export off")
	fs.StringVar(&c.Schedule, "export.schedule", analytics.DefaultSchedule, "when the collector exports, in cron's five fields, UTC")
	fs.IntVar(&c.Days, "export.days", analytics.DefaultScheduleDays, "days before the run's day each export covers (late events of those days are picked up)")
	fs.StringVar(&c.S3.Endpoint, "export.s3.endpoint", "", "URL of an S3-compatible store for an s3:// export.out; AWS's S3 when empty")
	fs.StringVar(&c.S3.Region, "export.s3.region", "", "region of the export's bucket (default: the AWS SDK's)")
	fs.BoolVar(&c.S3.PathStyle, "export.s3.path-style", false, "address the export's bucket as ENDPOINT/BUCKET")
}

func (c *exportConfig) Validate() error {
	var errs []error
	if _, err := cron.ParseStandard(c.Schedule); err != nil {
		errs = append(errs, fmt.Errorf("export.schedule: %q is not a cron schedule: %w", c.Schedule, err))
	}
	if c.Days < 1 {
		errs = append(errs, fmt.Errorf("export.days: must be at least 1, not %d", c.Days))
	}
	if _, _, _, err := analyticss3.ParseURL(c.Out); err != nil {
		errs = append(errs, fmt.Errorf("export.out: %w", err))
	}
	if err := checkEndpoint(c.S3.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("export.s3.endpoint: %w", err))
	}
	return errors.Join(errs...)
}

// exportSchedule is the collector's export schedule over its event store;
// nil when export.out is not set.
func (a *app) exportSchedule(ctx context.Context, store metrics.Store) (modules.Service, error) {
	c := a.cfg.Export
	if c.Out == "" {
		return nil, nil //nolint:nilnil // no export is no service, and no error
	}
	out, err := openExportOutput(ctx, c.Out, analyticss3.ClientOptions{Endpoint: c.S3.Endpoint, Region: c.S3.Region, PathStyle: c.S3.PathStyle})
	if err != nil {
		return nil, fmt.Errorf("export.%w", err)
	}
	export := analytics.Options{Output: out, Source: "collector"}
	if a.collector != nil {
		// The RED and SLO series too, from the collector's metrics store.
		export.Series = a.collector.TSDB().Querier()
	}
	s, err := analytics.NewSchedule(analytics.ScheduleOptions{
		Schedule: c.Schedule, Days: c.Days,
		Events: func(ctx context.Context) ([]metrics.Event, error) { return store.Events(ctx, metrics.Filter{}) },
		Export: export,
		Logger: a.componentLogger("export"),
		Now:    a.now,
	})
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return s, nil
}
