package delivery

import (
	"context"
	"fmt"
	"sync"
)

// Lifecycle tracks a component's calls in flight so that its Shutdown can
// refuse new calls, cancel those in flight and wait for them. The zero value
// is ready to use; a Lifecycle must not be copied after first use.
type Lifecycle struct {
	mu       sync.Mutex
	started  bool // the fields below are set
	closing  bool
	inflight int
	idle     chan struct{} // closed once closing with no call in flight
	life     context.Context
	stop     context.CancelCauseFunc
}

func (l *Lifecycle) init() {
	if !l.started {
		l.started = true
		l.idle = make(chan struct{})
		l.life, l.stop = context.WithCancelCause(context.Background())
	}
}

// Begin registers a call in flight, unless shutdown has begun: then it
// returns a *ShutdownError wrapping ErrShutdown. The call runs with the
// returned context, which is ctx cancelled with cause ErrShutdown when
// Shutdown begins, and calls done when it returns (done may be called more
// than once).
func (l *Lifecycle) Begin(ctx context.Context) (callCtx context.Context, done func(), err error) {
	l.mu.Lock()
	l.init()
	if l.closing {
		l.mu.Unlock()
		return ctx, func() {}, &ShutdownError{Err: ErrShutdown}
	}
	l.inflight++
	life := l.life
	l.mu.Unlock()

	callCtx, cancel := context.WithCancelCause(ctx)
	stopAfter := context.AfterFunc(life, func() { cancel(ErrShutdown) })
	return callCtx, sync.OnceFunc(func() {
		stopAfter()
		cancel(nil)
		l.end()
	}), nil
}

func (l *Lifecycle) end() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inflight--
	if l.closing && l.inflight == 0 {
		close(l.idle)
	}
}

// Go runs f in a goroutine counted as a call in flight, with a context that
// Shutdown cancels (cause ErrShutdown); Shutdown waits for f to return.
// After Shutdown it runs nothing and returns a *ShutdownError.
func (l *Lifecycle) Go(f func(ctx context.Context)) error {
	ctx, done, err := l.Begin(context.Background())
	if err != nil {
		return err
	}
	go func() {
		defer done()
		f(ctx)
	}()
	return nil
}

// Shutdown refuses new calls, cancels those in flight and waits for them to
// return, or for ctx to end. It may be called more than once.
func (l *Lifecycle) Shutdown(ctx context.Context) error {
	l.mu.Lock()
	l.init()
	if !l.closing {
		l.closing = true
		if l.inflight == 0 {
			close(l.idle)
		}
	}
	idle := l.idle
	l.mu.Unlock()
	l.stop(ErrShutdown)
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for calls in flight to stop: %w", context.Cause(ctx))
	}
}
