// Package chaosmesh is the chaos executor of Kubernetes: it creates the
// Chaos Mesh resource of a run's fault (PodChaos, NetworkChaos, HTTPChaos or
// StressChaos) with controller-runtime's client, labelled and annotated as
// the run's, reads its status while the run lasts, and deletes it when the
// run ends, is aborted or halted. A controller that starts deletes the
// objects of its environment that no run claims, so that no fault outlives
// a run whose controller died (a Chaos Mesh object left behind keeps its
// fault, or injects it again on a schedule).
//
// Every object carries the run's duration as its own spec.duration: Chaos
// Mesh recovers the fault then, whatever happens to the controller.
package chaosmesh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/estatehq/estate/chaos"
)

// Options are what the executor is built from.
type Options struct {
	// Client reaches the cluster. Its scheme must know Chaos Mesh's
	// chaos-mesh.org/v1alpha1 (v1alpha1.AddToScheme).
	Client client.Client
	// Namespace holds the objects the executor creates; empty puts each
	// in the first namespace its selector names (or of the pods it
	// names). Chaos Mesh must be allowed to reach the selected pods from
	// there (its default, cluster-scoped, is).
	Namespace string
	// Environment labels every object (chaos.LabelEnvironment): Sweep
	// removes only the objects of its environment, so that controllers of
	// two environments may share a cluster. Required.
	Environment string
	// PollInterval is how often Remove reads an object it deleted until it
	// is gone (Chaos Mesh recovers the fault before it lets the object
	// go); 250ms when zero.
	PollInterval time.Duration
	Logger       *slog.Logger
}

// Executor is the Kubernetes chaos.Executor.
type Executor struct {
	opts Options
}

var _ chaos.Executor = (*Executor)(nil)

// New returns the executor. Errors: a missing client or environment, or a
// client whose scheme does not know Chaos Mesh's types.
func New(opts Options) (*Executor, error) {
	if opts.Client == nil {
		return nil, errors.New("chaosmesh: Options.Client is required")
	}
	if errs := validation.IsValidLabelValue(opts.Environment); opts.Environment == "" || len(errs) > 0 {
		return nil, fmt.Errorf("chaosmesh: Options.Environment must be a label value, not %q", opts.Environment)
	}
	for _, k := range kinds {
		if _, _, err := opts.Client.Scheme().ObjectKinds(k.object()); err != nil {
			return nil, fmt.Errorf("chaosmesh: the client's scheme does not know %s: %w", k.kind, err)
		}
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 250 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Executor{opts: opts}, nil
}

// kinds are the Chaos Mesh kinds the executor creates.
var kinds = []struct {
	kind   string
	object func() client.Object
	list   func() client.ObjectList
}{
	{v1alpha1.KindPodChaos, func() client.Object { return &v1alpha1.PodChaos{} }, func() client.ObjectList { return &v1alpha1.PodChaosList{} }},
	{v1alpha1.KindNetworkChaos, func() client.Object { return &v1alpha1.NetworkChaos{} }, func() client.ObjectList { return &v1alpha1.NetworkChaosList{} }},
	{v1alpha1.KindHTTPChaos, func() client.Object { return &v1alpha1.HTTPChaos{} }, func() client.ObjectList { return &v1alpha1.HTTPChaosList{} }},
	{v1alpha1.KindStressChaos, func() client.Object { return &v1alpha1.StressChaos{} }, func() client.ObjectList { return &v1alpha1.StressChaosList{} }},
}

// newObject returns an empty object of a kind.
func newObject(kind string) (client.Object, bool) {
	for _, k := range kinds {
		if k.kind == kind {
			return k.object(), true
		}
	}
	return nil, false
}

// Platform implements chaos.Executor.
func (e *Executor) Platform() chaos.Platform { return chaos.PlatformKubernetes }

// namespace is where a target's object goes.
func (e *Executor) namespace(t *chaos.KubernetesTarget) string {
	if e.opts.Namespace != "" || t == nil {
		return e.opts.Namespace
	}
	if len(t.Selector.Namespaces) > 0 {
		return t.Selector.Namespaces[0]
	}
	pods := make([]string, 0, len(t.Selector.Pods))
	for ns := range t.Selector.Pods {
		pods = append(pods, ns)
	}
	slices.Sort(pods)
	if len(pods) > 0 {
		return pods[0]
	}
	return ""
}

// object builds the run's Chaos Mesh object: the fault's spec with the
// target's selector and the run's duration, labelled as the run's.
func (e *Executor) object(req chaos.Request) (client.Object, error) {
	ns := e.namespace(req.Target.Kubernetes)
	if ns == "" {
		return nil, invalid(fieldError("spec.target.kubernetes.selector.namespaces", "must name a namespace for the object"))
	}
	obj, err := req.Spec.ChaosMeshObject(req.Fault, req.Name, ns)
	if err != nil {
		return nil, invalid(fieldError(faultPath(req), err.Error()))
	}
	labels := obj.GetLabels()
	labels[chaos.LabelEnvironment] = e.opts.Environment
	labels[chaos.LabelExperiment] = req.ExperimentID
	labels[chaos.LabelRun] = req.RunID
	obj.SetAnnotations(map[string]string{
		chaos.AnnotationExperimentName: req.ExperimentName,
		chaos.AnnotationDeadline:       req.Deadline.UTC().Format(time.RFC3339),
	})
	return obj, nil
}

func faultPath(req chaos.Request) string {
	if req.FaultPath == "" {
		return "spec.fault"
	}
	return req.FaultPath
}

// ref is an injection's handle: kind/namespace/name.
func ref(obj client.Object) string {
	return obj.GetObjectKind().GroupVersionKind().Kind + "/" + obj.GetNamespace() + "/" + obj.GetName()
}

func parseRef(r string) (client.Object, error) {
	parts := strings.SplitN(r, "/", 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("not a Chaos Mesh object reference: %q", r)
	}
	obj, ok := newObject(parts[0])
	if !ok {
		return nil, fmt.Errorf("not a Chaos Mesh kind this executor creates: %q", parts[0])
	}
	obj.GetObjectKind().SetGroupVersionKind(v1alpha1.SchemeGroupVersion.WithKind(parts[0]))
	obj.SetNamespace(parts[1])
	obj.SetName(parts[2])
	return obj, nil
}

func (e *Executor) injection(req chaos.Request, obj client.Object) (chaos.Injection, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return chaos.Injection{}, fmt.Errorf("encoding %s: %w", ref(obj), err)
	}
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	return chaos.Injection{
		Executor: chaos.PlatformKubernetes,
		Kind:     kind,
		Target:   fmt.Sprintf("%s %s/%s", kind, obj.GetNamespace(), obj.GetName()),
		Ref:      ref(obj),
		Detail:   map[string]string{"kind": kind, "namespace": obj.GetNamespace(), "name": obj.GetName(), "object": string(b)},
		Deadline: req.Deadline,
	}, nil
}

