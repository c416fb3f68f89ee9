package chaos

import (
	"fmt"
	"math"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/genericwebhook"
	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Bounds that validation enforces.
const (
	MaxDuration  = 24 * time.Hour
	MinInterval  = time.Second
	MaxProbes    = 20
	MaxGameFault = 50
)

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

type checker struct{ problems []FieldError }

func (c *checker) add(field, format string, args ...any) {
	c.problems = append(c.problems, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (c *checker) duration(field string, d Duration, required bool, lo, hi time.Duration) {
	if d == "" {
		if required {
			c.add(field, "is required")
		}
		return
	}
	v, err := time.ParseDuration(string(d))
	switch {
	case err != nil:
		c.add(field, "must be a duration such as \"30s\", not %q", string(d))
	case v < lo || v > hi:
		c.add(field, "must be between %s and %s, not %s", lo, hi, v)
	}
}

func (c *checker) percentage(field string, p float64) {
	if p != 0 && (p <= 0 || p > 100 || math.IsNaN(p)) {
		c.add(field, "must be in (0, 100], not %v", p)
	}
}

// Validate checks the whole experiment and returns an *Error (EINVALID)
// naming every field at fault, or nil.
func (e Experiment) Validate() error {
	c := &checker{}
	if e.APIVersion != APIVersion {
		c.add("apiVersion", "must be %s, not %q", APIVersion, e.APIVersion)
	}
	if e.Kind != KindExperiment {
		c.add("kind", "must be %s, not %q", KindExperiment, e.Kind)
	}
	if !dnsLabel.MatchString(e.Metadata.Name) || len(e.Metadata.Name) > 40 {
		c.add("metadata.name", "must be a DNS label of at most 40 characters (lower-case letters, digits, dashes), not %q", e.Metadata.Name)
	}
	e.Spec.check(c)
	if len(c.problems) > 0 {
		return invalid(c.problems...)
	}
	return nil
}

func (s Spec) check(c *checker) {
	s.Target.check(c, "spec.target")
	c.duration("spec.duration", s.Duration, true, time.Second, MaxDuration)
	if s.Schedule != nil && s.GameDay != nil {
		c.add("spec.schedule", "cannot be set with spec.gameDay")
	}
	if s.GameDay != nil {
		if s.Fault.count() != 0 {
			c.add("spec.fault", "must be empty with spec.gameDay, whose faults are drawn from spec.gameDay.faults")
		}
		s.GameDay.check(c, s)
	} else {
		s.checkFault(c, "spec.fault", s.Fault)
	}
	if s.Schedule != nil {
		if _, err := ParseCron(s.Schedule.Cron); err != nil {
			c.add("spec.schedule.cron", "%v", err)
		}
	}
	h := s.Hypothesis
	c.duration("spec.steadyStateHypothesis.interval", h.Interval, false, MinInterval, time.Hour)
	if len(h.Probes) == 0 {
		c.add("spec.steadyStateHypothesis.probes", "must list at least one probe")
	}
	checkProbes(c, "spec.steadyStateHypothesis.probes", h.Probes)
	checkProbes(c, "spec.abortConditions", s.AbortConditions)
	o := s.ExpectedOutcome
	if o.Hypothesis != "" && o.Hypothesis != ExpectHolds && o.Hypothesis != ExpectBreaks {
		c.add("spec.expectedOutcome.hypothesis", "must be holds or breaks, not %q", o.Hypothesis)
	}
	c.duration("spec.expectedOutcome.recoverWithin", o.RecoverWithin, false, time.Second, time.Hour)
}

func (t Target) check(c *checker, path string) {
	if !dnsLabel.MatchString(t.Service) {
		c.add(path+".service", "must name a service (a DNS label), not %q", t.Service)
	}
	k := t.Kubernetes
	if k == nil {
		return
	}
	path += ".kubernetes"
	sel := k.Selector
	if len(sel.Namespaces) == 0 && len(sel.Pods) == 0 {
		c.add(path+".selector.namespaces", "must name at least one namespace (or selector.pods): a selector may not reach the whole cluster")
	}
	if len(sel.LabelSelectors) == 0 && len(sel.ExpressionSelectors) == 0 && len(sel.Pods) == 0 && len(sel.FieldSelectors) == 0 {
		c.add(path+".selector", "must select pods by labels, expressions, fields or names")
	}
	br := k.BlastRadius
	if br.MaxPods < 0 {
		c.add(path+".blastRadius.maxPods", "must not be negative, not %d", br.MaxPods)
	}
	if br.MaxPercent < 0 || br.MaxPercent > 100 {
		c.add(path+".blastRadius.maxPercent", "must be in [0, 100], not %d", br.MaxPercent)
	}
	if br.MaxPods == 0 && br.MaxPercent == 0 {
		c.add(path+".blastRadius", "must bound the pods reached (maxPods, maxPercent)")
	}
	n, err := strconv.Atoi(k.Value)
	switch k.Mode {
	case v1alpha1.OneMode:
		if br.MaxPods < 1 && br.MaxPercent < 1 {
			c.add(path+".mode", "one needs blastRadius.maxPods of at least 1")
		}
	case v1alpha1.AllMode:
		if br.MaxPercent != 100 {
			c.add(path+".mode", "all reaches every selected pod: it needs blastRadius.maxPercent 100, not %d", br.MaxPercent)
		}
	case v1alpha1.FixedMode:
		switch {
		case err != nil || n < 1:
			c.add(path+".value", "must be a count of pods of at least 1 with mode fixed, not %q", k.Value)
		case n > br.MaxPods:
			c.add(path+".value", "%d pods exceed blastRadius.maxPods %d", n, br.MaxPods)
		}
	case v1alpha1.FixedPercentMode:
		switch {
		case err != nil || n < 1 || n > 100:
			c.add(path+".value", "must be a percentage in [1, 100] with mode fixed-percent, not %q", k.Value)
		case n > br.MaxPercent:
			c.add(path+".value", "%d%% of the pods exceeds blastRadius.maxPercent %d", n, br.MaxPercent)
		}
	default:
		c.add(path+".mode", "must be one, all, fixed or fixed-percent, not %q", k.Mode)
	}
}

// checkFault checks one fault against the target: a Chaos Mesh fault needs
// a Kubernetes target, a local one refuses it.
func (s Spec) checkFault(c *checker, path string, f Fault) {
	switch n := f.count(); {
	case n == 0:
		c.add(path, "must set one fault: podChaos, networkChaos, httpChaos, stressChaos, http, process or tcp")
		return
	case n > 1:
		c.add(path, "must set exactly one fault, not %d", n)
		return
	}
	if f.Platform() == PlatformKubernetes {
		if s.Target.Kubernetes == nil {
			c.add("spec.target.kubernetes", "is required by the Chaos Mesh fault %s", f.Kind())
			return
		}
		checkChaosMesh(c, path, s, f)
		return
	}
	if s.Target.Kubernetes != nil {
		c.add("spec.target.kubernetes", "must not be set with the local fault %s", f.Kind())
	}
	switch {
	case f.HTTP != nil:
		h, p := f.HTTP, path+".http"
		switch h.Action {
		case HTTPLatency:
			c.duration(p+".delay", h.Delay, true, time.Millisecond, 5*time.Minute)
		case HTTPAbort:
			if h.Status != 0 && (h.Status < 400 || h.Status > 599) {
				c.add(p+".status", "must be 0 (reset the connection) or a 4xx or 5xx code, not %d", h.Status)
			}
		case HTTPError:
			if h.Status != 0 && (h.Status < 500 || h.Status > 599) {
				c.add(p+".status", "must be a 5xx code, not %d", h.Status)
			}
		default:
			c.add(p+".action", "must be latency, abort or error, not %q", h.Action)
		}
		if h.Action != HTTPLatency && h.Delay != "" {
			c.add(p+".delay", "applies to action latency only")
		}
		if h.Route != "" && !strings.HasPrefix(h.Route, "/") {
			c.add(p+".route", "must be a route pattern starting with /, not %q", h.Route)
		}
		if h.Method != "" && !slices.Contains([]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}, strings.ToUpper(h.Method)) {
			c.add(p+".method", "must be an HTTP method, not %q", h.Method)
		}
		c.percentage(p+".percentage", h.Percentage)
	case f.Process != nil:
		if a := f.Process.Action; a != ProcessKill && a != ProcessRestart {
			c.add(path+".process.action", "must be kill or restart, not %q", a)
		}
	case f.TCP != nil:
		t, p := f.TCP, path+".tcp"
		if !dnsLabel.MatchString(t.Dependency) {
			c.add(p+".dependency", "must name a dependency (postgres, or a service), not %q", t.Dependency)
		}
		switch t.Action {
		case TCPLatency:
			c.duration(p+".latency", t.Latency, true, time.Millisecond, time.Minute)
			c.duration(p+".jitter", t.Jitter, false, 0, time.Minute)
		case TCPBandwidth:
			if t.RateKBps <= 0 {
				c.add(p+".rateKBps", "must be positive, not %d", t.RateKBps)
			}
		case TCPTimeout, TCPReset:
			c.duration(p+".timeout", t.Timeout, false, 0, time.Hour)
		default:
			c.add(p+".action", "must be latency, bandwidth, timeout or reset, not %q", t.Action)
		}
		if t.Direction != "" && t.Direction != "upstream" && t.Direction != "downstream" {
			c.add(p+".direction", "must be upstream or downstream, not %q", t.Direction)
		}
		c.percentage(p+".percentage", t.Percentage)
	}
}

// checkChaosMesh checks a Chaos Mesh fault as Chaos Mesh's admission
// webhook and the CRD's enums would, so that an invalid fault is refused
// here, with its field named, before any API server sees it.
func checkChaosMesh(c *checker, path string, s Spec, f Fault) {
	p := path + "." + chaosMeshKey[f.Kind()]
	var sel *v1alpha1.PodSelector
	var duration *string
	switch {
	case f.PodChaos != nil:
		sel, duration = &f.PodChaos.PodSelector, f.PodChaos.Duration
		if a := f.PodChaos.Action; !slices.Contains([]v1alpha1.PodChaosAction{v1alpha1.PodKillAction, v1alpha1.PodFailureAction, v1alpha1.ContainerKillAction}, a) {
			c.add(p+".action", "must be pod-kill, pod-failure or container-kill, not %q", a)
		}
		if f.PodChaos.Action == v1alpha1.ContainerKillAction && len(f.PodChaos.ContainerNames) == 0 {
			c.add(p+".containerNames", "is required by action container-kill")
		}
	case f.NetworkChaos != nil:
		sel, duration = &f.NetworkChaos.PodSelector, f.NetworkChaos.Duration
		if a := f.NetworkChaos.Action; !slices.Contains([]v1alpha1.NetworkChaosAction{v1alpha1.NetemAction, v1alpha1.DelayAction, v1alpha1.LossAction,
			v1alpha1.DuplicateAction, v1alpha1.CorruptAction, v1alpha1.PartitionAction, v1alpha1.BandwidthAction}, a) {
			c.add(p+".action", "must be netem, delay, loss, duplicate, corrupt, partition or bandwidth, not %q", a)
		}
		if d := f.NetworkChaos.Direction; d != "" && !slices.Contains([]v1alpha1.Direction{v1alpha1.To, v1alpha1.From, v1alpha1.Both}, d) {
			c.add(p+".direction", "must be to, from or both, not %q", d)
		}
	case f.HTTPChaos != nil:
		sel, duration = &f.HTTPChaos.PodSelector, f.HTTPChaos.Duration
		if t := f.HTTPChaos.Target; t != v1alpha1.PodHttpRequest && t != v1alpha1.PodHttpResponse {
			c.add(p+".target", "must be Request or Response, not %q", t)
		}
		if f.HTTPChaos.Port <= 0 || f.HTTPChaos.Port > 65535 {
			c.add(p+".port", "must be a port in [1, 65535], not %d", f.HTTPChaos.Port)
		}
		a := f.HTTPChaos.PodHttpChaosActions
		if (a.Abort == nil || !*a.Abort) && a.Delay == nil && a.Replace == nil && a.Patch == nil {
			c.add(p, "must set an action: abort, delay, replace or patch")
		}
	case f.StressChaos != nil:
		sel, duration = &f.StressChaos.PodSelector, f.StressChaos.Duration
		st := f.StressChaos.Stressors
		if (st == nil || (st.MemoryStressor == nil && st.CPUStressor == nil)) && f.StressChaos.StressngStressors == "" {
			c.add(p+".stressors", "must set a cpu or memory stressor (or stressngStressors)")
		}
	}
	if !selectorEmpty(sel.Selector) || sel.Mode != "" || sel.Value != "" {
		c.add(p+".selector", "must be left empty: spec.target.kubernetes selects the pods, within its blast radius")
	}
	if duration != nil {
		c.add(p+".duration", "must be left empty: spec.duration is the fault's duration")
	}
	if len(c.problems) > 0 {
		return
	}
	obj, err := s.ChaosMeshObject(f, "validation", "default")
	if err != nil {
		c.add(p, "%v", err)
		return
	}
	for _, fe := range genericwebhook.Validate(obj) {
		c.add(ChaosMeshField(f, path, jsonPath(reflect.TypeOf(obj), fe.Field)), "%s", fe.ErrorBody())
	}
}

// chaosMeshKey is the document's key of a Chaos Mesh fault's kind.
var chaosMeshKey = map[string]string{
	v1alpha1.KindPodChaos: "podChaos", v1alpha1.KindNetworkChaos: "networkChaos",
	v1alpha1.KindHTTPChaos: "httpChaos", v1alpha1.KindStressChaos: "stressChaos",
}

// jsonPath turns the Go field path of Chaos Mesh's webhook errors
// ("Spec.TcParameter.Delay.Correlation") into the document's JSON path
// ("spec.delay.correlation"): inlined structs drop out, names follow the
// json tags.
func jsonPath(t reflect.Type, goPath string) string {
	var out []string
	for _, seg := range strings.Split(goPath, ".") {
		name, idx, _ := strings.Cut(seg, "[")
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			out = append(out, seg)
			continue
		}
		f, ok := t.FieldByName(name)
		if !ok {
			out = append(out, seg)
			continue
		}
		t = f.Type
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && tag == "" {
			continue
		}
		if tag == "" {
			tag = name
		}
		if idx != "" {
			tag += "[" + idx
		}
		out = append(out, tag)
	}
	return strings.Join(out, ".")
}

// ChaosMeshField turns the path of a field of the Chaos Mesh object built
// for the fault f (from the object's root, "spec.delay.latency", as Chaos
// Mesh's webhook or an API server names it) into the experiment
// document's: the selector's fields come from spec.target.kubernetes, the
// rest from the fault at faultPath ("spec.fault", "spec.gameDay.faults[1]").
func ChaosMeshField(f Fault, faultPath, objectField string) string {
	field := strings.TrimPrefix(objectField, "spec.")
	for _, sel := range []string{"selector", "mode", "value"} {
		if field == sel || strings.HasPrefix(field, sel+".") {
			return "spec.target.kubernetes." + field
		}
	}
	p := faultPath + "." + chaosMeshKey[f.Kind()]
	if field == "spec" || field == "" {
		return p
	}
	return p + "." + field
}

// Labels and annotations Estate puts on the Kubernetes objects it
// creates, so that a restarted controller finds what it owns and a reader
// sees whose they are.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "estate-chaos"
	// LabelEnvironment is the environment of the controller that created
	// the object: a controller removes only its own environment's objects.
	LabelEnvironment = "chaos.estate.dev/environment"
	// LabelExperiment is the run's experiment: the run, or the schedule or
	// game day it belongs to.
	LabelExperiment = "chaos.estate.dev/experiment"
	LabelRun        = "chaos.estate.dev/run"
	// AnnotationExperimentName is the experiment document's name.
	AnnotationExperimentName = "chaos.estate.dev/experiment-name"
	// AnnotationDeadline is when the fault must be gone (RFC 3339).
	AnnotationDeadline = "chaos.estate.dev/deadline"
)

