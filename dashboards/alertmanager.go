package dashboards

import (
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// AlertmanagerFile is the example Alertmanager configuration, under the
// generated folder.
const AlertmanagerFile = "alertmanager.yml"

// IncidentsPath is the collector's Alertmanager webhook: every firing
// alert posted there opens an incident in the event store, and its
// resolution resolves it.
const IncidentsPath = "/v1/events/alertmanager"

// Timing is how Alertmanager groups and repeats notifications.
type Timing struct {
	// GroupWait is how long a new group waits for more alerts before its
	// first notification.
	GroupWait time.Duration
	// GroupInterval is how long a group waits before notifying of what
	// changed in it.
	GroupInterval time.Duration
	// RepeatInterval is how long before a notification still firing is
	// sent again.
	RepeatInterval time.Duration
}

// DefaultTiming is the checked-in configuration's: Alertmanager's own
// defaults, pages repeated every four hours.
var DefaultTiming = Timing{GroupWait: 30 * time.Second, GroupInterval: 5 * time.Minute, RepeatInterval: 4 * time.Hour}

// The Alertmanager configuration, as much of it as the example uses.
type (
	amConfig struct {
		Route        amRoute      `yaml:"route"`
		InhibitRules []amInhibit  `yaml:"inhibit_rules"`
		Receivers    []amReceiver `yaml:"receivers"`
	}
	amRoute struct {
		Receiver       string         `yaml:"receiver"`
		GroupBy        []string       `yaml:"group_by,omitempty"`
		GroupWait      model.Duration `yaml:"group_wait,omitempty"`
		GroupInterval  model.Duration `yaml:"group_interval,omitempty"`
		RepeatInterval model.Duration `yaml:"repeat_interval,omitempty"`
		Matchers       []string       `yaml:"matchers,omitempty"`
		Continue       bool           `yaml:"continue,omitempty"`
		Routes         []amRoute      `yaml:"routes,omitempty"`
	}
	amInhibit struct {
		SourceMatchers []string `yaml:"source_matchers"`
		TargetMatchers []string `yaml:"target_matchers"`
		Equal          []string `yaml:"equal"`
	}
	amReceiver struct {
		Name             string        `yaml:"name"`
		WebhookConfigs   []amWebhook   `yaml:"webhook_configs,omitempty"`
		PagerdutyConfigs []amPagerDuty `yaml:"pagerduty_configs,omitempty"`
	}
	amWebhook struct {
		URL          string        `yaml:"url"`
		SendResolved bool          `yaml:"send_resolved"`
		HTTPConfig   *amHTTPConfig `yaml:"http_config,omitempty"`
	}
	amHTTPConfig struct {
		Authorization struct {
			Type            string `yaml:"type"`
			CredentialsFile string `yaml:"credentials_file"`
		} `yaml:"authorization"`
	}
	amPagerDuty struct {
		RoutingKey   string            `yaml:"routing_key"`
		URL          string            `yaml:"url"`
		SendResolved bool              `yaml:"send_resolved"`
		Description  string            `yaml:"description"`
		Details      map[string]string `yaml:"details"`
	}
)

// bearer is the HTTP configuration of a webhook carrying the token in
// file; nil without one.
func bearer(file string) *amHTTPConfig {
	if file == "" {
		return nil
	}
	c := &amHTTPConfig{}
	c.Authorization.Type, c.Authorization.CredentialsFile = "Bearer", file
	return c
}

// Alertmanager is an Alertmanager configuration for the estate's alerts:
// every alert that is an incident (all but those labelled
// estate_incident="false", as the collector's own rules send them) goes,
// one notification per alert, to the collector's webhook at
// e.Collector, with the token of e.CollectorTokenFile (the collector
// requires events.write), so that it opens an incident and its
// resolution resolves it; pages (severity="page") go to PagerDuty at e.Pager, everything else
// to the ticket queue's webhook at e.Tickets; a page inhibits the tickets
// of the same alert and service.
func Alertmanager(e Endpoints, t Timing) ([]byte, error) {
	cfg := amConfig{
		Route: amRoute{
			Receiver:       "tickets",
			GroupBy:        []string{"alertname", "service", "environment"},
			GroupWait:      model.Duration(t.GroupWait),
			GroupInterval:  model.Duration(t.GroupInterval),
			RepeatInterval: model.Duration(t.RepeatInterval),
			Routes: []amRoute{
				{Receiver: "estate-incidents", Matchers: []string{`estate_incident!="false"`}, GroupBy: []string{"..."}, Continue: true},
				{Receiver: "pager", Matchers: []string{`severity="page"`}},
				// A route the alert matched (the incidents') keeps it from
				// the root's receiver: the tickets need a route of their own.
				{Receiver: "tickets"},
			},
		},
		InhibitRules: []amInhibit{{
			SourceMatchers: []string{`severity="page"`},
			TargetMatchers: []string{`severity="ticket"`},
			Equal:          []string{"alertname", "service", "environment", "slo"},
		}},
		Receivers: []amReceiver{
			{Name: "estate-incidents", WebhookConfigs: []amWebhook{{URL: strings.TrimSuffix(e.Collector, "/") + IncidentsPath, SendResolved: true, HTTPConfig: bearer(e.CollectorTokenFile)}}},
			{Name: "pager", PagerdutyConfigs: []amPagerDuty{{
				RoutingKey:   "REPLACE-WITH-THE-PAGERDUTY-INTEGRATION-KEY",
				URL:          e.Pager,
				SendResolved: true,
				Description:  `{{ .CommonLabels.alertname }} on {{ .CommonLabels.service }}: {{ .CommonAnnotations.summary }}`,
				Details: map[string]string{
					"description": `{{ .CommonAnnotations.description }}`,
					"runbook":     `{{ .CommonAnnotations.runbook_url }}`,
					"firing":      `{{ .Alerts.Firing | len }}`,
				},
			}}},
			{Name: "tickets", WebhookConfigs: []amWebhook{{URL: e.Tickets, SendResolved: true}}},
		},
	}
	return encodeYAML("# Generated by `estate dashboards generate` (dashboards/alertmanager.go): an example\n# Alertmanager configuration for the estate's alerts. Every alert that is an incident\n# goes to the collector's webhook, which opens and resolves incidents; pages go to\n# PagerDuty (set routing_key), the rest to the ticket queue's webhook.\n", cfg)
}
