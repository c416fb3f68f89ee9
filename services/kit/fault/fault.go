// Package fault injects faults into a service's HTTP API on the chaos
// controller's command: latency, an abort with a status code (or a reset
// connection), and an error rate, each on a route (the chi route pattern, as
// the RED metrics label it), a method and a percentage of requests.
//
// The Injector holds the active faults and its Middleware applies them; the
// control surface (NewControlHandler) that sets them is served on a
// listener of its own, never on the API's port, and accepts only principals
// holding the role chaos.operate. Every fault carries its own
// deadline, enforced here: it expires even if the controller that set it
// is gone.
package fault

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/problem"
)

// Scope is the scope a machine token asks for to command faults: the role
// chaos.operate, which the control surface requires.
const Scope = auth.RoleChaosOperate

// Action is what a fault does to a request.
type Action string

// The actions.
const (
	// ActionLatency delays the request by Delay before serving it.
	ActionLatency Action = "latency"
	// ActionAbort answers Status without serving the request; Status 0
	// resets the connection instead.
	ActionAbort Action = "abort"
	// ActionError answers a server error (Status, 500 by default) to the
	// requests it hits: an error rate when Percentage is below 100.
	ActionError Action = "error"
)

// MaxDelay bounds a latency fault: beyond it a request would outlive any
// client's timeout and the fault would only pile up goroutines.
const MaxDelay = 5 * time.Minute

// Fault is one fault command.
type Fault struct {
	// ID names the fault; setting a fault with an ID in use replaces it.
	ID     string `json:"id"`
	Action Action `json:"action"`
	// Route is the chi route pattern ("/v1/invoices/{id}"); empty hits
	// every route.
	Route string `json:"route,omitempty"`
	// Method is the HTTP method; empty hits every method.
	Method string `json:"method,omitempty"`
	// Percentage of the matching requests hit, in (0, 100].
	Percentage float64 `json:"percentage"`
	// DelayMS is the latency of ActionLatency, in milliseconds.
	DelayMS int64 `json:"delay_ms,omitempty"`
	// Status is the status of ActionAbort (0 resets the connection) and
	// of ActionError (5xx; 0 means 500).
	Status int `json:"status,omitempty"`
	// ExpiresAt is the fault's deadline: after it the fault is gone,
	// whatever the controller does. Required.
	ExpiresAt time.Time `json:"expires_at"`
}

// Delay is DelayMS as a duration.
func (f Fault) Delay() time.Duration { return time.Duration(f.DelayMS) * time.Millisecond }

// Validate names every field at fault.
func (f Fault) Validate() error {
	var errs []error
	if f.ID == "" || len(f.ID) > 200 || strings.ContainsAny(f.ID, "/ \t\n") {
		errs = append(errs, fmt.Errorf("id: must be 1 to 200 characters without slashes or spaces, not %q", f.ID))
	}
	switch f.Action {
	case ActionLatency:
		if f.DelayMS <= 0 || f.Delay() > MaxDelay {
			errs = append(errs, fmt.Errorf("delay_ms: must be positive and at most %d, not %d", MaxDelay.Milliseconds(), f.DelayMS))
		}
	case ActionAbort:
		if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
			errs = append(errs, fmt.Errorf("status: must be 0 (reset the connection) or a 4xx or 5xx code, not %d", f.Status))
		}
	case ActionError:
		if f.Status != 0 && (f.Status < 500 || f.Status > 599) {
			errs = append(errs, fmt.Errorf("status: must be a 5xx code, not %d", f.Status))
		}
	default:
		errs = append(errs, fmt.Errorf("action: must be latency, abort or error, not %q", f.Action))
	}
	if f.Route != "" && !strings.HasPrefix(f.Route, "/") {
		errs = append(errs, fmt.Errorf("route: must be a route pattern starting with /, not %q", f.Route))
	}
	if f.Percentage <= 0 || f.Percentage > 100 {
		errs = append(errs, fmt.Errorf("percentage: must be in (0, 100], not %v", f.Percentage))
	}
	if f.ExpiresAt.IsZero() {
		errs = append(errs, errors.New("expires_at: is required"))
	}
	return errors.Join(errs...)
}

// Options are what an Injector is built from.
type Options struct {
	// Now is the clock deadlines are read on.
	Now func() time.Time
	// Rand draws in [0, 1) to pick the requests a partial fault hits;
	// math/rand/v2's Float64 when nil.
	Rand func() float64
	// Registerer gets the injector's series; none when nil.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Injector holds the active faults of one service.
type Injector struct {
	opts Options

	mu     sync.Mutex
	faults map[string]*entry
	// active is the list the middleware reads: nil when no fault is set,
	// so that a request costs one atomic load.
	active atomic.Pointer[[]Fault]

	hits   *prometheus.CounterVec
	gauge  prometheus.GaugeFunc
	closed bool
}

type entry struct {
	fault Fault
	timer *time.Timer
}

// ErrExpired is returned for a fault whose deadline has passed already.
var ErrExpired = errors.New("the fault's deadline has passed")

// New returns an injector with no fault.
func New(opts Options) *Injector {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	i := &Injector{opts: opts, faults: map[string]*entry{}}
	i.hits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "estate_fault_injected_requests_total",
		Help: "Requests a fault was injected into, by action.",
	}, []string{"action"})
	i.gauge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "estate_fault_active",
		Help: "Faults active in this service.",
	}, func() float64 {
		if p := i.active.Load(); p != nil {
			return float64(len(*p))
		}
		return 0
	})
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(i.hits, i.gauge)
	}
	return i
}

