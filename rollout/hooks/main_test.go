package hooks_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/estatehq/estate/internal/kubetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(kubetest.Main(m),
		// Started by klog's package initialisation, for the life of the process.
		goleak.IgnoreTopFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"),
	)
}
