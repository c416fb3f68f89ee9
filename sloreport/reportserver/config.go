package reportserver

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/estatehq/estate/internal/config"
	"github.com/estatehq/estate/internal/delivery"
	"github.com/estatehq/estate/sloreport"
	"github.com/estatehq/estate/sloreport/home"
)

// DefaultSchedule is Monday 06:00 UTC, in cron's five fields.
const DefaultSchedule = "0 6 * * 1"

// ScheduleOff turns the server's own schedule off: something else (the
// Helm chart's CronJob, through POST /reports/{week}/publish) publishes
// each week.
const ScheduleOff = "off"

// Config is what an operator sets of the report server (the `report`
// group of the report-server target).
type Config struct {
	// ListenAddr is where the server listens.
	ListenAddr string `yaml:"listen_addr"`
	// Schedule is when the last complete week's report is archived, in
	// cron's five fields (or @weekly, @daily...), in UTC.
	Schedule string `yaml:"schedule"`
	// CollectorURL is the collector's API: the reports link each incident
	// to its timeline there, and it answers the SLOs' queries when
	// slo.prometheus_url is empty and no collector runs in the process.
	CollectorURL string `yaml:"collector_url"`
	// PublicURL is the server's URL as readers reach it, for the link of
	// the webhook's summary; empty is the listen address on this machine.
	PublicURL string `yaml:"public_url"`
	// GrafanaURL, when set, is Grafana's, which the home page links to
	// (the estate's overview dashboard).
	GrafanaURL string `yaml:"grafana_url"`
	// HomeTimeout bounds each source of the home page.
	HomeTimeout  time.Duration        `yaml:"home_timeout"`
	IncludeChaos bool                 `yaml:"include_chaos"`
	Thresholds   sloreport.Thresholds `yaml:"thresholds"`
	Webhook      WebhookConfig        `yaml:"webhook"`
}

// WebhookConfig is the chat webhook that each archived report's summary is
// posted to.
type WebhookConfig struct {
	// URL is a Slack-compatible incoming webhook; empty posts nothing.
	URL                  string `yaml:"url"`
	delivery.RetryConfig `yaml:",inline"`
}

// RegisterFlags sets the defaults and binds the flags, named prefix +
// "listen-addr" and so on.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.StringVar(&c.ListenAddr, prefix+"listen-addr", ":8090", "address of the report server: the home page (the estate now), the latest report, the archive, each week's report as HTML, Markdown or JSON")
	fs.StringVar(&c.Schedule, prefix+"schedule", DefaultSchedule, "when the last complete ISO week's report is archived (and posted to the webhook), in cron's five fields, UTC; off when something else publishes it (POST /reports/WEEK/publish)")
	fs.StringVar(&c.CollectorURL, prefix+"collector-url", "http://127.0.0.1:8088", "the collector's API: the reports link each incident to its timeline there, and it answers the SLOs' queries when --slo.prometheus-url is empty and no collector runs in this process")
	fs.StringVar(&c.PublicURL, prefix+"public-url", "", "this server's URL as readers reach it, linked from the webhook's summary; empty: http:// and the listen address on this machine")
	fs.StringVar(&c.GrafanaURL, prefix+"grafana-url", "", "Grafana's URL (such as http://127.0.0.1:3000), which the home page links to: the estate's overview dashboard; empty: no link")
	fs.DurationVar(&c.HomeTimeout, prefix+"home-timeout", home.DefaultTimeout, "how long the home page waits for each of its sources (the collector's PromQL, the SLOs, the event store) before it shows that source as unavailable")
	fs.BoolVar(&c.IncludeChaos, prefix+"include-chaos", false, "count incidents caused by chaos experiments in incidents, downtime, MTTR and MTBF")
	c.Thresholds.RegisterFlags(fs, prefix+"thresholds.")
	fs.StringVar(&c.Webhook.URL, prefix+"webhook.url", "", "Slack-compatible incoming webhook that each archived report's summary is posted to, as {\"text\": ...}; empty posts nothing")
	c.Webhook.RetryConfig.RegisterFlags(fs, prefix+"webhook.")
}

// Validate names every field at fault, by its key in this group.
func (c *Config) Validate() error {
	errs := []error{config.ListenAddr("listen_addr", c.ListenAddr), config.Positive("home_timeout", c.HomeTimeout)}
	if _, err := ParseSchedule(c.Schedule); err != nil {
		errs = append(errs, fmt.Errorf("schedule: %w", err))
	}
	errs = append(errs, checkURL("collector_url", c.CollectorURL, true), checkURL("public_url", c.PublicURL, false),
		checkURL("webhook.url", c.Webhook.URL, false), checkURL("grafana_url", c.GrafanaURL, false),
		config.Under("thresholds.", c.Thresholds.Validate()))
	if c.Webhook.URL != "" {
		errs = append(errs, c.Webhook.RetryConfig.Validate("webhook."))
	}
	return errors.Join(errs...)
}

func checkURL(key, s string, required bool) error {
	if s == "" && !required {
		return nil
	}
	if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s: must be an http or https URL with a host, not %q", key, s)
	}
	return nil
}

// ParseSchedule reads a cron schedule: five fields, or a descriptor such
// as @weekly; nil for ScheduleOff.
func ParseSchedule(spec string) (cron.Schedule, error) {
	if spec == ScheduleOff {
		return nil, nil //nolint:nilnil // off is no schedule, and no error
	}
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("%q is not a cron schedule: %w", spec, err)
	}
	return s, nil
}
