//go:build !servicesonly

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/estatehq/estate/analytics/kafka"
	"github.com/estatehq/estate/internal/modules"
	"github.com/estatehq/estate/metrics"
)

// streamConfig is the collector's stream of the event log to Kafka
// (docs/analytics.md): off unless brokers are set.
type streamConfig struct {
	// Brokers are the seed brokers, comma-separated host:port.
	Brokers          string        `yaml:"brokers"`
	EventsTopic      string        `yaml:"events_topic"`
	DeploymentsTopic string        `yaml:"deployments_topic"`
	IncidentsTopic   string        `yaml:"incidents_topic"`
	Interval         time.Duration `yaml:"interval"`
}

func (c *streamConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Brokers, "stream.brokers", "", "Kafka (MSK) seed brokers, comma-separated host:port, the collector publishes the events and the folded deployments and incidents to; empty turns the stream off")
	fs.StringVar(&c.EventsTopic, "stream.events-topic", kafka.DefaultEventsTopic, "topic of the events, keyed by source/id")
	fs.StringVar(&c.DeploymentsTopic, "stream.deployments-topic", kafka.DefaultDeploymentsTopic, "topic of the folded deployments, keyed by deployment_id")
	fs.StringVar(&c.IncidentsTopic, "stream.incidents-topic", kafka.DefaultIncidentsTopic, "topic of the folded incidents, keyed by incident_id")
	fs.DurationVar(&c.Interval, "stream.interval", kafka.DefaultInterval, "how often the event store is read for new events to publish")
}

func (c *streamConfig) Validate() error {
	var errs []error
	if c.Interval <= 0 {
		errs = append(errs, fmt.Errorf("stream.interval: must be positive, not %s", c.Interval))
	}
	for _, b := range c.brokers() {
		if _, port, ok := strings.Cut(b, ":"); !ok || port == "" {
			errs = append(errs, fmt.Errorf("stream.brokers: %q must be host:port", b))
		}
	}
	for name, topic := range map[string]string{"stream.events_topic": c.EventsTopic, "stream.deployments_topic": c.DeploymentsTopic, "stream.incidents_topic": c.IncidentsTopic} {
		if topic == "" {
			errs = append(errs, fmt.Errorf("%s: must not be empty", name))
		}
	}
	return errors.Join(errs...)
}

func (c *streamConfig) brokers() []string {
	var out []string
	for b := range strings.SplitSeq(c.Brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// stream is the collector's stream to Kafka over its event store, its
// state under dir; nil when stream.brokers is not set.
func (a *app) stream(store metrics.Store, dir string) (modules.Service, error) {
	c := a.cfg.Stream
	if len(c.brokers()) == 0 {
		return nil, nil //nolint:nilnil // no stream is no service, and no error
	}
	p, err := kafka.New(kafka.Options{Brokers: c.brokers(), EventsTopic: c.EventsTopic, DeploymentsTopic: c.DeploymentsTopic, IncidentsTopic: c.IncidentsTopic})
	if err != nil {
		return nil, fmt.Errorf("stream: %w", err)
	}
	s, err := kafka.NewStream(kafka.StreamOptions{
		Publisher: p, StatePath: filepath.Join(dir, "stream-published"), Interval: c.Interval,
		Events: func(ctx context.Context) ([]metrics.Event, error) { return store.Events(ctx, metrics.Filter{}) },
		Logger: a.componentLogger("stream"),
	})
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("stream: %w", err)
	}
	// The publisher closes once the stream has stopped.
	return &modules.Group{Parts: []modules.Service{s}, Closers: []func(context.Context) error{
		func(context.Context) error { p.Close(); return nil },
	}}, nil
}
