package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options are what a Controller is built from.
type Options struct {
	Store Store
	// Executors inject the faults, one per platform.
	Executors []Executor
	Prober    *Prober
	// Events receives the runs' events; nil sends none.
	Events EventSink
	// Environment is the environment of the incidents runs open
	// ("local", "production").
	Environment string
	Now         func() time.Time
	// NewID returns a new run id (a DNS label); random when nil.
	NewID      func() string
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// RemoveTimeout bounds the removal of a run's faults; 30s when zero.
	RemoveTimeout time.Duration
}

// Controller runs experiments: it checks the hypothesis, injects through
// the executors, aborts on a breach, an abort or the kill switch, removes
// the faults, checks the recovery, gives the verdict, and journals and
// reports all of it.
type Controller struct {
	opts Options

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	halted     bool
	haltReason string
	// live holds the runs and schedules with a goroutine, by id.
	live map[string]*handle

	runs        *prometheus.CounterVec
	activeFault prometheus.Gauge
	timeToAbort prometheus.Histogram
	haltedGauge prometheus.Gauge
}

type handle struct {
	parentID string
	schedule bool
	once     sync.Once
	abort    chan string
	done     chan struct{}
}

// stop asks the run or schedule to stop, once.
func (h *handle) stop(reason string) {
	h.once.Do(func() { h.abort <- reason })
}

// New returns a controller; Start starts it.
func New(opts Options) (*Controller, error) {
	if opts.Store == nil {
		return nil, errors.New("chaos: Options.Store is required")
	}
	if opts.Prober == nil {
		return nil, errors.New("chaos: Options.Prober is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Prober.Now == nil {
		opts.Prober.Now = opts.Now
	}
	if opts.NewID == nil {
		opts.NewID = func() string { return newID(opts.Now()) }
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Environment == "" {
		opts.Environment = "local"
	}
	if opts.RemoveTimeout <= 0 {
		opts.RemoveTimeout = 30 * time.Second
	}
	c := &Controller{opts: opts, live: map[string]*handle{}}
	c.runs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "estate_chaos_runs_total", Help: "Finished chaos runs, by verdict.",
	}, []string{"verdict"})
	for _, v := range Verdicts() {
		c.runs.WithLabelValues(string(v))
	}
	c.activeFault = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "estate_chaos_active_faults", Help: "Faults injected now by the chaos controller.",
	})
	c.timeToAbort = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "estate_chaos_time_to_abort_seconds",
		Help:    "Time from a run's abort (a breach, an abort condition, an operator or the kill switch) to its faults removed.",
		Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	})
	c.haltedGauge = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "estate_chaos_halted", Help: "1 while the kill switch is on.",
	})
	if opts.Registerer != nil {
		for _, m := range []prometheus.Collector{c.runs, c.activeFault, c.timeToAbort, c.haltedGauge} {
			if err := opts.Registerer.Register(m); err != nil {
				return nil, fmt.Errorf("registering chaos series: %w", err)
			}
		}
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

func newID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return strconv.FormatInt(now.UnixMilli(), 36) + hex.EncodeToString(b[:])
}

// Start reads the kill switch, settles the runs a previous controller left
// unfinished (their faults are removed, their verdict is errored), sweeps
// what the executors placed for no live run, and resumes the schedules.
func (c *Controller) Start(ctx context.Context) error {
	halted, reason, err := c.opts.Store.Halted(ctx)
	if err != nil {
		return fmt.Errorf("reading the kill switch: %w", err)
	}
	c.mu.Lock()
	c.halted, c.haltReason = halted, reason
	c.mu.Unlock()
	c.haltedGauge.Set(b2f(halted))
	stale, err := c.opts.Store.Runs(ctx, RunFilter{States: []State{StatePending, StateRunning, StateRecovering}, Limit: 1000})
	if err != nil {
		return fmt.Errorf("reading unfinished runs: %w", err)
	}
	for _, r := range stale {
		if ex := c.executor(r.Fault.Platform()); ex != nil && len(r.Injections) > 0 {
			if err := ex.Remove(ctx, r.Injections); err != nil {
				c.opts.Logger.Error("removing the faults of an unfinished run", "run", r.ID, "err", err)
			}
		}
		c.note(ctx, r.ID, Entry{Kind: EntryError, Message: "the controller stopped during the run; its faults were removed"})
		c.finish(ctx, &r, VerdictErrored, "the controller stopped during the run", r.StartedAt != nil)
	}
	for _, ex := range c.opts.Executors {
		n, err := ex.Sweep(ctx, func(string) bool { return false })
		if err != nil {
			return fmt.Errorf("sweeping %s faults: %w", ex.Platform(), err)
		}
		if n > 0 {
			c.opts.Logger.Warn("removed faults no run claims", "executor", ex.Platform(), "count", n)
		}
	}
	scheduled, err := c.opts.Store.Runs(ctx, RunFilter{States: []State{StateScheduled}, Limit: 1000})
	if err != nil {
		return fmt.Errorf("reading schedules: %w", err)
	}
	for _, r := range scheduled {
		c.spawn(r)
	}
	return nil
}

