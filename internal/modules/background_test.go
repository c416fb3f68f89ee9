package modules_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/modules"
)

func TestBackground(t *testing.T) {
	started, stopped := make(chan struct{}), make(chan struct{})
	b := &modules.Background{What: "the loop", Run: func(ctx context.Context) {
		close(started)
		<-ctx.Done()
		close(stopped)
	}}
	require.NoError(t, b.Shutdown(context.Background()), "never started: nothing to stop")
	require.NoError(t, b.Start(context.Background()))
	<-started
	require.NoError(t, b.Shutdown(context.Background()))
	select {
	case <-stopped:
	default:
		t.Fatal("Shutdown returned before Run did")
	}

	// A loop that does not stop in time is named.
	release := make(chan struct{})
	stuck := &modules.Background{What: "the stuck loop", Run: func(context.Context) { <-release }}
	require.NoError(t, stuck.Start(context.Background()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	require.ErrorContains(t, stuck.Shutdown(ctx), "stopping the stuck loop: context deadline exceeded")
	close(release)
}
