package main

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/estatehq/estate/internal/modules"
)

// restartable is a service target the chaos controller may stop and start
// again within the process (kill and restart faults): a stop on purpose is
// not a failure the manager stops the process for, and a start builds the
// target anew on the addresses it had bound.
type restartable struct {
	init func(ctx context.Context) (modules.Service, error)
	// pin fixes in the configuration the addresses the running target
	// bound, so that a new one binds them again.
	pin func()

	mu      sync.Mutex
	cur     modules.Service
	stopped bool
	gen     int
	done    chan error
}

// restartableInit wraps a target's Init.
func (a *app) restartableInit(name string, init func(ctx context.Context) (modules.Service, error), pin func()) func(ctx context.Context) (modules.Service, error) {
	return func(ctx context.Context) (modules.Service, error) {
		svc, err := init(ctx)
		if err != nil || svc == nil {
			return svc, err
		}
		r := &restartable{init: init, pin: pin, cur: svc, done: make(chan error, 1)}
		a.restartables[name] = r
		return r, nil
	}
}

// Start implements modules.Service.
func (r *restartable) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.cur.Start(ctx); err != nil {
		return err
	}
	r.watch()
	return nil
}

// watch forwards a failure of the current target, not a stop on purpose;
// r.mu is held.
func (r *restartable) watch() {
	f, ok := r.cur.(modules.Failer)
	if !ok {
		return
	}
	gen := r.gen
	go func() {
		err := <-f.Done()
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.gen == gen && !r.stopped {
			select {
			case r.done <- err:
			default:
			}
		}
	}()
}

// Shutdown implements modules.Service.
func (r *restartable) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return nil
	}
	r.stopped = true
	r.gen++
	return r.cur.Shutdown(ctx)
}

// restart builds and starts the target again if it is stopped.
func (r *restartable) restart(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stopped {
		return nil
	}
	r.pin()
	svc, err := r.init(ctx)
	if err != nil {
		return err
	}
	if err := svc.Start(ctx); err != nil {
		return err
	}
	r.cur, r.stopped = svc, false
	r.gen++
	r.watch()
	return nil
}

// Done implements modules.Failer.
func (r *restartable) Done() <-chan error { return r.done }

// URL implements modules.Endpoint.
func (r *restartable) URL() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.cur.(modules.Endpoint); ok {
		return e.URL()
	}
	return ""
}

// processes lets the chaos executor stop and start the targets of this
// process.
type processes struct{ a *app }

func (a *app) processes() processes { return processes{a} }

// Targets implements local.Processes.
func (p processes) Targets() []string {
	var out []string
	for n := range p.a.restartables {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func (p processes) get(target string) (*restartable, error) {
	r, ok := p.a.restartables[target]
	if !ok {
		return nil, fmt.Errorf("no target %q runs in this process", target)
	}
	return r, nil
}

// Stop implements local.Processes.
func (p processes) Stop(ctx context.Context, target string) error {
	r, err := p.get(target)
	if err != nil {
		return err
	}
	p.a.logger.Warn("chaos: stopping target", "target", target)
	return r.Shutdown(ctx)
}

// Start implements local.Processes.
func (p processes) Start(ctx context.Context, target string) error {
	r, err := p.get(target)
	if err != nil {
		return err
	}
	p.a.logger.Warn("chaos: starting target again", "target", target)
	return r.restart(ctx)
}