// Shutdown aborts every run (removing its faults) and waits for them,
// until ctx ends. Schedules stay scheduled for the next start.
func (c *Controller) Shutdown(ctx context.Context) error {
	c.cancel()
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for chaos runs to stop: %w", ctx.Err())
	}
}

// Plan is the answer of a dry run: exactly what would be injected where.
type Plan struct {
	Experiment string      `json:"experiment"`
	Kind       string      `json:"kind"`
	Platform   Platform    `json:"platform"`
	Injections []Injection `json:"injections"`
	// Next lists a cron schedule's next slots.
	Next []time.Time `json:"next,omitempty"`
	// Slots lists a game day's draw, with the injections of each fault in
	// GameDayFaults.
	Slots         []Slot        `json:"slots,omitempty"`
	GameDayFaults [][]Injection `json:"game_day_faults,omitempty"`
}

// DryRun validates e and says what a run would inject, injecting nothing.
// Errors: EINVALID, EUNAVAILABLE.
func (c *Controller) DryRun(ctx context.Context, e Experiment) (Plan, error) {
	if err := e.Validate(); err != nil {
		return Plan{}, err
	}
	now := c.opts.Now()
	s := e.Spec
	p := Plan{Experiment: e.Metadata.Name, Kind: s.Fault.Kind(), Platform: s.Fault.Platform()}
	req := func(f Fault, path string) Request {
		return Request{ExperimentID: "dry-run", RunID: "dry-run", ExperimentName: e.Metadata.Name, Name: e.Metadata.Name + "-dry-run", Target: s.Target, Fault: f, FaultPath: path,
			Spec: s, Deadline: now.Add(s.Duration.D())}
	}
	if s.GameDay != nil {
		p.Kind, p.Platform = "game-day", ""
		p.Slots = s.GameDay.Plan(s.Duration.D() + s.recoverWithin())
		for i, f := range s.GameDay.Faults {
			path := fmt.Sprintf("spec.gameDay.faults[%d]", i)
			injs, err := c.plan(ctx, req(f, path), path)
			if err != nil {
				return Plan{}, err
			}
			p.GameDayFaults = append(p.GameDayFaults, injs)
		}
		return p, nil
	}
	injs, err := c.plan(ctx, req(s.Fault, "spec.fault"), "spec.fault")
	if err != nil {
		return Plan{}, err
	}
	p.Injections = injs
	if s.Schedule != nil {
		sched, _ := ParseCron(s.Schedule.Cron) // validated
		t := now
		for range 5 {
			t = sched.Next(t)
			p.Next = append(p.Next, t)
		}
	}
	return p, nil
}

func (c *Controller) plan(ctx context.Context, req Request, path string) ([]Injection, error) {
	ex := c.executor(req.Fault.Platform())
	if ex == nil {
		return nil, &Error{Code: EUNAVAILABLE, Message: fmt.Sprintf("no executor for %s faults runs here", req.Fault.Platform()),
			Fields: []FieldError{{Field: path, Message: fmt.Sprintf("a %s fault cannot run here", req.Fault.Platform())}}}
	}
	return ex.Plan(ctx, req)
}

