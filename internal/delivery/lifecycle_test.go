package delivery_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/internal/delivery"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLifecycleRefusesCallsAfterShutdown(t *testing.T) {
	var l delivery.Lifecycle
	require.NoError(t, l.Shutdown(t.Context()))
	_, done, err := l.Begin(t.Context())
	done()
	var shut *delivery.ShutdownError
	require.ErrorAs(t, err, &shut)
	require.ErrorIs(t, err, delivery.ErrShutdown)
	require.True(t, delivery.IsShutdown(err))
	require.ErrorIs(t, l.Go(func(context.Context) { t.Error("ran after shutdown") }), delivery.ErrShutdown)
	require.NoError(t, l.Shutdown(t.Context()), "a second Shutdown is fine")
}

func TestLifecycleCancelsCallsInFlightAndWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var l delivery.Lifecycle
		ctx, done, err := l.Begin(t.Context())
		require.NoError(t, err)
		returned := make(chan time.Time)
		go func() {
			<-ctx.Done()
			time.Sleep(time.Second) // the call takes a while to wind down
			done()
			done() // twice is harmless
			returned <- time.Now()
		}()
		start := time.Now()
		require.NoError(t, l.Shutdown(context.Background()))
		stopped := time.Now()
		require.Equal(t, time.Second, stopped.Sub(start), "Shutdown waited for the call")
		require.ErrorIs(t, context.Cause(ctx), delivery.ErrShutdown)
		require.Equal(t, stopped, <-returned)
		require.ErrorAs(t, delivery.ContextShutdown(ctx), new(*delivery.ShutdownError))
	})
}

func TestLifecycleShutdownGivesUpWithItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var l delivery.Lifecycle
		release := make(chan struct{})
		require.NoError(t, l.Go(func(ctx context.Context) {
			<-ctx.Done()
			<-release // a call that ignores its context for a while
		}))
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		start := time.Now()
		err := l.Shutdown(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Equal(t, 5*time.Second, time.Since(start))

		close(release)
		require.NoError(t, l.Shutdown(t.Context()), "the call has returned now")
	})
}

func TestLifecycleCallEndsWithItsCaller(t *testing.T) {
	var l delivery.Lifecycle
	parent, cancel := context.WithCancel(t.Context())
	ctx, done, err := l.Begin(parent)
	require.NoError(t, err)
	cancel()
	<-ctx.Done()
	require.ErrorIs(t, context.Cause(ctx), context.Canceled)
	require.NotErrorIs(t, context.Cause(ctx), delivery.ErrShutdown)
	done()
	require.NoError(t, l.Shutdown(t.Context()))
}

func TestLifecycleCallsEndingDuringShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var l delivery.Lifecycle
		const calls = 10
		for i := range calls {
			require.NoError(t, l.Go(func(ctx context.Context) {
				<-ctx.Done()
				time.Sleep(time.Duration(i) * time.Millisecond)
			}))
		}
		start := time.Now()
		require.NoError(t, l.Shutdown(t.Context()))
		require.Equal(t, (calls-1)*time.Millisecond, time.Since(start), "Shutdown returned after the last call")
	})
}
