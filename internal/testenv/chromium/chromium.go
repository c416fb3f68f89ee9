// Package chromium starts the headless Chromium of the browser tests: the
// flags they run it with, a missing browser reported as internal/testenv
// says (a failure in strict mode), and the folder where a test keeps what
// a person may want to look at.
package chromium

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/testenv"
)

const (
	// Hint says how to install Chromium.
	Hint = "apt-get install chromium (make test installs it)"
	// EnvBin names the Chromium binary, when it is not `chromium` on PATH.
	EnvBin = "ESTATE_CHROMIUM_BIN"
	// EnvArtifacts is the folder of the tests' artefacts.
	EnvArtifacts = "ESTATE_TEST_ARTIFACTS"
	// PageLoadLimit bounds what a test runs in the browser.
	PageLoadLimit = time.Minute
)

// Start opens a headless Chromium for the test and returns a context of
// its tab, which the test's end closes.
func Start(t *testing.T) context.Context {
	t.Helper()
	bin := testenv.Binary(t, "chromium", EnvBin, Hint)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.Flag("headless", true),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser, which lives as long as its
	// context: the limit is on what runs in it, not on that first run.
	require.NoError(t, chromedp.Do(ctx), "starting chromium")
	ctx, cancelTimeout := context.WithTimeout(ctx, PageLoadLimit)
	t.Cleanup(cancelTimeout)
	return ctx
}

// ArtifactDir is where a test keeps what a person may want to look at:
// $ESTATE_TEST_ARTIFACTS when set, else the test's artifact directory
// (kept with go test -artifacts).
func ArtifactDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv(EnvArtifacts); d != "" {
		dir := filepath.Join(d, testenv.SanitizeName(t.Name()))
		require.NoError(t, os.MkdirAll(dir, 0o750))
		return dir
	}
	return t.ArtifactDir()
}
