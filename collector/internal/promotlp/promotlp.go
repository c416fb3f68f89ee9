// Package promotlp turns OTLP metrics into Prometheus samples with
// Prometheus's own OTLP translator and the settings of a Prometheus 3
// OTLP receiver by default: metric names with their unit and type suffixes
// (http.server.duration in seconds is http_server_duration_seconds),
// escaped to the classic character set; service.namespace/service.name as
// job and service.instance.id as instance; the other resource attributes on
// target_info, but for those promoted to labels of every series. The
// embedded store and a Prometheus fed by remote_write are given the same
// series this way.
package promotlp

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/storage/remote/otlptranslator/prometheusremotewrite"
	"go.opentelemetry.io/collector/pdata/pmetric"

	estateconfig "github.com/estatehq/estate/internal/config"
)

// Config is what an operator sets of the translation (the
// `collector.otlp_metrics` group).
type Config struct {
	// PromoteResourceAttributes are resource attributes copied to a label
	// of every series of the resource (deployment.environment, say),
	// besides target_info.
	PromoteResourceAttributes []string `yaml:"promote_resource_attributes"`
}

// RegisterFlags sets the defaults and binds the flags, named prefix +
// "promote-resource-attributes".
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	c.PromoteResourceAttributes = []string{}
	fs.Var(estateconfig.CommaList{List: &c.PromoteResourceAttributes}, prefix+"promote-resource-attributes",
		"OTLP metrics: resource attributes copied to a label of every series (besides target_info), comma-separated")
}

// Validate names every field at fault, by its key in this group.
func (c *Config) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, a := range c.PromoteResourceAttributes {
		if seen[a] {
			errs = append(errs, fmt.Errorf("promote_resource_attributes[%d]: %q is listed twice", i, a))
		}
		seen[a] = true
	}
	return errors.Join(errs...)
}

// Translator appends OTLP metrics to a Prometheus appender.
type Translator struct {
	settings prometheusremotewrite.Settings
}

// New builds a translator from a valid configuration.
func New(c Config) *Translator {
	return &Translator{settings: prometheusremotewrite.Settings{
		AddMetricSuffixes: true,
		AllowUTF8:         false,
		PromoteResourceAttributes: prometheusremotewrite.NewPromoteResourceAttributes(config.OTLPConfig{
			PromoteResourceAttributes: c.PromoteResourceAttributes,
		}),
		// LookbackDelta zero is PromQL's default (5m): target_info is
		// written every half of it, so a query always finds one.
	}}
}

// Result is what a translation did besides appending.
type Result struct {
	// Refused are the metrics that could not be translated (a delta sum,
	// a name that cannot be escaped...), one error each; the others were
	// appended.
	Refused []error
	// Warnings are the translator's remarks on what it appended.
	Warnings []string
}

// Append appends every data point of md to app; it neither commits nor
// rolls back. A metric that cannot be translated is in Result.Refused and
// the rest is appended; an error from app stops the metric it belongs to,
// so app is where a caller decides what an append error means. The error
// is ctx's when it ended.
func (t *Translator) Append(ctx context.Context, md pmetric.Metrics, app storage.AppenderV2) (Result, error) {
	conv := prometheusremotewrite.NewPrometheusConverter(app)
	annots, err := conv.FromMetrics(ctx, md, t.settings)
	if cerr := ctx.Err(); cerr != nil {
		return Result{}, cerr
	}
	var res Result
	if err != nil {
		res.Refused = flatten(err)
	}
	res.Warnings, _ = annots.AsStrings("", 0, 0)
	return res, nil
}

// flatten lists the errors of err, which the translator builds with
// errors.Join one metric at a time (a join of joins).
func flatten(err error) []error {
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range joined.Unwrap() {
		out = append(out, flatten(e)...)
	}
	return out
}