// Submit validates e, checks that its faults can be placed, and starts a
// run, or a schedule of runs. Errors: EINVALID, EUNAVAILABLE, EHALTED.
func (c *Controller) Submit(ctx context.Context, e Experiment) (Run, error) {
	if _, err := c.DryRun(ctx, e); err != nil {
		return Run{}, err
	}
	c.mu.Lock()
	halted, why := c.halted, c.haltReason
	c.mu.Unlock()
	if halted {
		return Run{}, &Error{Code: EHALTED, Message: "the kill switch is on (" + why + "): no run starts until it is resumed"}
	}
	r := Run{ID: c.opts.NewID(), Experiment: e, Fault: e.Spec.Fault, State: StatePending, CreatedAt: c.opts.Now().UTC()}
	if e.Spec.Schedule != nil || e.Spec.GameDay != nil {
		r.State = StateScheduled
	}
	if err := c.opts.Store.CreateRun(ctx, r); err != nil {
		return Run{}, fmt.Errorf("recording run: %w", err)
	}
	c.note(ctx, r.ID, Entry{Kind: EntryState, Message: fmt.Sprintf("%s: experiment %s, fault %s on %s", r.State, e.Metadata.Name, e.Spec.Fault.Kind(), e.Spec.Target.Service)})
	c.spawn(r)
	return r, nil
}

// spawn starts the goroutine of a run or schedule.
func (c *Controller) spawn(r Run) {
	h := &handle{parentID: r.ParentID, schedule: r.State == StateScheduled, abort: make(chan string, 1), done: make(chan struct{})}
	c.mu.Lock()
	c.live[r.ID] = h
	c.mu.Unlock()
	c.wg.Go(func() {
		defer func() {
			c.mu.Lock()
			delete(c.live, r.ID)
			c.mu.Unlock()
			close(h.done)
		}()
		if h.schedule {
			c.schedule(r, h)
		} else {
			c.execute(r, h)
		}
	})
}

// Abort stops a run (its faults are removed; its verdict is aborted) or a
// schedule (and its running run). Errors: ENOTFOUND, ECONFLICT for a
// finished run.
func (c *Controller) Abort(ctx context.Context, id, reason string) error {
	if reason == "" {
		reason = "aborted by an operator"
	}
	c.mu.Lock()
	h, ok := c.live[id]
	var children []*handle
	for _, ch := range c.live {
		if ch.parentID == id {
			children = append(children, ch)
		}
	}
	c.mu.Unlock()
	if !ok {
		if _, err := c.opts.Store.Run(ctx, id); err != nil {
			return err
		}
		return &Error{Code: ECONFLICT, Message: "the run is finished"}
	}
	for _, ch := range children {
		ch.stop(reason)
	}
	h.stop(reason)
	select {
	case <-h.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the run to stop: %w", ctx.Err())
	}
}

// Halt turns the kill switch on: every running run is aborted (its faults
// removed) and no run starts, by hand or by schedule, until Resume. It
// returns how many runs it aborted, once they have all stopped.
func (c *Controller) Halt(ctx context.Context, reason string) (int, error) {
	if reason == "" {
		reason = "halted by an operator"
	}
	if err := c.opts.Store.SetHalted(ctx, true, reason); err != nil {
		return 0, fmt.Errorf("recording the kill switch: %w", err)
	}
	c.mu.Lock()
	c.halted, c.haltReason = true, reason
	var hs []*handle
	for _, h := range c.live {
		if !h.schedule {
			hs = append(hs, h)
		}
	}
	c.mu.Unlock()
	c.haltedGauge.Set(1)
	c.opts.Logger.Warn("kill switch on", "reason", reason, "runs", len(hs))
	for _, h := range hs {
		h.stop("kill switch: " + reason)
	}
	for _, h := range hs {
		select {
		case <-h.done:
		case <-ctx.Done():
			return len(hs), fmt.Errorf("waiting for the runs to stop: %w", ctx.Err())
		}
	}
	return len(hs), nil
}

// Resume turns the kill switch off.
func (c *Controller) Resume(ctx context.Context) error {
	if err := c.opts.Store.SetHalted(ctx, false, ""); err != nil {
		return fmt.Errorf("recording the kill switch: %w", err)
	}
	c.mu.Lock()
	c.halted, c.haltReason = false, ""
	c.mu.Unlock()
	c.haltedGauge.Set(0)
	c.opts.Logger.Info("kill switch off")
	return nil
}