// Set validates f and makes it active until its deadline, replacing a
// fault of the same id. Errors: the validation's, ErrExpired.
func (i *Injector) Set(f Fault) error {
	if err := f.Validate(); err != nil {
		return err
	}
	f.Method = strings.ToUpper(f.Method)
	ttl := f.ExpiresAt.Sub(i.opts.Now())
	if ttl <= 0 {
		return ErrExpired
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return errors.New("the injector is closed")
	}
	if old, ok := i.faults[f.ID]; ok {
		old.timer.Stop()
	}
	e := &entry{fault: f}
	id := f.ID
	// The timer only tidies up: the middleware checks every deadline
	// itself, so a fault never outlives it even by the timer's latency.
	e.timer = time.AfterFunc(ttl, func() { i.expire(id, e) })
	i.faults[f.ID] = e
	i.publish()
	i.opts.Logger.Info("fault set", "id", f.ID, "action", f.Action, "route", f.Route, "method", f.Method,
		"percentage", f.Percentage, "expires_at", f.ExpiresAt)
	return nil
}

func (i *Injector) expire(id string, e *entry) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.faults[id] == e {
		delete(i.faults, id)
		i.publish()
		i.opts.Logger.Info("fault expired", "id", id)
	}
}

// Remove ends the fault with the id and reports whether there was one.
func (i *Injector) Remove(id string) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	e, ok := i.faults[id]
	if !ok {
		return false
	}
	e.timer.Stop()
	delete(i.faults, id)
	i.publish()
	i.opts.Logger.Info("fault removed", "id", id)
	return true
}

// Clear ends every fault and returns how many there were.
func (i *Injector) Clear() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	n := len(i.faults)
	for id, e := range i.faults {
		e.timer.Stop()
		delete(i.faults, id)
	}
	i.publish()
	return n
}

// Close ends every fault and refuses new ones; it stops the expiry timers.
func (i *Injector) Close() error {
	i.Clear()
	i.mu.Lock()
	i.closed = true
	i.mu.Unlock()
	return nil
}

// Active lists the faults whose deadline has not passed, by id.
func (i *Injector) Active() []Fault {
	p := i.active.Load()
	if p == nil {
		return []Fault{}
	}
	now := i.opts.Now()
	out := make([]Fault, 0, len(*p))
	for _, f := range *p {
		if now.Before(f.ExpiresAt) {
			out = append(out, f)
		}
	}
	return out
}

// publish stores the list the middleware reads; i.mu is held.
func (i *Injector) publish() {
	if len(i.faults) == 0 {
		i.active.Store(nil)
		return
	}
	list := make([]Fault, 0, len(i.faults))
	for _, e := range i.faults {
		list = append(list, e.fault)
	}
	slices.SortFunc(list, func(a, b Fault) int { return strings.Compare(a.ID, b.ID) })
	i.active.Store(&list)
}

// Middleware applies the active faults. It belongs after routing (a chi
// group's or route's middleware), so the route pattern is known, and
// inside the RED metrics and tracing, so what it does shows in them. With
// no fault set a request costs one atomic load and no allocation.
func (i *Injector) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := i.active.Load()
		if p == nil {
			next.ServeHTTP(w, r)
			return
		}
		i.serve(*p, w, r, next)
	})
}

func (i *Injector) serve(faults []Fault, w http.ResponseWriter, r *http.Request, next http.Handler) {
	now := i.opts.Now()
	route := ""
	if rc := chi.RouteContext(r.Context()); rc != nil {
		route = rc.RoutePattern()
	}
	for _, f := range faults {
		if !now.Before(f.ExpiresAt) || (f.Route != "" && f.Route != route) || (f.Method != "" && f.Method != r.Method) {
			continue
		}
		if f.Percentage < 100 && i.opts.Rand()*100 >= f.Percentage {
			continue
		}
		i.hits.WithLabelValues(string(f.Action)).Inc()
		switch f.Action {
		case ActionLatency:
			t := time.NewTimer(f.Delay())
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		case ActionAbort:
			if f.Status == 0 {
				// The server closes the connection without an answer.
				panic(http.ErrAbortHandler)
			}
			problem.Write(w, r, problem.New(f.Status, http.StatusText(f.Status)))
			return
		case ActionError:
			status := f.Status
			if status == 0 {
				status = http.StatusInternalServerError
			}
			problem.Write(w, r, problem.New(status, http.StatusText(status)))
			return
		}
	}
	next.ServeHTTP(w, r)
}
