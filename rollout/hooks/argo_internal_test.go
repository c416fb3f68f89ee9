package hooks

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/estatehq/estate/internal/delivery"
	"github.com/estatehq/estate/rollout"
)

// The API server's refusals that a test server of one identity cannot
// give (403 needs RBAC, 429 a loaded server) are classified from the
// errors client-go makes of them.
func TestKubeError(t *testing.T) {
	gr := schema.GroupResource{Group: "argoproj.io", Resource: "rollouts"}
	for _, tc := range []struct {
		name      string
		err       error
		permanent bool
		throttle  bool
		delay     time.Duration
		status    int
	}{
		{name: "forbidden", err: apierrors.NewForbidden(gr, "invoicing", errors.New("RBAC: no patch on rollouts/status")), permanent: true, status: http.StatusForbidden},
		{name: "unauthorized", err: apierrors.NewUnauthorized("token expired"), permanent: true, status: http.StatusUnauthorized},
		{name: "not found", err: apierrors.NewNotFound(gr, "invoicing"), permanent: true, status: http.StatusNotFound},
		{name: "too many requests", err: apierrors.NewTooManyRequests("slow down", 5), throttle: true, delay: 5 * time.Second, status: http.StatusTooManyRequests},
		{name: "server timeout", err: apierrors.NewServerTimeout(gr, "patch", 3), throttle: true, delay: 3 * time.Second, status: http.StatusInternalServerError},
		{name: "internal error", err: apierrors.NewInternalError(errors.New("etcd")), status: http.StatusInternalServerError},
		{name: "unavailable", err: apierrors.NewServiceUnavailable("starting"), status: http.StatusServiceUnavailable},
		{name: "unreachable", err: errors.New("dial tcp 10.0.0.1:443: connect: connection refused")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := kubeError(tc.err)
			require.ErrorIs(t, err, tc.err)
			require.Equal(t, tc.permanent, delivery.IsPermanent(err))
			d, throttled := delivery.RetryAfter(err)
			require.Equal(t, tc.throttle, throttled)
			require.Equal(t, tc.delay, d)
			require.Equal(t, tc.status, kubeAnswer(tc.err).Status)
		})
	}
	require.Equal(t, rollout.Answer{}, kubeAnswer(errors.New("no status")))
}