// ChaosMeshObject builds the Chaos Mesh object of a Kubernetes fault for a
// run: f's spec with the target's selector, the experiment's duration,
// Chaos Mesh's defaults (as its admission webhook sets them) and the label
// of Estate's objects. The Kubernetes executor adds the run's labels and
// creates it.
func (s Spec) ChaosMeshObject(f Fault, name, namespace string) (client.Object, error) {
	k := s.Target.Kubernetes
	if k == nil {
		return nil, fmt.Errorf("the fault %s needs spec.target.kubernetes", f.Kind())
	}
	sel := v1alpha1.PodSelector{Selector: k.Selector, Mode: k.Mode, Value: k.Value}
	d := string(s.Duration)
	meta := metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{LabelManagedBy: ManagedBy}}
	var obj client.Object
	switch {
	case f.PodChaos != nil:
		spec := f.PodChaos.DeepCopy()
		spec.PodSelector, spec.Duration = sel, &d
		obj = &v1alpha1.PodChaos{TypeMeta: typeMeta(v1alpha1.KindPodChaos), ObjectMeta: meta, Spec: *spec}
	case f.NetworkChaos != nil:
		spec := f.NetworkChaos.DeepCopy()
		spec.PodSelector, spec.Duration = sel, &d
		obj = &v1alpha1.NetworkChaos{TypeMeta: typeMeta(v1alpha1.KindNetworkChaos), ObjectMeta: meta, Spec: *spec}
	case f.HTTPChaos != nil:
		spec := f.HTTPChaos.DeepCopy()
		spec.PodSelector, spec.Duration = sel, &d
		obj = &v1alpha1.HTTPChaos{TypeMeta: typeMeta(v1alpha1.KindHTTPChaos), ObjectMeta: meta, Spec: *spec}
	case f.StressChaos != nil:
		spec := f.StressChaos.DeepCopy()
		spec.PodSelector, spec.Duration = sel, &d
		obj = &v1alpha1.StressChaos{TypeMeta: typeMeta(v1alpha1.KindStressChaos), ObjectMeta: meta, Spec: *spec}
	default:
		return nil, fmt.Errorf("the fault %q is not a Chaos Mesh fault", f.Kind())
	}
	// As Chaos Mesh's admission webhook does before it validates.
	genericwebhook.Default(obj)
	return obj, nil
}

