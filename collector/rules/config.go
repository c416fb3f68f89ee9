package rules

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/estatehq/estate/internal/config"
)

// Config is what an operator sets of the rules (the `collector.rules`
// group of the collector's configuration).
type Config struct {
	// Files are globs of Prometheus rule files (recording and alerting
	// rules), such as those `estate slo rules` writes.
	Files []string `yaml:"files"`
	// Interval is the evaluation interval of a group that names none.
	Interval time.Duration `yaml:"interval"`
	// ReloadInterval is how often the files are checked for a change
	// (and read again when one changed); 0 reads them at start and on
	// SIGHUP only.
	ReloadInterval time.Duration `yaml:"reload_interval"`
	// AlertmanagerURL, when set, is an Alertmanager alerts are sent to
	// besides the estate's own incident intake: http://host:9093, with a
	// path prefix if it is served under one.
	AlertmanagerURL string `yaml:"alertmanager_url"`
	// ExternalLabels are added to every alert that lacks them, as
	// Prometheus's external_labels are: name=value. The incident intake
	// needs service and environment labels; environment is set here.
	ExternalLabels []string `yaml:"external_labels"`
	// IncidentMatchers select the alerts that open incidents at the
	// estate's own intake, as a PromQL series selector over the alert's
	// labels ({severity=~"page|critical"}, say); the others go to the
	// Alertmanager only. By default every alert does, but those labelled
	// estate_incident="false": alerts about the monitoring itself, such
	// as an SLO's absent-data alert, which would otherwise count as
	// outages in the reliability figures.
	IncidentMatchers string `yaml:"incident_matchers"`
}

// NotAnIncident is the label that keeps an alert out of the incident
// intake under the default IncidentMatchers.
const NotAnIncident = "estate_incident"

// RegisterFlags sets the defaults and binds the flags, named prefix +
// "files" and so on.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	c.Files = []string{}
	fs.Var(config.CommaList{List: &c.Files}, prefix+"files", "Prometheus rule files evaluated over the embedded metrics store, comma-separated globs")
	fs.DurationVar(&c.Interval, prefix+"interval", 30*time.Second, "evaluation interval of the rule groups that name none")
	fs.DurationVar(&c.ReloadInterval, prefix+"reload-interval", 10*time.Second, "how often the rule files are checked for a change; 0 reads them at start and on SIGHUP only")
	fs.StringVar(&c.AlertmanagerURL, prefix+"alertmanager-url", "", "Alertmanager that alerts are sent to (http://host:9093), besides the estate's own incident intake")
	c.ExternalLabels = []string{"environment=production"}
	fs.Var(config.CommaList{List: &c.ExternalLabels}, prefix+"external-labels", "labels added to every alert that lacks them, comma-separated name=value; incidents need service and environment")
	fs.StringVar(&c.IncidentMatchers, prefix+"incident-matchers", `{`+NotAnIncident+`!="false"}`, "series selector over an alert's labels choosing the alerts that open incidents at the estate's intake")
}

// Validate names every field at fault, by its key in this group.
func (c *Config) Validate() error {
	errs := []error{config.Positive("interval", c.Interval)}
	for i, f := range c.Files {
		if _, err := filepath.Match(f, ""); err != nil {
			errs = append(errs, fmt.Errorf("files[%d]: %q is not a glob: %w", i, f, err))
		}
	}
	if c.ReloadInterval < 0 {
		errs = append(errs, fmt.Errorf("reload_interval: must not be negative, not %s", c.ReloadInterval))
	}
	if c.AlertmanagerURL != "" {
		if _, err := alertmanagerTarget(c.AlertmanagerURL); err != nil {
			errs = append(errs, fmt.Errorf("alertmanager_url: %w", err))
		}
	}
	if _, err := c.externalLabels(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.incidentMatchers(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// incidentMatchers parses IncidentMatchers; empty matches every alert.
func (c *Config) incidentMatchers() ([]*labels.Matcher, error) {
	if strings.TrimSpace(c.IncidentMatchers) == "" {
		return nil, nil
	}
	ms, err := parser.NewParser(parser.Options{}).ParseMetricSelector(c.IncidentMatchers)
	if err != nil {
		return nil, fmt.Errorf("incident_matchers: %q is not a series selector: %w", c.IncidentMatchers, err)
	}
	return ms, nil
}

// externalLabels parses ExternalLabels.
func (c *Config) externalLabels() (labels.Labels, error) {
	b := labels.NewBuilder(labels.EmptyLabels())
	var errs []error
	for i, l := range c.ExternalLabels {
		name, value, ok := strings.Cut(l, "=")
		switch {
		case !ok || value == "":
			errs = append(errs, fmt.Errorf("external_labels[%d]: must be name=value, not %q", i, l))
		case !model.LegacyValidation.IsValidLabelName(name) || strings.HasPrefix(name, model.ReservedLabelPrefix):
			errs = append(errs, fmt.Errorf("external_labels[%d]: %q is not a label name", i, name))
		case b.Get(name) != "":
			errs = append(errs, fmt.Errorf("external_labels[%d]: %s is set twice", i, name))
		default:
			b.Set(name, value)
		}
	}
	return b.Labels(), errors.Join(errs...)
}

// amTarget is where an Alertmanager is, as Prometheus's alerting
// configuration names it.
type amTarget struct {
	scheme, host, pathPrefix string
}

func alertmanagerTarget(s string) (amTarget, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return amTarget{}, fmt.Errorf("%q must be an http or https URL with a host and no query", s)
	}
	host := u.Host
	if u.Port() == "" {
		host += map[string]string{"http": ":80", "https": ":443"}[u.Scheme]
	}
	prefix := u.Path
	if prefix == "" {
		prefix = "/"
	}
	return amTarget{scheme: u.Scheme, host: host, pathPrefix: prefix}, nil
}
