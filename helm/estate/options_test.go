package estate_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// estateBinary builds ./cmd/estate once per test binary.
var estateBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "estate-chart-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "estate")
	cmd := exec.Command("go", "build", "-o", path, "./cmd/estate")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &buildError{err: err, out: string(out)}
	}
	return path, nil
})

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build ./cmd/estate: " + e.err.Error() + "\n" + e.out }
func (e *buildError) Unwrap() error { return e.err }

var (
	helpCommand = regexp.MustCompile(`(?m)^  ([a-z][-a-z]*)\s`)
	helpEnv     = regexp.MustCompile(`env (ESTATE_[A-Z0-9_]+)\)`)
	helpFlag    = regexp.MustCompile(`(?m)^  (--[a-z][-a-z0-9.]*)\s`)
)

// The options of a command of the binary, as its --help lists them.
type options struct {
	env   []string
	flags []string
}

func commandOptions(t *testing.T, bin string, command []string) options {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), bin, slices.Concat(command, []string{"--help"})...).CombinedOutput()
	require.NoError(t, err, "estate %s --help:\n%s", strings.Join(command, " "), out)
	var o options
	for _, m := range helpEnv.FindAllStringSubmatch(string(out), -1) {
		o.env = append(o.env, m[1])
	}
	for _, m := range helpFlag.FindAllStringSubmatch(string(out), -1) {
		o.flags = append(o.flags, m[1])
	}
	require.NotEmpty(t, o.env, "estate %s --help lists no options", strings.Join(command, " "))
	return o
}

// TestEveryVariableIsAnOptionOfItsTarget runs `estate COMMAND --help` of
// the real binary for the command of every container the chart renders
// (every optional part on), and checks that every ESTATE_* variable and
// flag the chart gives the container is an option of that command: the
// binary ignores variables it does not know, so a misspelt one would
// silently leave its option at the default.
func TestEveryVariableIsAnOptionOfItsTarget(t *testing.T) {
	bin, err := estateBinary()
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(filepath.Dir(bin)) })
	out, err := exec.CommandContext(t.Context(), bin, "--help").CombinedOutput()
	require.NoError(t, err, "%s", out)
	var commands []string
	for _, m := range helpCommand.FindAllStringSubmatch(string(out), -1) {
		commands = append(commands, m[1])
	}
	require.Contains(t, commands, "collector")

	for _, w := range workloadsOf(renderObjects(t, allOn("team-a"), "estate")) {
		c := w.template.Spec.Containers[0]
		// The command is the arguments before the first flag.
		i := slices.IndexFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "-") })
		if i < 0 {
			i = len(c.Args)
		}
		command := c.Args[:i]
		t.Run(w.name, func(t *testing.T) {
			require.NotEmpty(t, command)
			opts := commandOptions(t, bin, command)
			for _, e := range c.Env {
				if strings.HasPrefix(e.Name, "ESTATE_") && !slices.Contains(opts.env, e.Name) {
					t.Errorf("estate %s has no option %s", strings.Join(command, " "), e.Name)
				}
			}
			for _, a := range c.Args[len(command):] {
				flag, _, _ := strings.Cut(a, "=")
				require.Contains(t, opts.flags, flag, "estate %s has no such flag", strings.Join(command, " "))
			}
		})
	}
}
