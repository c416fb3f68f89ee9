package chaos

import (
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
)

// APIVersion and KindExperiment head every experiment document.
const (
	APIVersion     = "chaos.estate.dev/v1"
	KindExperiment = "Experiment"
)

// Experiment is an experiment document: what to break, for how long, and
// what must hold meanwhile.
type Experiment struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata"`
	Spec       Spec     `json:"spec"`
}

// Metadata names an experiment.
type Metadata struct {
	// Name is a DNS label: it names the Kubernetes objects of the runs.
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
}

// Spec is the experiment proper.
type Spec struct {
	Target Target `json:"target"`
	Fault  Fault  `json:"fault"`
	// Duration is how long the fault stays injected; it is also the
	// fault's own deadline where it is injected.
	Duration Duration `json:"duration"`
	// Schedule runs the experiment on a cron schedule instead of once.
	Schedule *Schedule `json:"schedule,omitempty"`
	// GameDay runs faults drawn at random from a list within windows.
	GameDay    *GameDay   `json:"gameDay,omitempty"`
	Hypothesis Hypothesis `json:"steadyStateHypothesis"`
	// AbortConditions are probes checked during the fault beside the
	// hypothesis: one that fails aborts the run whatever the expected
	// outcome.
	AbortConditions []Probe         `json:"abortConditions,omitempty"`
	ExpectedOutcome ExpectedOutcome `json:"expectedOutcome"`
}

// Target is what the fault is injected into.
type Target struct {
	// Service names the service: a target of `estate up`, or the service
	// the Kubernetes selector picks pods of (reported in events).
	Service string `json:"service"`
	// Kubernetes selects pods, for the Chaos Mesh faults.
	Kubernetes *KubernetesTarget `json:"kubernetes,omitempty"`
}

// KubernetesTarget selects pods as Chaos Mesh does, within a blast radius.
type KubernetesTarget struct {
	Selector v1alpha1.PodSelectorSpec `json:"selector"`
	// Mode is one, all, fixed or fixed-percent.
	Mode v1alpha1.SelectorMode `json:"mode"`
	// Value is the count (fixed) or percentage (fixed-percent).
	Value       string      `json:"value,omitempty"`
	BlastRadius BlastRadius `json:"blastRadius"`
}

// BlastRadius bounds how many pods a fault may reach; validation refuses a
// selection that could exceed it.
type BlastRadius struct {
	// MaxPods bounds mode fixed (and one).
	MaxPods int `json:"maxPods"`
	// MaxPercent bounds mode fixed-percent; mode all needs 100.
	MaxPercent int `json:"maxPercent"`
}

// Fault is exactly one fault: a Chaos Mesh fault on Kubernetes, or one of
// its local equivalents on one machine.
type Fault struct {
	PodChaos     *v1alpha1.PodChaosSpec     `json:"podChaos,omitempty"`
	NetworkChaos *v1alpha1.NetworkChaosSpec `json:"networkChaos,omitempty"`
	HTTPChaos    *v1alpha1.HTTPChaosSpec    `json:"httpChaos,omitempty"`
	StressChaos  *v1alpha1.StressChaosSpec  `json:"stressChaos,omitempty"`

	HTTP    *HTTPFault    `json:"http,omitempty"`
	Process *ProcessFault `json:"process,omitempty"`
	TCP     *TCPFault     `json:"tcp,omitempty"`
}

// Platform is where a fault runs.
type Platform string

// The platforms.
const (
	PlatformKubernetes Platform = "kubernetes"
	PlatformLocal      Platform = "local"
)

// Kind names the fault as events report it: the Chaos Mesh kind, or
// http-latency, process-kill, tcp-reset...; "" when no fault is set.
func (f Fault) Kind() string {
	switch {
	case f.PodChaos != nil:
		return v1alpha1.KindPodChaos
	case f.NetworkChaos != nil:
		return v1alpha1.KindNetworkChaos
	case f.HTTPChaos != nil:
		return v1alpha1.KindHTTPChaos
	case f.StressChaos != nil:
		return v1alpha1.KindStressChaos
	case f.HTTP != nil:
		return "http-" + string(f.HTTP.Action)
	case f.Process != nil:
		return "process-" + string(f.Process.Action)
	case f.TCP != nil:
		return "tcp-" + string(f.TCP.Action)
	}
	return ""
}