func typeMeta(kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: kind}
}

func (g GameDay) check(c *checker, s Spec) {
	p := "spec.gameDay"
	if len(g.Windows) == 0 {
		c.add(p+".windows", "must list at least one window")
	}
	for i, w := range g.Windows {
		if w.Start.IsZero() || w.End.IsZero() || !w.End.After(w.Start) {
			c.add(fmt.Sprintf("%s.windows[%d]", p, i), "must have a start before its end")
		} else if w.End.Sub(w.Start) > 7*24*time.Hour {
			c.add(fmt.Sprintf("%s.windows[%d]", p, i), "must be at most 7 days long")
		}
	}
	c.duration(p+".every", g.Every, true, time.Minute, 24*time.Hour)
	if g.Every.D() > 0 && g.Every.D() < s.Duration.D()+s.recoverWithin() {
		c.add(p+".every", "must leave room for a run: at least spec.duration plus the recovery time (%s)", s.Duration.D()+s.recoverWithin())
	}
	if g.Probability <= 0 || g.Probability > 1 || math.IsNaN(g.Probability) {
		c.add(p+".probability", "must be in (0, 1], not %v", g.Probability)
	}
	if len(g.Faults) == 0 || len(g.Faults) > MaxGameFault {
		c.add(p+".faults", "must list 1 to %d faults, not %d", MaxGameFault, len(g.Faults))
	}
	for i, f := range g.Faults {
		s.checkFault(c, fmt.Sprintf("%s.faults[%d]", p, i), f)
	}
}