// Halted reports the kill switch and why it is on.
func (c *Controller) Halted() (bool, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.halted, c.haltReason
}

// Run returns a run. Errors: ENOTFOUND.
func (c *Controller) Run(ctx context.Context, id string) (Run, error) {
	return c.opts.Store.Run(ctx, id)
}

// Runs lists runs, newest first.
func (c *Controller) Runs(ctx context.Context, f RunFilter) ([]Run, error) {
	return c.opts.Store.Runs(ctx, f)
}

// Journal returns a run's entries after Seq after. Errors: ENOTFOUND.
func (c *Controller) Journal(ctx context.Context, id string, after int) ([]Entry, error) {
	if _, err := c.opts.Store.Run(ctx, id); err != nil {
		return nil, err
	}
	return c.opts.Store.Journal(ctx, id, after)
}

func (c *Controller) executor(p Platform) Executor {
	for _, ex := range c.opts.Executors {
		if ex.Platform() == p {
			return ex
		}
	}
	return nil
}

// note journals an entry; a store failure is logged, never fatal to the
// run.
func (c *Controller) note(ctx context.Context, runID string, e Entry) {
	if e.Time.IsZero() {
		e.Time = c.opts.Now().UTC()
	}
	if _, err := c.opts.Store.Append(context.WithoutCancel(ctx), runID, e); err != nil {
		c.opts.Logger.Error("journaling", "run", runID, "err", err)
	}
}

func (c *Controller) update(ctx context.Context, r *Run) {
	if err := c.opts.Store.UpdateRun(context.WithoutCancel(ctx), *r); err != nil {
		c.opts.Logger.Error("recording run", "run", r.ID, "err", err)
	}
}

func (c *Controller) send(ctx context.Context, r *Run, e Event) {
	if c.opts.Events == nil {
		return
	}
	e.Time = c.opts.Now().UTC()
	e.ExperimentID = r.ID
	if err := c.opts.Events.Send(context.WithoutCancel(ctx), e); err != nil {
		c.opts.Logger.Warn("sending event", "run", r.ID, "type", e.Type, "err", err)
		c.note(ctx, r.ID, Entry{Kind: EntryError, Message: fmt.Sprintf("event %s not delivered: %v", e.Type, err)})
		return
	}
	c.note(ctx, r.ID, Entry{Kind: EntryEvent, Message: string(e.Type) + " sent"})
}

// finish gives the run its verdict.
func (c *Controller) finish(ctx context.Context, r *Run, v Verdict, reason string, started bool) {
	now := c.opts.Now().UTC()
	r.Verdict, r.Reason, r.FinishedAt, r.NextAt = v, reason, &now, nil
	c.note(ctx, r.ID, Entry{Kind: EntryVerdict, Message: fmt.Sprintf("%s: %s", v, reason)})
	if started {
		c.send(ctx, r, Event{ID: r.ID + "-finished", Type: EventChaosFinished, Kind: r.Fault.Kind(), Target: r.Experiment.Spec.Target.Service, Outcome: string(v)})
	}
	// Finished last: whoever follows the run has its whole journal once
	// it reads the state finished.
	r.State = StateFinished
	c.update(ctx, r)
	c.runs.WithLabelValues(string(v)).Inc()
	c.opts.Logger.Info("chaos run finished", "run", r.ID, "experiment", r.Experiment.Metadata.Name, "verdict", v, "reason", reason)
}

// probe evaluates probes, journals each result and returns the first that
// failed and whether any could not be evaluated.
func (c *Controller) probe(ctx context.Context, r *Run, phase Phase, probes []Probe) (failed *Result, errored bool) {
	for _, p := range probes {
		res := c.opts.Prober.Eval(ctx, p)
		ok := res.OK
		c.note(ctx, r.ID, Entry{Kind: EntryProbe, Phase: phase, Probe: p.Name, OK: &ok, Value: res.Value, Message: res.Message})
		if res.Err != nil {
			errored = true
		}
		if !res.OK && failed == nil {
			failed = &res
		}
	}
	return failed, errored
}

