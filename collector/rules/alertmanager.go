package rules

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/notifier"
	"gopkg.in/yaml.v3"
)

// Prometheus's defaults for its notifier (--alertmanager.*).
const (
	notificationQueueCapacity = 10000
	alertmanagerTimeout       = 10 * time.Second
)

// amConfigKey is the key Prometheus gives the first alertmanagers entry of
// its configuration, under which the notifier takes its targets.
const amConfigKey = "config-0"

// newNotifier is Prometheus's notifier for the configured Alertmanager:
// alerts get the external labels they lack and are sent in batches, with
// Alertmanager's API v2, from a queue that drains on shutdown.
func newNotifier(c Config, external labels.Labels, logger *slog.Logger, reg prometheus.Registerer) (*notifier.Manager, error) {
	target, err := alertmanagerTarget(c.AlertmanagerURL)
	if err != nil {
		return nil, err
	}
	// The configuration is built as a file would be and loaded with
	// Prometheus's own loader, so every default and check is Prometheus's.
	type amConfig struct {
		Scheme     string `yaml:"scheme"`
		PathPrefix string `yaml:"path_prefix"`
		APIVersion string `yaml:"api_version"`
		Timeout    string `yaml:"timeout"`
	}
	var doc struct {
		Alerting struct {
			Alertmanagers []amConfig `yaml:"alertmanagers"`
		} `yaml:"alerting"`
	}
	doc.Alerting.Alertmanagers = []amConfig{{
		Scheme: target.scheme, PathPrefix: target.pathPrefix, APIVersion: "v2",
		Timeout: model.Duration(alertmanagerTimeout).String(),
	}}
	b, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, fmt.Errorf("encoding the alerting configuration: %w", err)
	}
	cfg, err := promconfig.Load(string(b), logger)
	if err != nil {
		return nil, fmt.Errorf("loading the alerting configuration: %w", err)
	}
	cfg.GlobalConfig.ExternalLabels = external
	n := notifier.NewManager(&notifier.Options{
		QueueCapacity:   notificationQueueCapacity,
		DrainOnShutdown: true,
		Registerer:      reg,
	}, model.UTF8Validation, logger)
	if err := n.ApplyConfig(cfg); err != nil {
		return nil, fmt.Errorf("applying the alerting configuration: %w", err)
	}
	return n, nil
}

// alertmanagerGroups hands the notifier its one Alertmanager, as service
// discovery of a static_configs entry would, and stays open until the
// notifier stops.
func alertmanagerGroups(c Config) <-chan map[string][]*targetgroup.Group {
	target, _ := alertmanagerTarget(c.AlertmanagerURL) // checked by newNotifier
	ch := make(chan map[string][]*targetgroup.Group, 1)
	ch <- map[string][]*targetgroup.Group{amConfigKey: {{
		Source:  "0",
		Targets: []model.LabelSet{{model.AddressLabel: model.LabelValue(target.host)}},
	}}}
	return ch
}
