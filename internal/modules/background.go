package modules

import (
	"context"
	"fmt"
)

// Background is a loop that runs beside the targets as a Service: Start
// runs Run in a goroutine of its own, with a context that Shutdown
// cancels; Shutdown then waits for Run to return, until its own context
// ends. The analysis of deployments, the export's schedule and the Kafka
// stream are such loops.
type Background struct {
	// What names the loop in the error of a shutdown that times out.
	What string
	// Run runs until its context ends.
	Run func(ctx context.Context)

	cancel context.CancelFunc
	done   chan struct{}
}

// Start implements Service.
func (b *Background) Start(context.Context) error {
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel, b.done = cancel, make(chan struct{})
	go func() {
		defer close(b.done)
		b.Run(ctx)
	}()
	return nil
}

// Shutdown implements Service.
func (b *Background) Shutdown(ctx context.Context) error {
	if b.cancel == nil {
		return nil
	}
	b.cancel()
	select {
	case <-b.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stopping %s: %w", b.What, ctx.Err())
	}
}
