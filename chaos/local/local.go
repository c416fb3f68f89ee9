// Package local is the chaos executor of one machine, for the targets of
// `estate up`: HTTP faults through each service's fault control surface
// (services/kit/fault), kills and restarts of a target through the process
// that runs it, and TCP faults on a dependency's connections through
// Toxiproxy's proxies run in process. Every fault carries the run's
// deadline where it is placed: the service drops an HTTP fault at its
// deadline, a killed target is started again, a toxic is removed.
package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/estatehq/estate/chaos"
	"github.com/estatehq/estate/services/kit/fault"
)

// Processes stops and starts the targets of the process, for kill and
// restart faults; `estate up` provides it.
type Processes interface {
	// Targets lists the targets that can be stopped.
	Targets() []string
	// Stop stops a target. Errors: the target's shutdown error.
	Stop(ctx context.Context, target string) error
	// Start starts a stopped target again; starting a running one does
	// nothing.
	Start(ctx context.Context, target string) error
}

// Options are what the executor is built from.
type Options struct {
	// Faults are the services' fault control surfaces, by service name.
	Faults map[string]*fault.Client
	// Processes kills and restarts targets; nil refuses process faults.
	Processes Processes
	// Proxies carry dependencies' connections; nil refuses TCP faults.
	Proxies *Proxies
	Now     func() time.Time
	Logger  *slog.Logger
}

// Executor is the local chaos.Executor.
type Executor struct {
	opts Options

	mu sync.Mutex
	// timers enforce deadlines of what this process places itself
	// (stopped targets, toxics), by injection ref.
	timers map[string]*time.Timer
	// stopped are the targets a run stopped, by injection ref.
	stopped map[string]*stoppedTarget
}

var _ chaos.Executor = (*Executor)(nil)

// New returns the executor.
func New(opts Options) *Executor {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Executor{opts: opts, timers: map[string]*time.Timer{}, stopped: map[string]*stoppedTarget{}}
}

// Platform implements chaos.Executor.
func (e *Executor) Platform() chaos.Platform { return chaos.PlatformLocal }

// Close stops the deadline timers; what they guard is left as it is.
func (e *Executor) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for ref, t := range e.timers {
		t.Stop()
		delete(e.timers, ref)
	}
}

// faultID is the id of a run's fault in a service, and of its toxic: the
// prefix marks what the controller owns.
func faultID(runID string) string { return "chaos-" + runID }

func runOf(id string) (string, bool) { return strings.CutPrefix(id, "chaos-") }

func invalidField(field, format string, args ...any) error {
	return &chaos.Error{Code: chaos.EINVALID, Message: "the fault cannot be placed",
		Fields: []chaos.FieldError{{Field: field, Message: fmt.Sprintf(format, args...)}}}
}

// Plan implements chaos.Executor.
func (e *Executor) Plan(_ context.Context, req chaos.Request) ([]chaos.Injection, error) {
	f := req.Fault
	svc := req.Target.Service
	base := chaos.Injection{Executor: chaos.PlatformLocal, Kind: f.Kind(), Deadline: req.Deadline}
	switch {
	case f.HTTP != nil:
		c, ok := e.opts.Faults[svc]
		if !ok {
			return nil, invalidField("spec.target.service", "%q has no fault control surface here (known: %s)", svc, strings.Join(e.services(), ", "))
		}
		if ttl := req.Deadline.Sub(e.opts.Now()); ttl > fault.DefaultMaxTTL {
			return nil, invalidField("spec.duration", "must be at most %s for an HTTP fault: a service refuses a fault whose deadline is further ahead, so that no fault outlives a lost controller for long", fault.DefaultMaxTTL)
		}
		cmd := httpFault(req)
		base.Target = fmt.Sprintf("%s (fault surface %s) route %s %s", svc, c.URL(), orAll(cmd.Method), orAll(cmd.Route))
		base.Ref = "http:" + svc + ":" + cmd.ID
		base.Detail = map[string]string{"service": svc, "surface": c.URL(), "id": cmd.ID, "action": string(cmd.Action), "route": cmd.Route, "method": cmd.Method,
			"percentage": strconv.FormatFloat(cmd.Percentage, 'g', -1, 64), "delay_ms": strconv.FormatInt(cmd.DelayMS, 10),
			"status": strconv.Itoa(cmd.Status), "expires_at": cmd.ExpiresAt.UTC().Format(time.RFC3339)}
	case f.Process != nil:
		if e.opts.Processes == nil || !slices.Contains(e.opts.Processes.Targets(), svc) {
			return nil, invalidField("spec.target.service", "%q is not a target this process can stop", svc)
		}
		base.Target = "target " + svc + " of this process"
		base.Ref = "process:" + svc + ":" + req.RunID
		base.Detail = map[string]string{"service": svc, "action": string(f.Process.Action)}
	case f.TCP != nil:
		name := ProxyName(svc, f.TCP.Dependency)
		if e.opts.Proxies == nil || !slices.Contains(e.opts.Proxies.Names(), name) {
			return nil, invalidField("spec.fault.tcp.dependency", "no proxy carries %s's connections to %q here", svc, f.TCP.Dependency)
		}
		t := tcpToxic(req)
		base.Target = "proxy " + name
		base.Ref = "tcp:" + name + ":" + t.Name
		base.Detail = map[string]string{"proxy": name, "toxic": t.Name, "type": t.Type, "stream": t.Stream,
			"toxicity": strconv.FormatFloat(float64(t.Toxicity), 'g', -1, 32), "attributes": fmt.Sprint(t.Attributes)}
	default:
		return nil, invalidField("spec.fault", "%s is not a local fault", f.Kind())
	}
	return []chaos.Injection{base}, nil
}