// execute is one run, from the first probe to the verdict.
func (c *Controller) execute(r Run, h *handle) {
	ctx := c.ctx
	spec := r.Experiment.Spec
	now := c.opts.Now().UTC()
	r.State, r.StartedAt = StateRunning, &now
	c.update(ctx, &r)
	c.note(ctx, r.ID, Entry{Kind: EntryState, Phase: PhaseBefore, Message: "running: checking the hypothesis before the fault"})

	if failed, errored := c.probe(ctx, &r, PhaseBefore, spec.Hypothesis.Probes); errored {
		c.finish(ctx, &r, VerdictErrored, "a probe could not be evaluated before the fault: "+failed.Message, false)
		return
	} else if failed != nil {
		c.finish(ctx, &r, VerdictAborted, "the hypothesis did not hold before the fault ("+failed.Probe+": "+failed.Message+"); nothing was injected", false)
		return
	}
	select {
	case reason := <-h.abort:
		c.finish(ctx, &r, VerdictAborted, reason+"; nothing was injected", false)
		return
	case <-ctx.Done():
		c.finish(ctx, &r, VerdictAborted, "the controller stopped; nothing was injected", false)
		return
	default:
	}

	ex := c.executor(r.Fault.Platform())
	req := Request{ExperimentID: r.ParentID, RunID: r.ID, ExperimentName: r.Experiment.Metadata.Name, Name: runName(r), Target: spec.Target, Fault: r.Fault, Spec: spec,
		Deadline: c.opts.Now().Add(spec.Duration.D())}
	if req.ExperimentID == "" {
		req.ExperimentID = r.ID
	}
	c.send(ctx, &r, Event{ID: r.ID + "-started", Type: EventChaosStarted, Kind: r.Fault.Kind(), Target: spec.Target.Service})
	injs, err := ex.Inject(ctx, req)
	if err != nil {
		c.note(ctx, r.ID, Entry{Kind: EntryError, Message: "injection failed: " + err.Error()})
		c.finish(ctx, &r, VerdictErrored, "the fault could not be injected", true)
		return
	}
	r.Injections = injs
	c.update(ctx, &r)
	c.activeFault.Add(float64(len(injs)))
	for _, in := range injs {
		c.note(ctx, r.ID, Entry{Kind: EntryInject, Phase: PhaseDuring, Message: fmt.Sprintf("%s injected into %s until %s", in.Kind, in.Target, in.Deadline.UTC().Format(time.RFC3339))})
	}

	expect := spec.expectation()
	var (
		verdict   Verdict
		reason    string
		broken    bool
		abortedAt time.Time
	)
	end := time.NewTimer(spec.Duration.D())
	tick := time.NewTicker(spec.interval())
	probes := append(slices.Clone(spec.Hypothesis.Probes), spec.AbortConditions...)
	nHyp := len(spec.Hypothesis.Probes)
during:
	for {
		select {
		case <-end.C:
			break during
		case why := <-h.abort:
			verdict, reason, abortedAt = VerdictAborted, why, c.opts.Now()
			break during
		case <-ctx.Done():
			verdict, reason, abortedAt = VerdictAborted, "the controller stopped", c.opts.Now()
			break during
		case <-tick.C:
		}
		hypFailed, hypErr := c.probe(ctx, &r, PhaseDuring, probes[:nHyp])
		condFailed, condErr := c.probe(ctx, &r, PhaseDuring, probes[nHyp:])
		switch {
		case hypErr || condErr:
			msg := ""
			if hypFailed != nil {
				msg = hypFailed.Probe + ": " + hypFailed.Message
			} else if condFailed != nil {
				msg = condFailed.Probe + ": " + condFailed.Message
			}
			verdict, reason, abortedAt = VerdictErrored, "a probe could not be evaluated during the fault ("+msg+")", c.opts.Now()
		case hypFailed != nil:
			if !broken {
				broken = true
				c.openIncident(ctx, &r, hypFailed)
			}
			if expect == ExpectHolds {
				verdict, reason, abortedAt = VerdictFailed, "the hypothesis broke under the fault ("+hypFailed.Probe+": "+hypFailed.Message+")", c.opts.Now()
			}
		}
		if verdict == "" && condFailed != nil {
			verdict, reason, abortedAt = VerdictAborted, "abort condition "+condFailed.Probe+" failed: "+condFailed.Message, c.opts.Now()
		}
		if verdict != "" {
			c.note(ctx, r.ID, Entry{Kind: EntryAbort, Phase: PhaseDuring, Message: "aborting: " + reason})
			break
		}
		if err := ex.Check(ctx, injs); err != nil {
			c.note(ctx, r.ID, Entry{Kind: EntryError, Phase: PhaseDuring, Message: "the fault is no longer in effect: " + err.Error()})
		}
	}
	end.Stop()
	tick.Stop()
	if verdict == VerdictAborted && !strings.HasPrefix(reason, "abort condition") {
		c.note(ctx, r.ID, Entry{Kind: EntryAbort, Phase: PhaseDuring, Message: "aborting: " + reason})
	}

	rmCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.RemoveTimeout)
	rmErr := ex.Remove(rmCtx, injs)
	cancel()
	c.activeFault.Sub(float64(len(injs)))
	if !abortedAt.IsZero() {
		c.timeToAbort.Observe(c.opts.Now().Sub(abortedAt).Seconds())
	}
	if rmErr != nil {
		c.note(ctx, r.ID, Entry{Kind: EntryError, Message: "removing the fault failed (it expires on its own deadline): " + rmErr.Error()})
		verdict, reason = VerdictErrored, "the fault could not be removed; it expires at its deadline"
	} else {
		c.note(ctx, r.ID, Entry{Kind: EntryRemove, Message: "fault removed"})
	}

	r.State = StateRecovering
	c.update(ctx, &r)
	recovered := c.recover(ctx, &r, spec)
	if recovered && r.IncidentID != "" {
		c.send(ctx, &r, Event{ID: r.ID + "-incident-resolved", Type: EventIncidentResolved, IncidentID: r.IncidentID})
		c.note(ctx, r.ID, Entry{Kind: EntryIncident, Message: "incident " + r.IncidentID + " resolved"})
	}
	if verdict == "" {
		switch {
		case expect == ExpectBreaks && !broken:
			verdict, reason = VerdictFailed, "the hypothesis held under the fault, but it was expected to break"
		case !recovered:
			verdict, reason = VerdictFailed, fmt.Sprintf("the hypothesis did not hold again within %s of the fault's removal", spec.recoverWithin())
		case expect == ExpectBreaks:
			verdict, reason = VerdictPassed, fmt.Sprintf("the hypothesis broke as expected and recovered within %s", spec.recoverWithin())
		default:
			verdict, reason = VerdictPassed, "the hypothesis held under the fault"
		}
	} else if !recovered {
		reason += fmt.Sprintf("; the hypothesis did not hold again within %s", spec.recoverWithin())
	}
	c.finish(ctx, &r, verdict, reason, true)
}