// Platform says where the fault runs.
func (f Fault) Platform() Platform {
	if f.PodChaos != nil || f.NetworkChaos != nil || f.HTTPChaos != nil || f.StressChaos != nil {
		return PlatformKubernetes
	}
	return PlatformLocal
}

// count is how many faults are set; exactly one is valid.
func (f Fault) count() int {
	n := 0
	for _, set := range []bool{f.PodChaos != nil, f.NetworkChaos != nil, f.HTTPChaos != nil, f.StressChaos != nil, f.HTTP != nil, f.Process != nil, f.TCP != nil} {
		if set {
			n++
		}
	}
	return n
}

// HTTPAction is what a local HTTP fault does.
type HTTPAction string

// The local HTTP actions, applied by the service kit's fault middleware.
const (
	HTTPLatency HTTPAction = "latency"
	HTTPAbort   HTTPAction = "abort"
	HTTPError   HTTPAction = "error"
)

// HTTPFault is a fault of a service's HTTP API, by route and percentage.
type HTTPFault struct {
	Action HTTPAction `json:"action"`
	// Route is the chi route pattern as RED labels it; empty is every
	// route.
	Route  string `json:"route,omitempty"`
	Method string `json:"method,omitempty"`
	// Percentage of the matching requests hit; 100 when zero.
	Percentage float64 `json:"percentage,omitempty"`
	// Delay is the latency of action latency.
	Delay Duration `json:"delay,omitempty"`
	// Status is the answer of abort (0 resets the connection) and error
	// (a 5xx; 500 when zero).
	Status int `json:"status,omitempty"`
}

// ProcessAction is what a local process fault does.
type ProcessAction string

// The process actions on a target of `estate up`.
const (
	// ProcessKill stops the target for the experiment's duration and
	// starts it again at the end.
	ProcessKill ProcessAction = "kill"
	// ProcessRestart stops the target and starts it again at once.
	ProcessRestart ProcessAction = "restart"
)

// ProcessFault stops a target of `estate up`.
type ProcessFault struct {
	Action ProcessAction `json:"action"`
}

// TCPAction is what a local TCP fault does to a dependency's connections.
type TCPAction string

// The TCP actions, Toxiproxy's toxics.
const (
	TCPLatency   TCPAction = "latency"
	TCPBandwidth TCPAction = "bandwidth"
	TCPTimeout   TCPAction = "timeout"
	TCPReset     TCPAction = "reset"
)

// TCPFault degrades the connections from the target to one dependency
// through the proxy the dependency's address is routed through.
type TCPFault struct {
	// Dependency names the proxied connection: "postgres", or another
	// service ("invoicing").
	Dependency string    `json:"dependency"`
	Action     TCPAction `json:"action"`
	// Latency and Jitter of action latency.
	Latency Duration `json:"latency,omitempty"`
	Jitter  Duration `json:"jitter,omitempty"`
	// RateKBps is the bandwidth of action bandwidth, in KB/s.
	RateKBps int64 `json:"rateKBps,omitempty"`
	// Timeout of actions timeout (0: hold the data until removed) and
	// reset (the delay before the reset).
	Timeout Duration `json:"timeout,omitempty"`
	// Direction is upstream (to the dependency) or downstream (back);
	// downstream when empty.
	Direction string `json:"direction,omitempty"`
	// Percentage of connections hit; 100 when zero.
	Percentage float64 `json:"percentage,omitempty"`
}

// Schedule runs an experiment on a cron schedule.
type Schedule struct {
	// Cron is a five-field cron expression, or a descriptor (@hourly,
	// @every 1h).
	Cron string `json:"cron"`
}

// GameDay draws faults at random within windows; a seed makes the draw
// replayable.
type GameDay struct {
	Seed    uint64   `json:"seed"`
	Windows []Window `json:"windows"`
	// Every is the slot length: each slot of each window draws at most
	// one fault.
	Every Duration `json:"every"`
	// Probability that a slot draws a fault, in (0, 1].
	Probability float64 `json:"probability"`
	// Faults are drawn from; each runs on the experiment's target and for
	// its duration, under its hypothesis.
	Faults []Fault `json:"faults"`
}

