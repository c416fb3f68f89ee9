package sqldb_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/estatehq/estate/internal/sqldb"
)

func TestSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { require.NoError(t, tp.Shutdown(context.Background())) })
	errInternal, errAnswer := errors.New("disk on fire"), errors.New("no such invoice")
	spans := sqldb.NewSpans(tp, "test/store", sqldb.Postgres, func(err error) bool { return errors.Is(err, errInternal) })

	for _, err := range []error{nil, errAnswer, errInternal} {
		_, end := spans.Start(context.Background(), "Invoice")
		end(&err)
	}
	ended := rec.Ended()
	require.Len(t, ended, 3)
	for i, want := range []codes.Code{codes.Unset, codes.Unset, codes.Error} {
		sp := ended[i]
		require.Equal(t, "store.Invoice", sp.Name())
		require.Equal(t, trace.SpanKindClient, sp.SpanKind())
		require.Equal(t, "test/store", sp.InstrumentationScope().Name)
		require.ElementsMatch(t, []attribute.KeyValue{attribute.String("db.system", "postgresql"), attribute.String("db.operation", "Invoice")}, sp.Attributes())
		require.Equal(t, want, sp.Status().Code, "span %d", i)
		require.Len(t, sp.Events(), map[codes.Code]int{codes.Unset: 0, codes.Error: 1}[want], "the internal error is recorded")
	}

	// Without a provider nothing is traced, and nothing fails.
	_, end := sqldb.NewSpans(nil, "test/store", sqldb.SQLite, func(error) bool { return true }).Start(context.Background(), "X")
	end(&errInternal)
}
