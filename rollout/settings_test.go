package rollout_test

import (
	"flag"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/rollout"
)

// settings are the defaults the flags set.
func settings(t *testing.T, args ...string) rollout.Settings {
	t.Helper()
	var s rollout.Settings
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s.RegisterFlags(fs, "rollout.")
	require.NoError(t, fs.Parse(args))
	return s
}

func TestSettings(t *testing.T) {
	s := settings(t)
	require.NoError(t, s.Validate())
	o := s.Options()
	require.Equal(t, []string{"production"}, o.Environments)
	require.False(t, o.CallHooks, "a dry run by default")
	require.Equal(t, rollout.DefaultWindow, o.Config.Window)

	s = settings(t, "--rollout.windows=invoicing=10m, credit=1h", "--rollout.environments=production,staging", "--rollout.dry-run=false")
	require.NoError(t, s.Validate())
	o = s.Options()
	require.Equal(t, map[string]time.Duration{"invoicing": 10 * time.Minute, "credit": time.Hour}, o.Windows)
	require.Equal(t, []string{"production", "staging"}, o.Environments)
	require.True(t, o.CallHooks)

	s = settings(t, "--rollout.windows=invoicing", "--rollout.environments= , ", "--rollout.interval=1500ms",
		"--rollout.max-age=0s", "--rollout.alpha=2", "--rollout.hook-attempts=0", "--rollout.hook-max-backoff=10ms")
	err := s.Validate()
	for _, key := range []string{`windows: "invoicing" is not service=duration`, "environments: name at least one",
		"interval: must be a whole number of seconds", "max_age: must be positive", "alpha must be between 0 and 1", "hook_attempts: must be positive, not 0",
		"hook_max_backoff: must be at least hook_initial_backoff"} {
		require.ErrorContains(t, err, key)
	}

	// Off, nothing else is checked.
	s = settings(t, "--rollout.enabled=false", "--rollout.windows=bad")
	require.NoError(t, s.Validate())
}