// recover checks the hypothesis after the fault until it holds or the
// recovery time is over.
func (c *Controller) recover(ctx context.Context, r *Run, spec Spec) bool {
	deadline := time.NewTimer(spec.recoverWithin())
	defer deadline.Stop()
	for {
		failed, _ := c.probe(ctx, r, PhaseAfter, spec.Hypothesis.Probes)
		if failed == nil {
			c.note(ctx, r.ID, Entry{Kind: EntryRecover, Phase: PhaseAfter, Message: "the hypothesis holds after the fault"})
			return true
		}
		wait := time.NewTimer(spec.interval())
		select {
		case <-wait.C:
		case <-deadline.C:
			wait.Stop()
			c.note(ctx, r.ID, Entry{Kind: EntryRecover, Phase: PhaseAfter, Message: fmt.Sprintf("the hypothesis did not hold again within %s", spec.recoverWithin())})
			return false
		case <-ctx.Done():
			wait.Stop()
			return false
		}
	}
}

func (c *Controller) openIncident(ctx context.Context, r *Run, failed *Result) {
	r.IncidentID = "chaos-" + r.ID
	c.update(ctx, r)
	c.send(ctx, r, Event{ID: r.ID + "-incident-opened", Type: EventIncidentOpened, IncidentID: r.IncidentID,
		Service: r.Experiment.Spec.Target.Service, Environment: c.opts.Environment, Severity: "minor", StartedAt: c.opts.Now().UTC()})
	c.note(ctx, r.ID, Entry{Kind: EntryIncident, Phase: PhaseDuring, Probe: failed.Probe, Message: "incident " + r.IncidentID + " opened: the hypothesis broke"})
}