// Plan implements chaos.Executor: it builds the object and has the API
// server validate it (a server-side dry run), creating nothing.
func (e *Executor) Plan(ctx context.Context, req chaos.Request) ([]chaos.Injection, error) {
	obj, err := e.object(req)
	if err != nil {
		return nil, err
	}
	dry, ok := obj.DeepCopyObject().(client.Object)
	if !ok {
		return nil, fmt.Errorf("copying %s", ref(obj))
	}
	if err := e.opts.Client.Create(ctx, dry, client.DryRunAll); err != nil {
		return nil, e.refusal(req, obj, err)
	}
	in, err := e.injection(req, obj)
	if err != nil {
		return nil, err
	}
	return []chaos.Injection{in}, nil
}

// Inject implements chaos.Executor. Creating the object of a run that
// exists already (a retry) is not an error.
func (e *Executor) Inject(ctx context.Context, req chaos.Request) ([]chaos.Injection, error) {
	obj, err := e.object(req)
	if err != nil {
		return nil, err
	}
	in, err := e.injection(req, obj)
	if err != nil {
		return nil, err
	}
	if err := e.opts.Client.Create(ctx, obj); err != nil {
		if !apierrors.IsAlreadyExists(err) {
			return nil, e.refusal(req, obj, err)
		}
		have, _ := newObject(in.Kind)
		if gerr := e.opts.Client.Get(ctx, client.ObjectKeyFromObject(obj), have); gerr != nil || have.GetLabels()[chaos.LabelRun] != req.RunID {
			return nil, fmt.Errorf("%s exists and is not run %s's: %w", in.Target, req.RunID, err)
		}
	}
	e.opts.Logger.Info("chaos object created", "object", in.Ref, "run", req.RunID, "deadline", req.Deadline)
	return []chaos.Injection{in}, nil
}

// refusal classifies the API server's refusal of an object: a schema or
// admission refusal names the document's fields (EINVALID), a missing
// namespace the target's, a refusal by RBAC is EUNAVAILABLE.
func (e *Executor) refusal(req chaos.Request, obj client.Object, err error) error {
	var se apierrors.APIStatus
	switch {
	case apierrors.IsInvalid(err) && errors.As(err, &se):
		var fields []chaos.FieldError
		if d := se.Status().Details; d != nil {
			for _, c := range d.Causes {
				fields = append(fields, fieldError(chaos.ChaosMeshField(req.Fault, faultPath(req), c.Field), c.Message))
			}
		}
		if len(fields) == 0 {
			fields = append(fields, fieldError(faultPath(req), se.Status().Message))
		}
		return &chaos.Error{Code: chaos.EINVALID, Message: "the Kubernetes API server refused the fault", Fields: fields}
	case apierrors.IsNotFound(err):
		return invalid(fieldError("spec.target.kubernetes.selector.namespaces", fmt.Sprintf("the namespace %s of the object does not exist", obj.GetNamespace())))
	case apierrors.IsForbidden(err):
		return &chaos.Error{Code: chaos.EUNAVAILABLE, Message: "the controller may not create " + ref(obj) + " in this cluster",
			Fields: []chaos.FieldError{fieldError(faultPath(req), "the controller's service account may not create it")}}
	}
	return fmt.Errorf("creating %s: %w", ref(obj), err)
}

