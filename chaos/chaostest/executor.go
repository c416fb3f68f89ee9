package chaostest

import (
	"context"
	"sync"

	"github.com/estatehq/estate/chaos"
)

// Executor is a chaos.Executor of the local platform that keeps its faults
// in memory: the executor contract played straight, for tests of what uses
// executors. What Inject places, Remove takes away; Sweep removes what no
// run claims.
type Executor struct {
	mu     sync.Mutex
	faults map[string]chaos.Request
}

var _ chaos.Executor = (*Executor)(nil)

// NewExecutor returns an executor with no fault.
func NewExecutor() *Executor { return &Executor{faults: map[string]chaos.Request{}} }

// Platform implements chaos.Executor.
func (x *Executor) Platform() chaos.Platform { return chaos.PlatformLocal }

// Plan implements chaos.Executor: one injection into the target service,
// its ref the run's id.
func (x *Executor) Plan(_ context.Context, req chaos.Request) ([]chaos.Injection, error) {
	return []chaos.Injection{{Executor: chaos.PlatformLocal, Kind: req.Fault.Kind(), Target: req.Target.Service, Ref: req.RunID, Deadline: req.Deadline}}, nil
}

// Inject implements chaos.Executor.
func (x *Executor) Inject(ctx context.Context, req chaos.Request) ([]chaos.Injection, error) {
	x.mu.Lock()
	x.faults[req.RunID] = req
	x.mu.Unlock()
	return x.Plan(ctx, req)
}

// Check implements chaos.Executor.
func (x *Executor) Check(context.Context, []chaos.Injection) error { return nil }

// Remove implements chaos.Executor.
func (x *Executor) Remove(_ context.Context, injs []chaos.Injection) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, in := range injs {
		delete(x.faults, in.Ref)
	}
	return nil
}

// Sweep implements chaos.Executor.
func (x *Executor) Sweep(_ context.Context, claimed func(string) bool) (int, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for id := range x.faults {
		if !claimed(id) {
			delete(x.faults, id)
			n++
		}
	}
	return n, nil
}

// Active returns how many faults are in place.
func (x *Executor) Active() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.faults)
}
