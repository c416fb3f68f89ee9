package sqldb

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Spans starts a span around each call of a store: a client span named
// store.<operation> with the database's db.system and db.operation.
type Spans struct {
	tracer   trace.Tracer
	system   string
	internal func(error) bool
}

// NewSpans returns the spans of a store on d, from tp (nil traces nothing)
// under the instrumentation scope name. internal reports the errors that
// mark a span failed: those the caller cannot act on, where a not-found or
// a conflict is an answer, not a failure of the store.
func NewSpans(tp trace.TracerProvider, name string, d Dialect, internal func(error) bool) Spans {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return Spans{tracer: tp.Tracer(name), system: d.Name(), internal: internal}
}

// Start starts the span of operation op; it returns the context to run the
// call in, and the function that ends the span with the call's error:
//
//	ctx, end := s.spans.Start(ctx, "CreateInvoice")
//	defer end(&err)
func (s Spans) Start(ctx context.Context, op string) (context.Context, func(*error)) {
	ctx, sp := s.tracer.Start(ctx, "store."+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system", s.system), attribute.String("db.operation", op)))
	return ctx, func(errp *error) {
		if err := *errp; err != nil && s.internal(err) {
			sp.RecordError(err)
			sp.SetStatus(codes.Error, "store error")
		}
		sp.End()
	}
}