func orAll(s string) string {
	if s == "" {
		return "*"
	}
	return s
}

func (e *Executor) services() []string {
	out := make([]string, 0, len(e.opts.Faults))
	for s := range e.opts.Faults {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// httpFault is the fault command of an HTTP fault.
func httpFault(req chaos.Request) fault.Fault {
	h := req.Fault.HTTP
	pct := h.Percentage
	if pct == 0 {
		pct = 100
	}
	return fault.Fault{ID: faultID(req.RunID), Action: fault.Action(h.Action), Route: h.Route, Method: strings.ToUpper(h.Method),
		Percentage: pct, DelayMS: h.Delay.D().Milliseconds(), Status: h.Status, ExpiresAt: req.Deadline}
}

// tcpToxic is the Toxiproxy toxic of a TCP fault.
func tcpToxic(req chaos.Request) toxic {
	t := req.Fault.TCP
	tx := toxic{Name: faultID(req.RunID), Stream: t.Direction, Toxicity: 1}
	if tx.Stream == "" {
		tx.Stream = "downstream"
	}
	if t.Percentage > 0 {
		tx.Toxicity = float32(t.Percentage / 100)
	}
	switch t.Action {
	case chaos.TCPLatency:
		tx.Type = "latency"
		tx.Attributes = map[string]any{"latency": t.Latency.D().Milliseconds(), "jitter": t.Jitter.D().Milliseconds()}
	case chaos.TCPBandwidth:
		tx.Type = "bandwidth"
		tx.Attributes = map[string]any{"rate": t.RateKBps}
	case chaos.TCPTimeout:
		tx.Type = "timeout"
		tx.Attributes = map[string]any{"timeout": t.Timeout.D().Milliseconds()}
	case chaos.TCPReset:
		tx.Type = "reset_peer"
		tx.Attributes = map[string]any{"timeout": t.Timeout.D().Milliseconds()}
	}
	return tx
}

// Inject implements chaos.Executor.
func (e *Executor) Inject(ctx context.Context, req chaos.Request) ([]chaos.Injection, error) {
	injs, err := e.Plan(ctx, req)
	if err != nil {
		return nil, err
	}
	in := injs[0]
	ttl := req.Deadline.Sub(e.opts.Now())
	switch f := req.Fault; {
	case f.HTTP != nil:
		if err := e.opts.Faults[req.Target.Service].Set(ctx, httpFault(req)); err != nil {
			return nil, fmt.Errorf("setting the fault in %s: %w", req.Target.Service, err)
		}
	case f.Process != nil:
		svc := req.Target.Service
		if err := e.opts.Processes.Stop(ctx, svc); err != nil {
			// A target half stopped is started again at once.
			return nil, errors.Join(fmt.Errorf("stopping %s: %w", svc, err), e.opts.Processes.Start(context.WithoutCancel(ctx), svc))
		}
		if f.Process.Action == chaos.ProcessRestart {
			if err := e.opts.Processes.Start(ctx, svc); err != nil {
				return nil, fmt.Errorf("starting %s again: %w", svc, err)
			}
			return injs, nil
		}
		e.mu.Lock()
		e.stopped[in.Ref] = &stoppedTarget{svc: svc, done: make(chan struct{})}
		e.mu.Unlock()
		e.guard(in.Ref, ttl, func() {
			if err := e.start(in.Ref); err != nil {
				e.opts.Logger.Error("starting a killed target at its deadline", "target", svc, "err", err)
			}
		})
	case f.TCP != nil:
		name, t := ProxyName(req.Target.Service, f.TCP.Dependency), tcpToxic(req)
		if err := e.opts.Proxies.addToxic(name, t); err != nil {
			return nil, err
		}
		e.guard(in.Ref, ttl, func() {
			if err := e.opts.Proxies.removeToxic(name, t.Name); err != nil {
				e.opts.Logger.Error("removing a toxic at its deadline", "proxy", name, "err", err)
			}
		})
	}
	return injs, nil
}

// guard runs undo at the deadline unless Remove comes first.
func (e *Executor) guard(ref string, ttl time.Duration, undo func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.timers[ref] = time.AfterFunc(max(ttl, 0), func() {
		e.mu.Lock()
		delete(e.timers, ref)
		e.mu.Unlock()
		undo()
	})
}

func (e *Executor) unguard(ref string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t, ok := e.timers[ref]; ok {
		t.Stop()
		delete(e.timers, ref)
	}
}

// stoppedTarget is a target a kill stopped, started again once: by the
// run's Remove, its deadline's timer or a sweep, whichever comes first;
// the others wait for that start and share its outcome, so none returns
// while the target is still starting.
type stoppedTarget struct {
	svc string
	// starting is set, under the executor's lock, by the start under way;
	// done is closed when it has ended, with err its outcome.
	starting bool
	done     chan struct{}
	err      error
}

// start starts the target a kill stopped, once, and returns when it
// serves again.
func (e *Executor) start(ref string) error {
	e.mu.Lock()
	st, ok := e.stopped[ref]
	if !ok {
		e.mu.Unlock()
		return nil
	}
	if st.starting {
		e.mu.Unlock()
		<-st.done
		return st.err
	}
	st.starting = true
	e.mu.Unlock()
	st.err = e.opts.Processes.Start(context.Background(), st.svc)
	e.mu.Lock()
	delete(e.stopped, ref)
	e.mu.Unlock()
	close(st.done)
	return st.err
}

// parseRef splits "kind:where:id".
func parseRef(ref string) (kind, where, id string) {
	kind, rest, _ := strings.Cut(ref, ":")
	where, id, _ = strings.Cut(rest, ":")
	return kind, where, id
}

// Check implements chaos.Executor.
func (e *Executor) Check(ctx context.Context, injs []chaos.Injection) error {
	for _, in := range injs {
		kind, where, id := parseRef(in.Ref)
		switch kind {
		case "http":
			c, ok := e.opts.Faults[where]
			if !ok {
				return fmt.Errorf("no fault surface for %s", where)
			}
			active, err := c.List(ctx)
			if err != nil {
				return fmt.Errorf("listing the faults of %s: %w", where, err)
			}
			if !slices.ContainsFunc(active, func(f fault.Fault) bool { return f.ID == id }) {
				return fmt.Errorf("the fault %s is no longer set in %s", id, where)
			}
		case "tcp":
			if !slices.Contains(e.opts.Proxies.toxics(where), id) {
				return fmt.Errorf("the toxic %s is no longer on proxy %s", id, where)
			}
		}
	}
	return nil
}

// Remove implements chaos.Executor.
func (e *Executor) Remove(ctx context.Context, injs []chaos.Injection) error {
	var errs []error
	for _, in := range injs {
		kind, where, id := parseRef(in.Ref)
		e.unguard(in.Ref)
		switch kind {
		case "http":
			if c, ok := e.opts.Faults[where]; ok {
				errs = append(errs, c.Remove(ctx, id))
			}
		case "process":
			errs = append(errs, e.start(in.Ref))
		case "tcp":
			errs = append(errs, e.opts.Proxies.removeToxic(where, id))
		}
	}
	return errors.Join(errs...)
}

// Sweep implements chaos.Executor: it removes the faults and toxics whose
// run is not claimed, and starts again the targets such runs stopped.
func (e *Executor) Sweep(ctx context.Context, claimed func(runID string) bool) (int, error) {
	n := 0
	var errs []error
	for svc, c := range e.opts.Faults {
		active, err := c.List(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("listing the faults of %s: %w", svc, err))
			continue
		}
		for _, f := range active {
			if run, ok := runOf(f.ID); ok && !claimed(run) {
				errs = append(errs, c.Remove(ctx, f.ID))
				n++
			}
		}
	}
	if e.opts.Proxies != nil {
		for _, name := range e.opts.Proxies.Names() {
			for _, t := range e.opts.Proxies.toxics(name) {
				if run, ok := runOf(t); ok && !claimed(run) {
					e.unguard("tcp:" + name + ":" + t)
					errs = append(errs, e.opts.Proxies.removeToxic(name, t))
					n++
				}
			}
		}
	}
	e.mu.Lock()
	var refs []string
	for ref := range e.stopped {
		if _, _, run := parseRef(ref); !claimed(run) {
			refs = append(refs, ref)
		}
	}
	e.mu.Unlock()
	for _, ref := range refs {
		e.unguard(ref)
		errs = append(errs, e.start(ref))
		n++
	}
	return n, errors.Join(errs...)
}