func checkProbes(c *checker, path string, probes []Probe) {
	if len(probes) > MaxProbes {
		c.add(path, "must list at most %d probes, not %d", MaxProbes, len(probes))
		return
	}
	seen := map[string]bool{}
	for i, pr := range probes {
		p := fmt.Sprintf("%s[%d]", path, i)
		if !dnsLabel.MatchString(pr.Name) {
			c.add(p+".name", "must be a DNS label, not %q", pr.Name)
		} else if seen[pr.Name] {
			c.add(p+".name", "repeats the probe %q", pr.Name)
		}
		seen[pr.Name] = true
		n := 0
		for _, set := range []bool{pr.SLO != nil, pr.PromQL != nil, pr.HTTP != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			c.add(p, "must set exactly one of slo, promql and http")
			continue
		}
		switch {
		case pr.SLO != nil:
			if pr.SLO.SLO == "" {
				c.add(p+".slo.name", "is required")
			}
			if _, err := time.ParseDuration(pr.SLO.Window); err != nil {
				c.add(p+".slo.window", "must be a window such as \"5m\" or \"1h\", not %q", pr.SLO.Window)
			}
			if pr.SLO.MaxBurnRate <= 0 || math.IsNaN(pr.SLO.MaxBurnRate) {
				c.add(p+".slo.maxBurnRate", "must be positive, not %v", pr.SLO.MaxBurnRate)
			}
		case pr.PromQL != nil:
			if strings.TrimSpace(pr.PromQL.Query) == "" {
				c.add(p+".promql.query", "is required")
			}
			if pr.PromQL.Min == nil && pr.PromQL.Max == nil {
				c.add(p+".promql", "must bound the value with min, max or both")
			}
			if pr.PromQL.Min != nil && pr.PromQL.Max != nil && *pr.PromQL.Min > *pr.PromQL.Max {
				c.add(p+".promql.min", "must not exceed max")
			}
		case pr.HTTP != nil:
			h := pr.HTTP
			switch {
			case h.URL != "" && (h.Service != "" || h.Path != ""):
				c.add(p+".http.url", "cannot be set with service and path")
			case h.URL != "":
				if u, err := url.Parse(h.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					c.add(p+".http.url", "must be an http(s) URL, not %q", h.URL)
				}
			case !dnsLabel.MatchString(h.Service) || !strings.HasPrefix(h.Path, "/"):
				c.add(p+".http", "must set url, or service and a path starting with /")
			}
			if h.Status != 0 && (h.Status < 100 || h.Status > 599) {
				c.add(p+".http.status", "must be an HTTP status, not %d", h.Status)
			}
			c.duration(p+".http.timeout", h.Timeout, false, time.Millisecond, time.Minute)
		}
	}
}

func selectorEmpty(s v1alpha1.PodSelectorSpec) bool {
	return len(s.Namespaces) == 0 && len(s.LabelSelectors) == 0 && len(s.ExpressionSelectors) == 0 &&
		len(s.FieldSelectors) == 0 && len(s.AnnotationSelectors) == 0 && len(s.Nodes) == 0 &&
		len(s.Pods) == 0 && len(s.NodeSelectors) == 0 && len(s.PodPhaseSelectors) == 0
}