func fieldError(field, msg string) chaos.FieldError {
	return chaos.FieldError{Field: field, Message: msg}
}

func invalid(fields ...chaos.FieldError) error {
	return &chaos.Error{Code: chaos.EINVALID, Message: "the fault cannot be placed", Fields: fields}
}

// Check implements chaos.Executor: the object must exist, not be deleted,
// and, once Chaos Mesh has read it, have selected pods.
func (e *Executor) Check(ctx context.Context, injs []chaos.Injection) error {
	for _, in := range injs {
		obj, err := parseRef(in.Ref)
		if err != nil {
			return err
		}
		if err := e.opts.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("%s was deleted", in.Target)
			}
			return fmt.Errorf("reading %s: %w", in.Target, err)
		}
		if obj.GetDeletionTimestamp() != nil {
			return fmt.Errorf("%s is being deleted", in.Target)
		}
		st, ok := obj.(v1alpha1.StatefulObject)
		if !ok {
			continue
		}
		for _, c := range st.GetStatus().Conditions {
			switch {
			case c.Type == v1alpha1.ConditionSelected && c.Status == corev1.ConditionFalse:
				return fmt.Errorf("%s selects no pods: %s", in.Target, c.Reason)
			case c.Type == v1alpha1.ConditionPaused && c.Status == corev1.ConditionTrue:
				return fmt.Errorf("%s is paused", in.Target)
			}
		}
	}
	return nil
}

// Remove implements chaos.Executor: it deletes the objects and waits until
// they are gone, that is until Chaos Mesh has recovered their faults, or
// until ctx ends.
func (e *Executor) Remove(ctx context.Context, injs []chaos.Injection) error {
	var errs []error
	for _, in := range injs {
		obj, err := parseRef(in.Ref)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, e.delete(ctx, obj))
	}
	return errors.Join(errs...)
}

// delete deletes an object and waits until it is gone.
func (e *Executor) delete(ctx context.Context, obj client.Object) error {
	name := ref(obj)
	if err := e.opts.Client.Delete(ctx, obj, client.PropagationPolicy("Background")); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting %s: %w", name, err)
	}
	tick := time.NewTicker(e.opts.PollInterval)
	defer tick.Stop()
	for {
		err := e.opts.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj)
		switch {
		case apierrors.IsNotFound(err):
			e.opts.Logger.Info("chaos object deleted", "object", name)
			return nil
		case err != nil && ctx.Err() == nil:
			return fmt.Errorf("reading %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s is deleted but still there (Chaos Mesh has not recovered its fault): %w", name, ctx.Err())
		case <-tick.C:
		}
	}
}

// Sweep implements chaos.Executor: it deletes the objects of this
// executor's environment whose run is not claimed.
func (e *Executor) Sweep(ctx context.Context, claimed func(runID string) bool) (int, error) {
	opts := []client.ListOption{client.MatchingLabels{chaos.LabelManagedBy: chaos.ManagedBy, chaos.LabelEnvironment: e.opts.Environment}}
	if e.opts.Namespace != "" {
		opts = append(opts, client.InNamespace(e.opts.Namespace))
	}
	n := 0
	var errs []error
	for _, k := range kinds {
		list := k.list()
		if err := e.opts.Client.List(ctx, list, opts...); err != nil {
			errs = append(errs, fmt.Errorf("listing %s objects: %w", k.kind, err))
			continue
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			errs = append(errs, fmt.Errorf("reading the %s list: %w", k.kind, err))
			continue
		}
		for _, it := range items {
			obj, ok := it.(client.Object)
			if !ok || claimed(obj.GetLabels()[chaos.LabelRun]) {
				continue
			}
			// List items carry no kind; the ref needs it.
			obj.GetObjectKind().SetGroupVersionKind(v1alpha1.SchemeGroupVersion.WithKind(k.kind))
			e.opts.Logger.Warn("deleting a chaos object no run claims", "object", ref(obj), "run", obj.GetLabels()[chaos.LabelRun])
			if err := e.delete(ctx, obj); err != nil {
				errs = append(errs, err)
				continue
			}
			n++
		}
	}
	return n, errors.Join(errs...)
}
