package kubetest

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// The API server that Shared hands out, one per test binary. It is
// package state because a test binary is the unit that shares it: Main
// (from TestMain) owns its lifetime.
var shared struct {
	mu     sync.Mutex
	inMain bool  // Main is running the tests
	env    *Env  // started by the first Shared call
	err    error // why the start failed; later calls fail with it too
}

// Runner runs a test binary's tests; *testing.M is one.
type Runner interface {
	Run() int
}

// Main wraps the tests of a test binary so that the API server that Shared
// starts is stopped after them. Its Run returns m.Run's exit code (or 1
// when the server does not stop), and silences controller-runtime's logs
// unless a logger was set before. Use it in TestMain, alone or under goleak:
//
//	func TestMain(m *testing.M) { os.Exit(kubetest.Main(m).Run()) }
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(kubetest.Main(m)) }
func Main(m Runner) Runner { return mainRunner{m} }

type mainRunner struct{ m Runner }

func (r mainRunner) Run() int {
	// controller-runtime prints a stack trace when a test binary logs through
	// it for 30 s without a logger set; envtest logs through it. A test
	// package that wants those logs sets its logger before calling Main: the
	// first logger set is the one kept.
	ctrllog.SetLogger(logr.Discard())

	shared.mu.Lock()
	shared.inMain = true
	shared.mu.Unlock()

	code := r.m.Run()

	shared.mu.Lock()
	defer shared.mu.Unlock()
	shared.inMain = false
	if shared.env != nil {
		if err := shared.env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "kubetest: stopping the shared Kubernetes API server: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
		shared.env = nil
	}
	return code
}

// Shared returns the test binary's one API server, starting it on the first
// call, with the CRDs of opts installed: CRDs that an earlier call did not
// install are installed now. The server outlives t; give t a namespace of its
// own with Env.Namespace. It needs Main in TestMain, which stops the server
// after the tests. A missing binary or CRD set fails t in strict mode and
// skips it otherwise.
func Shared(t testing.TB, opts Options) *Env {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.inMain {
		t.Fatalf("kubetest.Shared needs TestMain to run the tests through kubetest.Main, which stops the shared server")
		return nil
	}
	assets := assetsDir(t)
	paths := crdPaths(t, opts.CRDs)
	if shared.err != nil {
		t.Fatalf("starting the shared Kubernetes API server failed earlier: %v", shared.err)
		return nil
	}
	if shared.env == nil {
		shared.env, shared.err = start(assets, paths)
		if shared.err != nil {
			t.Fatalf("starting the shared Kubernetes API server: %v", shared.err)
			return nil
		}
		return shared.env
	}
	if err := shared.env.install(paths); err != nil {
		t.Fatalf("%v", err)
		return nil
	}
	return shared.env
}
