package modules

import (
	"context"
	"errors"
)

// Group runs several parts as one service, as a target does with its API
// server and its background components: Start starts the parts in order
// and, when one fails, stops those already started, in reverse; Shutdown
// stops every part in reverse order, then runs the closers (a store, the
// telemetry providers), also in reverse, and reports every error.
type Group struct {
	Parts   []Service
	Closers []func(context.Context) error

	started int
}

// Start implements Service.
func (g *Group) Start(ctx context.Context) error {
	for i, p := range g.Parts {
		if err := p.Start(ctx); err != nil {
			g.started = i
			return errors.Join(err, g.stopParts(ctx))
		}
	}
	g.started = len(g.Parts)
	return nil
}

// Shutdown implements Service.
func (g *Group) Shutdown(ctx context.Context) error {
	errs := []error{g.stopParts(ctx)}
	for i := len(g.Closers) - 1; i >= 0; i-- {
		errs = append(errs, g.Closers[i](ctx))
	}
	return errors.Join(errs...)
}

// stopParts stops the started parts in reverse order.
func (g *Group) stopParts(ctx context.Context) error {
	var errs []error
	for i := g.started - 1; i >= 0; i-- {
		errs = append(errs, g.Parts[i].Shutdown(ctx))
	}
	g.started = 0
	return errors.Join(errs...)
}

// Closer adapts a Close() error to a closer of a Group.
func Closer(close func() error) func(context.Context) error {
	return func(context.Context) error { return close() }
}
