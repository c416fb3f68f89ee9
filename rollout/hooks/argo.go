package hooks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/estatehq/estate/internal/delivery"
	"github.com/estatehq/estate/rollout"
)

// RolloutResource is Argo Rollouts' Rollout.
var RolloutResource = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "rollouts"}

// abortPatch is the JSON merge patch `kubectl argo rollouts abort` sends:
// the controller then scales the canary or preview down and sends all
// traffic to the stable version.
var abortPatch = []byte(`{"status":{"abort":true}}`)

// Argo aborts the Argo Rollouts Rollout of the service, as `kubectl argo
// rollouts abort` does: a merge patch of status.abort on the Rollout's
// status subresource, which needs the permission to patch rollouts/status
// and nothing else. The Rollout's spec is left alone, so it keeps the new
// version's template (Argo's own abort leaves it so too).
type Argo struct {
	client    dynamic.Interface
	namespace string
	rollout   string
	timeout   time.Duration
}

// NewArgo returns the abort of cfg.Argo, reaching the cluster of
// opts.Kube when set, else of argo.kubeconfig.
func NewArgo(cfg Config, opts Options) (*Argo, error) {
	a := cfg.Argo
	if !a.enabled() {
		return nil, errors.New("argo.namespace: must be set")
	}
	if err := errors.Join(a.validate()...); err != nil {
		return nil, err
	}
	rc := opts.Kube
	if rc == nil {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		rules.ExplicitPath = a.Kubeconfig
		// Without a kubeconfig, the loader falls back to the pod's
		// service account.
		var err error
		if rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig(); err != nil {
			return nil, fmt.Errorf("argo.kubeconfig: %w", err)
		}
	}
	rc = rest.CopyConfig(rc)
	rc.UserAgent = UserAgent
	dc, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("argo: the Kubernetes client: %w", err)
	}
	return &Argo{client: dc, namespace: a.Namespace, rollout: a.Rollout, timeout: cfg.Timeout}, nil
}

// Name is "argo".
func (*Argo) Name() string { return NameArgo }

// Call aborts the Rollout once. Its Answer is the API's status (200) and
// the Rollout's status.phase as the patch left it (the controller sets it
// to Degraded once it has aborted). No such Rollout (404) and a refusal
// (401, 403) are permanent; a 429 is a throttle with the server's delay.
func (a *Argo) Call(ctx context.Context, r rollout.Recommendation) (rollout.Answer, error) {
	if err := check(r); err != nil {
		return rollout.Answer{}, err
	}
	name := rolloutName(a.rollout, r.Service, r.Environment)
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return rollout.Answer{}, delivery.Permanent(fmt.Errorf("rollout name %q: %s", name, msgs[0]))
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	ri := a.client.Resource(RolloutResource).Namespace(a.namespace)
	opts := metav1.PatchOptions{FieldManager: UserAgent}
	// kubectl, on a 404, patches the Rollout itself too, for CRDs of old
	// without the status subresource; that would need a second
	// permission (patch on rollouts) and turn a missing Rollout's 404
	// into a 403 where it is not granted.
	u, err := ri.Patch(ctx, name, types.MergePatchType, abortPatch, opts, "status")
	if err != nil {
		return kubeAnswer(err), kubeError(fmt.Errorf("aborting rollout %s/%s: %w", a.namespace, name, err))
	}
	phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	return rollout.Answer{Status: http.StatusOK, Detail: phase}, nil
}

// kubeAnswer is what the API server said of a failed call.
func kubeAnswer(err error) rollout.Answer {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return rollout.Answer{}
	}
	s := st.Status()
	return rollout.Answer{Status: int(s.Code), Detail: cut([]byte(s.Message))}
}

// kubeError classifies an API server's error as an HTTP answer's: 408,
// 429 and 5xx are retryable (a throttle when the server names a delay, as
// it does for 429), other statuses permanent, and an error without a
// status (the server unreachable) retryable.
func kubeError(err error) error {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return err
	}
	code := int(st.Status().Code)
	if code == 0 || code/100 == 2 {
		return err
	}
	if !retryable(code) {
		return delivery.Permanent(err)
	}
	if s, ok := apierrors.SuggestsClientDelay(err); ok {
		return delivery.Throttle(err, time.Duration(s)*time.Second)
	}
	if code == http.StatusTooManyRequests {
		return delivery.Throttle(err, 0)
	}
	return err
}
