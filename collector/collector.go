// Package collector is Estate's telemetry collector: OTLP traces, logs and
// metrics come in, are appended to a durable queue before they are
// acknowledged, and are delivered from the queue to sinks, each at its own
// pace with its own cursor.
//
// This package holds the domain: the record envelope kept in the queue, the
// Sink interface that every destination implements (the embedded store in
// collector/sqlite; Elasticsearch and Jaeger beside it), the query types of
// the embedded store, and the configuration. The error classes that tell the
// delivery loop what to do are internal/delivery's, shared with every
// exporter. It imports no adapter; collector/service wires the adapters
// together.
package collector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/estatehq/estate/internal/delivery"
)

// Signal is the kind of telemetry a queued record holds.
type Signal uint8

// Signals. The values are stored in the queue: never renumber them.
const (
	SignalTraces  Signal = 1
	SignalLogs    Signal = 2
	SignalMetrics Signal = 3
)

func (s Signal) String() string {
	switch s {
	case SignalTraces:
		return "traces"
	case SignalLogs:
		return "logs"
	case SignalMetrics:
		return "metrics"
	}
	return fmt.Sprintf("signal(%d)", uint8(s))
}

// envelopeVersion leads every queued record, so the format can change.
const envelopeVersion = 1

// EncodeRecord wraps the protobuf encoding of an OTLP export request in the
// envelope the queue stores: version byte, signal byte, request.
func EncodeRecord(sig Signal, otlpProto []byte) []byte {
	b := make([]byte, 0, 2+len(otlpProto))
	b = append(b, envelopeVersion, byte(sig))
	return append(b, otlpProto...)
}

// ErrBadRecord is returned for a queued record that cannot be decoded; it is
// permanent.
var ErrBadRecord = errors.New("undecodable queue record")

// DecodeRecord splits a queued record into its signal and OTLP protobuf.
func DecodeRecord(b []byte) (Signal, []byte, error) {
	if len(b) < 2 || b[0] != envelopeVersion {
		return 0, nil, ErrBadRecord
	}
	sig := Signal(b[1])
	switch sig {
	case SignalTraces, SignalLogs, SignalMetrics:
	default:
		return 0, nil, fmt.Errorf("%w: unknown signal %d", ErrBadRecord, b[1])
	}
	return sig, b[2:], nil
}

// Item is one queued record handed to a sink.
type Item struct {
	// Seq numbers the record in the queue; with Time it identifies the
	// record for good, which sinks use to derive deterministic ids.
	Seq uint64
	// Time is when the collector accepted the record.
	Time time.Time
	// Signal says what OTLP request Payload holds.
	Signal Signal
	// Payload is the protobuf encoding of an OTLP Export*ServiceRequest.
	Payload []byte
}

// Traces decodes the item's payload; it fails unless Signal is SignalTraces.
func (it Item) Traces() (ptrace.Traces, error) {
	if it.Signal != SignalTraces {
		return ptrace.Traces{}, fmt.Errorf("%w: %s is not traces", ErrBadRecord, it.Signal)
	}
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(it.Payload); err != nil {
		return ptrace.Traces{}, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	return req.Traces(), nil
}

// Logs decodes the item's payload; it fails unless Signal is SignalLogs.
func (it Item) Logs() (plog.Logs, error) {
	if it.Signal != SignalLogs {
		return plog.Logs{}, fmt.Errorf("%w: %s is not logs", ErrBadRecord, it.Signal)
	}
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(it.Payload); err != nil {
		return plog.Logs{}, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	return req.Logs(), nil
}

// Metrics decodes the item's payload; it fails unless Signal is
// SignalMetrics.
func (it Item) Metrics() (pmetric.Metrics, error) {
	if it.Signal != SignalMetrics {
		return pmetric.Metrics{}, fmt.Errorf("%w: %s is not metrics", ErrBadRecord, it.Signal)
	}
	req := pmetricotlp.NewExportRequest()
	if err := req.UnmarshalProto(it.Payload); err != nil {
		return pmetric.Metrics{}, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	return req.Metrics(), nil
}

// Sink is a destination of queued telemetry: the embedded store, or
// Elasticsearch (logs) and Jaeger (traces). Each sink reads the queue with
// its own persisted cursor, named by Name.
type Sink interface {
	// Name is the sink's cursor name in the queue: stable across restarts,
	// 1 to 64 letters, digits, '-' or '_'.
	Name() string
	// Deliver writes a batch to the backend and returns once the backend
	// holds it. The same batch may be delivered again after a crash, so
	// Deliver must be idempotent (deterministic ids). Items of a signal the
	// sink does not take are skipped.
	//
	// A nil error advances the sink's cursor past the batch. A
	// *delivery.PermanentError (any error with Permanent() true) means the
	// batch can never be delivered: it is logged, counted and passed (issue:
	// dead-letter in the sink). A *delivery.ThrottleError (RetryAfter()) is
	// retried after its delay; a *delivery.ShutdownError (Shutdown() true)
	// stops delivery without passing the batch; any other error is retried
	// with exponential backoff.
	Deliver(ctx context.Context, items []Item) error
}

// SignalSink adapts per-signal exporters (such as an Elasticsearch logs
// exporter or a Jaeger traces exporter) to a Sink. A nil function skips that
// signal.
type SignalSink struct {
	SinkName string
	Traces   func(context.Context, ptrace.Traces) error
	Logs     func(context.Context, plog.Logs) error
	Metrics  func(context.Context, pmetric.Metrics) error
}

// Name implements Sink.
func (s *SignalSink) Name() string { return s.SinkName }

// Deliver implements Sink, one call per item and signal. An undecodable
// item is a *delivery.PermanentError.
func (s *SignalSink) Deliver(ctx context.Context, items []Item) error {
	for _, it := range items {
		var err error
		switch {
		case it.Signal == SignalTraces && s.Traces != nil:
			var td ptrace.Traces
			if td, err = it.Traces(); err == nil {
				err = s.Traces(ctx, td)
			}
		case it.Signal == SignalLogs && s.Logs != nil:
			var ld plog.Logs
			if ld, err = it.Logs(); err == nil {
				err = s.Logs(ctx, ld)
			}
		case it.Signal == SignalMetrics && s.Metrics != nil:
			var md pmetric.Metrics
			if md, err = it.Metrics(); err == nil {
				err = s.Metrics(ctx, md)
			}
		}
		if errors.Is(err, ErrBadRecord) {
			return delivery.Permanent(err)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// UnknownService names telemetry whose resource has no service.name.
const UnknownService = "unknown_service"

// ServiceName is the service.name of a resource, or UnknownService.
func ServiceName(r pcommon.Resource) string {
	if v, ok := r.Attributes().Get("service.name"); ok && v.Str() != "" {
		return v.Str()
	}
	return UnknownService
}

// TraceIDString is id in hex, or "" for the empty id.
func TraceIDString(id pcommon.TraceID) string {
	if id.IsEmpty() {
		return ""
	}
	return id.String()
}

// SpanIDString is id in hex, or "" for the empty id.
func SpanIDString(id pcommon.SpanID) string {
	if id.IsEmpty() {
		return ""
	}
	return id.String()
}
