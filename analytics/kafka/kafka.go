// Package kafka streams what the analytics export writes as files to Kafka
// (Amazon MSK or any Kafka), with github.com/twmb/franz-go: every stored
// reliability event, and the folded deployments and incidents each time
// they change. The producer is idempotent (a retried batch is written
// once, across broker restarts and leader changes) and every record is
// keyed, so a topic's partition keeps one key's records in order and a
// compacted topic keeps each key's latest. docs/analytics.md documents the
// topics and their values.
package kafka

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/estatehq/estate/analytics"
	"github.com/estatehq/estate/metrics"
)

// The default topics.
const (
	DefaultEventsTopic      = "estate.events"
	DefaultDeploymentsTopic = "estate.deployments"
	DefaultIncidentsTopic   = "estate.incidents"
)

// Options configure a Publisher.
type Options struct {
	// Brokers are the seed brokers, host:port. Required.
	Brokers []string
	// EventsTopic, DeploymentsTopic and IncidentsTopic name the topics;
	// the defaults when empty.
	EventsTopic, DeploymentsTopic, IncidentsTopic string
	// DeliveryTimeout bounds how long a record is retried (through broker
	// restarts and leader elections) before Publish fails; 2 minutes when
	// zero.
	DeliveryTimeout time.Duration
	// ClientOptions are added to the client's: TLS, SASL (MSK IAM).
	ClientOptions []kgo.Opt
}

// Validate names the option at fault.
func (o Options) Validate() error {
	if len(o.Brokers) == 0 {
		return errors.New("brokers: at least one is required")
	}
	if o.DeliveryTimeout < 0 {
		return errors.New("delivery_timeout must not be negative")
	}
	return nil
}

// Publisher produces events and folded rows to Kafka. It remembers what it
// last published of each deployment and incident (a digest per id) so that
// a row goes out only when it changed. Its methods are not safe for
// concurrent use.
type Publisher struct {
	o      Options
	client *kgo.Client
	// last is the digest of the row last published, by topic and key.
	last map[string][sha256.Size]byte
}

// New connects a Publisher. Errors: invalid options, or the client's.
func New(o Options) (*Publisher, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	if o.EventsTopic == "" {
		o.EventsTopic = DefaultEventsTopic
	}
	if o.DeploymentsTopic == "" {
		o.DeploymentsTopic = DefaultDeploymentsTopic
	}
	if o.IncidentsTopic == "" {
		o.IncidentsTopic = DefaultIncidentsTopic
	}
	if o.DeliveryTimeout == 0 {
		o.DeliveryTimeout = 2 * time.Minute
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(o.Brokers...),
		// Idempotent writes are franz-go's default; they need every
		// in-sync replica's acknowledgement, said here so that no
		// option added later turns them off unnoticed.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(o.DeliveryTimeout),
		kgo.ProducerBatchCompression(kgo.SnappyCompression()),
	}, o.ClientOptions...)
	client, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return &Publisher{o: o, client: client, last: map[string][sha256.Size]byte{}}, nil
}

// Close flushes nothing more and closes the client.
func (p *Publisher) Close() { p.client.Close() }

// EventKey is an event's record key: its source and id, which identify it.
func EventKey(e metrics.Event) string { return e.Source + "/" + e.ID }

// Publish produces each event to the events topic, keyed by EventKey, its
// value the event as a structured CloudEvent (JSON), and waits until every
// record is acknowledged. Errors: an event that does not encode, or the
// first record that could not be delivered within the delivery timeout.
func (p *Publisher) Publish(ctx context.Context, events []metrics.Event) error {
	records := make([]*kgo.Record, 0, len(events))
	for _, e := range events {
		value, err := e.MarshalJSON()
		if err != nil {
			return fmt.Errorf("kafka: event %s from %s: %w", e.ID, e.Source, err)
		}
		records = append(records, &kgo.Record{
			// No Timestamp: franz-go times the delivery timeout from it,
			// and the event's time is in the value.
			Topic: p.o.EventsTopic, Key: []byte(EventKey(e)), Value: value,
			Headers: []kgo.RecordHeader{
				{Key: "content-type", Value: []byte("application/cloudevents+json")},
				{Key: "ce_type", Value: []byte(e.Type())},
			},
		})
	}
	return p.produce(ctx, records)
}

// PublishFolded produces the deployments and incidents rows that changed
// since this Publisher last published them (all of them the first time),
// keyed by deployment_id and incident_id, their values the rows as JSON.
// It returns how many it produced. Errors: as Publish.
func (p *Publisher) PublishFolded(ctx context.Context, deployments []analytics.DeploymentRow, incidents []analytics.IncidentRow) (int, error) {
	var records []*kgo.Record
	digests := map[string][sha256.Size]byte{}
	add := func(topic, key string, row any) error {
		value, err := json.Marshal(row)
		if err != nil {
			return err
		}
		d := sha256.Sum256(value)
		if p.last[topic+"\x00"+key] == d {
			return nil
		}
		digests[topic+"\x00"+key] = d
		records = append(records, &kgo.Record{Topic: topic, Key: []byte(key), Value: value,
			Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/json")}}})
		return nil
	}
	for _, d := range deployments {
		if err := add(p.o.DeploymentsTopic, d.DeploymentID, d); err != nil {
			return 0, fmt.Errorf("kafka: deployment %s: %w", d.DeploymentID, err)
		}
	}
	for _, i := range incidents {
		if err := add(p.o.IncidentsTopic, i.IncidentID, i); err != nil {
			return 0, fmt.Errorf("kafka: incident %s: %w", i.IncidentID, err)
		}
	}
	if err := p.produce(ctx, records); err != nil {
		return 0, err
	}
	// Remembered only once delivered: a failed batch goes out again.
	for k, d := range digests {
		p.last[k] = d
	}
	return len(records), nil
}

// produce sends the records and waits for every acknowledgement.
func (p *Publisher) produce(ctx context.Context, records []*kgo.Record) error {
	if len(records) == 0 {
		return nil
	}
	if err := p.client.ProduceSync(ctx, records...).FirstErr(); err != nil {
		return fmt.Errorf("kafka: producing: %w", err)
	}
	return nil
}
