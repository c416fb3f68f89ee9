package delivery_test

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/delivery"
)

func TestErrorClasses(t *testing.T) {
	require.True(t, delivery.IsPermanent(delivery.Permanent(io.EOF)))
	require.True(t, delivery.IsPermanent(fmt.Errorf("exporting: %w", delivery.Permanent(io.EOF))), "wrapped")
	require.ErrorIs(t, delivery.Permanent(io.EOF), io.EOF)
	d, ok := delivery.RetryAfter(delivery.Throttle(io.EOF, 3*time.Second))
	require.True(t, ok)
	require.Equal(t, 3*time.Second, d)
	require.True(t, delivery.IsShutdown(&delivery.ShutdownError{Err: delivery.ErrShutdown}))

	require.False(t, delivery.IsPermanent(io.EOF))
	require.False(t, delivery.IsShutdown(io.EOF))
	_, ok = delivery.RetryAfter(io.EOF)
	require.False(t, ok)
	require.False(t, delivery.IsPermanent(delivery.Throttle(io.EOF, time.Second)))
}

// classes of other packages are recognised by their methods alone.
type foreignPermanent struct{}

func (foreignPermanent) Error() string   { return "foreign" }
func (foreignPermanent) Permanent() bool { return true }

func TestErrorClassesByMethod(t *testing.T) {
	require.True(t, delivery.IsPermanent(foreignPermanent{}))
}

func TestContextShutdown(t *testing.T) {
	ctx, cancel := context.WithCancelCause(t.Context())
	require.NoError(t, delivery.ContextShutdown(ctx))
	cancel(delivery.ErrShutdown)
	err := delivery.ContextShutdown(ctx)
	require.True(t, delivery.IsShutdown(err))
	require.ErrorIs(t, err, delivery.ErrShutdown, "the cause, not just Canceled")

	ctx, cancel2 := context.WithCancel(t.Context())
	cancel2()
	require.ErrorIs(t, delivery.ContextShutdown(ctx), context.Canceled)
	require.NotErrorIs(t, delivery.ContextShutdown(ctx), delivery.ErrShutdown)
}