// runName is the DNS label of a run's objects: the experiment's name and
// the run's id.
func runName(r Run) string {
	n := r.Experiment.Metadata.Name + "-" + r.ID
	if len(n) > 63 {
		n = strings.TrimRight(n[:63], "-")
	}
	return n
}

// schedule fires the runs of a cron schedule or game day.
func (c *Controller) schedule(parent Run, h *handle) {
	ctx := c.ctx
	next := c.nextSlot(parent)
	last := c.opts.Now()
	for {
		at, fault, ok := next(last)
		if !ok {
			c.finishSchedule(ctx, &parent, "the game day's windows are over")
			return
		}
		parent.NextAt = &at
		c.update(ctx, &parent)
		c.note(ctx, parent.ID, Entry{Kind: EntrySchedule, Message: fmt.Sprintf("next run at %s: %s", at.UTC().Format(time.RFC3339), fault.Kind())})
		t := time.NewTimer(max(at.Sub(c.opts.Now()), 0))
		select {
		case why := <-h.abort:
			t.Stop()
			c.finish(ctx, &parent, VerdictAborted, why, false)
			return
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		last = at
		if halted, _ := c.Halted(); halted {
			c.note(ctx, parent.ID, Entry{Kind: EntrySchedule, Message: "slot skipped: the kill switch is on"})
			continue
		}
		if c.childRunning(parent.ID) {
			c.note(ctx, parent.ID, Entry{Kind: EntrySchedule, Message: "slot skipped: the previous run is still running"})
			continue
		}
		child := Run{ID: c.opts.NewID(), ParentID: parent.ID, Experiment: parent.Experiment, Fault: fault, State: StatePending, CreatedAt: c.opts.Now().UTC()}
		if err := c.opts.Store.CreateRun(ctx, child); err != nil {
			c.note(ctx, parent.ID, Entry{Kind: EntryError, Message: "starting a run: " + err.Error()})
			continue
		}
		c.note(ctx, parent.ID, Entry{Kind: EntrySchedule, Message: "started run " + child.ID})
		c.spawn(child)
	}
}

// nextSlot returns the schedule's next slot after a time.
func (c *Controller) nextSlot(parent Run) func(after time.Time) (time.Time, Fault, bool) {
	spec := parent.Experiment.Spec
	if spec.GameDay != nil {
		slots := spec.GameDay.Plan(spec.Duration.D() + spec.recoverWithin())
		return func(after time.Time) (time.Time, Fault, bool) {
			for _, s := range slots {
				if s.At.After(after) {
					return s.At, spec.GameDay.Faults[s.Fault], true
				}
			}
			return time.Time{}, Fault{}, false
		}
	}
	sched, err := ParseCron(spec.Schedule.Cron)
	if err != nil {
		return func(time.Time) (time.Time, Fault, bool) { return time.Time{}, Fault{}, false }
	}
	return func(after time.Time) (time.Time, Fault, bool) { return sched.Next(after), spec.Fault, true }
}

func (c *Controller) childRunning(parentID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, h := range c.live {
		if h.parentID == parentID {
			return true
		}
	}
	return false
}

// finishSchedule gives a game day the worst verdict of its runs, once they
// are all finished.
func (c *Controller) finishSchedule(ctx context.Context, parent *Run, reason string) {
	for c.childRunning(parent.ID) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	children, err := c.opts.Store.Runs(ctx, RunFilter{ParentID: parent.ID, Limit: 10000})
	if err != nil {
		c.finish(ctx, parent, VerdictErrored, "reading the game day's runs: "+err.Error(), false)
		return
	}
	rank := map[Verdict]int{VerdictPassed: 0, VerdictAborted: 1, VerdictErrored: 2, VerdictFailed: 3}
	v := VerdictPassed
	for _, ch := range children {
		if rank[ch.Verdict] > rank[v] {
			v = ch.Verdict
		}
	}
	c.finish(ctx, parent, v, fmt.Sprintf("%s; %d runs, the worst %s", reason, len(children), v), false)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
