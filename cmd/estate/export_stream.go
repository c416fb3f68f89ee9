//go:build !servicesonly

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/twmb/franz-go/pkg/kgo"
	saslaws "github.com/twmb/franz-go/pkg/sasl/aws"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

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
	// TLS turns TLS on, verifying the brokers against the system's roots
	// or CAFile.
	TLS    bool   `yaml:"tls"`
	CAFile string `yaml:"ca_file"`
	// SASL is the mechanism: aws-msk-iam (credentials from the AWS SDK's
	// chain), scram-sha-512, scram-sha-256 or plain (Username, Password);
	// empty for none.
	SASL     string `yaml:"sasl"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

func (c *streamConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Brokers, "stream.brokers", "", "Kafka (MSK) seed brokers, comma-separated host:port, the collector publishes the events and the folded deployments and incidents to; empty turns the stream off")
	fs.StringVar(&c.EventsTopic, "stream.events-topic", kafka.DefaultEventsTopic, "topic of the events, keyed by source/id")
	fs.StringVar(&c.DeploymentsTopic, "stream.deployments-topic", kafka.DefaultDeploymentsTopic, "topic of the folded deployments, keyed by deployment_id")
	fs.StringVar(&c.IncidentsTopic, "stream.incidents-topic", kafka.DefaultIncidentsTopic, "topic of the folded incidents, keyed by incident_id")
	fs.DurationVar(&c.Interval, "stream.interval", kafka.DefaultInterval, "how often the event store is read for new events to publish")
	fs.BoolVar(&c.TLS, "stream.tls", false, "connect to the brokers over TLS (MSK's TLS listeners), verified against the system's roots or stream.ca-file")
	fs.StringVar(&c.CAFile, "stream.ca-file", "", "PEM file of the CAs that sign the brokers' certificates (with stream.tls)")
	fs.StringVar(&c.SASL, "stream.sasl", "", "SASL mechanism: aws-msk-iam (MSK's IAM access control, credentials from the AWS SDK's chain), scram-sha-512, scram-sha-256 or plain; empty for none")
	fs.StringVar(&c.Username, "stream.username", "", "SASL user of scram-sha-512, scram-sha-256 or plain")
	fs.StringVar(&c.Password, "stream.password", "", "SASL password of scram-sha-512, scram-sha-256 or plain")
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
	switch c.SASL {
	case "", saslMSKIAM:
	case saslSCRAM512, saslSCRAM256, saslPlain:
		if c.Username == "" || c.Password == "" {
			errs = append(errs, fmt.Errorf("stream.username, stream.password: stream.sasl %s needs both", c.SASL))
		}
	default:
		errs = append(errs, fmt.Errorf("stream.sasl: must be aws-msk-iam, scram-sha-512, scram-sha-256 or plain, not %q", c.SASL))
	}
	if c.CAFile != "" && !c.TLS {
		errs = append(errs, errors.New("stream.ca_file: needs stream.tls"))
	}
	for name, topic := range map[string]string{"stream.events_topic": c.EventsTopic, "stream.deployments_topic": c.DeploymentsTopic, "stream.incidents_topic": c.IncidentsTopic} {
		if topic == "" {
			errs = append(errs, fmt.Errorf("%s: must not be empty", name))
		}
	}
	return errors.Join(errs...)
}

// The SASL mechanisms of the stream.
const (
	saslMSKIAM   = "aws-msk-iam"
	saslSCRAM512 = "scram-sha-512"
	saslSCRAM256 = "scram-sha-256"
	saslPlain    = "plain"
)

// clientOptions are the Kafka client's TLS and SASL options.
func (c *streamConfig) clientOptions(ctx context.Context) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if c.TLS {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.CAFile != "" {
			pem, err := os.ReadFile(c.CAFile)
			if err != nil {
				return nil, fmt.Errorf("stream.ca_file: %w", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("stream.ca_file: no PEM certificate in %s", c.CAFile)
			}
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	switch c.SASL {
	case saslMSKIAM:
		awsCfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("stream.sasl: loading the AWS configuration: %w", err)
		}
		opts = append(opts, kgo.SASL(saslaws.ManagedStreamingIAM(func(ctx context.Context) (saslaws.Auth, error) {
			creds, err := awsCfg.Credentials.Retrieve(ctx)
			if err != nil {
				return saslaws.Auth{}, err
			}
			return saslaws.Auth{AccessKey: creds.AccessKeyID, SecretKey: creds.SecretAccessKey, SessionToken: creds.SessionToken}, nil
		})))
	case saslSCRAM512:
		opts = append(opts, kgo.SASL(scram.Auth{User: c.Username, Pass: c.Password}.AsSha512Mechanism()))
	case saslSCRAM256:
		opts = append(opts, kgo.SASL(scram.Auth{User: c.Username, Pass: c.Password}.AsSha256Mechanism()))
	case saslPlain:
		opts = append(opts, kgo.SASL(plain.Auth{User: c.Username, Pass: c.Password}.AsMechanism()))
	}
	return opts, nil
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
func (a *app) stream(ctx context.Context, store metrics.Store, dir string) (modules.Service, error) {
	c := a.cfg.Stream
	if len(c.brokers()) == 0 {
		return nil, nil //nolint:nilnil // no stream is no service, and no error
	}
	opts, err := c.clientOptions(ctx)
	if err != nil {
		return nil, err
	}
	p, err := kafka.New(kafka.Options{Brokers: c.brokers(), EventsTopic: c.EventsTopic, DeploymentsTopic: c.DeploymentsTopic,
		IncidentsTopic: c.IncidentsTopic, ClientOptions: opts})
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