// Window is a span of time in which a game day injects.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Hypothesis is the steady state: probes that must hold before the fault,
// during it (unless it is expected to break), and again after it.
type Hypothesis struct {
	Probes []Probe `json:"probes"`
	// Interval between two checks; 10s when zero.
	Interval Duration `json:"interval,omitempty"`
}

// Probe is one check of the steady state; exactly one kind is set.
type Probe struct {
	Name   string       `json:"name"`
	SLO    *SLOProbe    `json:"slo,omitempty"`
	PromQL *PromQLProbe `json:"promql,omitempty"`
	HTTP   *HTTPProbe   `json:"http,omitempty"`
}

// SLOProbe holds while an SLO's burn rate over a window is below a bound.
type SLOProbe struct {
	// SLO is the SLO's name, as the SLO API knows it.
	SLO string `json:"name"`
	// Window is the burn rate's window ("5m", "1h").
	Window      string  `json:"window"`
	MaxBurnRate float64 `json:"maxBurnRate"`
}

// PromQLProbe holds while every sample of a PromQL expression lies within
// bounds.
type PromQLProbe struct {
	Query string   `json:"query"`
	Min   *float64 `json:"min,omitempty"`
	Max   *float64 `json:"max,omitempty"`
	// AllowEmpty makes an empty result hold; by default no data fails.
	AllowEmpty bool `json:"allowEmpty,omitempty"`
}

// HTTPProbe holds while a request answers the expected status in time.
type HTTPProbe struct {
	// URL is absolute; or Service and Path name a service's endpoint.
	URL     string `json:"url,omitempty"`
	Service string `json:"service,omitempty"`
	Path    string `json:"path,omitempty"`
	Method  string `json:"method,omitempty"`
	// Status expected; 200 when zero.
	Status int `json:"status,omitempty"`
	// Timeout bounds the answer: a slower one fails. 5s when zero.
	Timeout Duration          `json:"timeout,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
}

// Expectation is what the hypothesis is expected to do under the fault.
type Expectation string

// The expectations.
const (
	// ExpectHolds: the hypothesis holds throughout; a breach aborts.
	ExpectHolds Expectation = "holds"
	// ExpectBreaks: the hypothesis breaks under the fault and recovers
	// within RecoverWithin of its removal.
	ExpectBreaks Expectation = "breaks"
)

// ExpectedOutcome gives a run its verdict.
type ExpectedOutcome struct {
	// Hypothesis is holds (the default) or breaks.
	Hypothesis Expectation `json:"hypothesis,omitempty"`
	// RecoverWithin bounds the recovery after the fault is removed; 1m
	// when zero.
	RecoverWithin Duration `json:"recoverWithin,omitempty"`
}

// Duration is a duration as Go writes it ("30s", "1m30s"), kept as text
// so that validation names the field of one that does not parse.
type Duration string

// D returns the duration; 0 when it is empty or does not parse (validation
// refuses the latter).
func (d Duration) D() time.Duration {
	v, err := time.ParseDuration(string(d))
	if err != nil {
		return 0
	}
	return v
}

// Dur returns d as a Duration.
func Dur(d time.Duration) Duration { return Duration(d.String()) }

// Defaults of the optional fields.
const (
	DefaultInterval      = 10 * time.Second
	DefaultRecoverWithin = time.Minute
	DefaultProbeTimeout  = 5 * time.Second
)

// interval is the hypothesis's interval, defaulted.
func (s Spec) interval() time.Duration {
	if s.Hypothesis.Interval.D() > 0 {
		return s.Hypothesis.Interval.D()
	}
	return DefaultInterval
}

// recoverWithin is the recovery bound, defaulted.
func (s Spec) recoverWithin() time.Duration {
	if s.ExpectedOutcome.RecoverWithin.D() > 0 {
		return s.ExpectedOutcome.RecoverWithin.D()
	}
	return DefaultRecoverWithin
}

// expectation is the expected outcome, defaulted.
func (s Spec) expectation() Expectation {
	if s.ExpectedOutcome.Hypothesis == "" {
		return ExpectHolds
	}
	return s.ExpectedOutcome.Hypothesis
}
