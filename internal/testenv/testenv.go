// Package testenv finds the real components that tests run against
// (PostgreSQL, Prometheus, Jaeger, Chromium, the Pact FFI library) and decides
// what happens when one is missing.
//
// Outside strict mode a missing component skips the test with a note that
// says how to get it. In strict mode (ESTATE_STRICT=1, which `make test` and
// CI set) a missing component fails the test: CI never passes because a
// component quietly was not there.
package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Environment variables that `make test` sets for the tests.
const (
	// EnvStrict turns missing components into failures when set to 1.
	EnvStrict = "ESTATE_STRICT"
	// EnvPostgresDSN is a superuser DSN of a throwaway PostgreSQL cluster,
	// for example postgres://postgres@127.0.0.1:55432/postgres?sslmode=disable.
	EnvPostgresDSN = "ESTATE_TEST_POSTGRES_DSN"
)

// TB is the part of testing.TB that testenv uses; tests of testenv itself
// pass a recorder to prove that strict mode fails instead of skipping.
type TB interface {
	Helper()
	Skipf(format string, args ...any)
	Fatalf(format string, args ...any)
}

var _ TB = (testing.TB)(nil)

// Strict reports whether missing components must fail tests.
func Strict() bool { return os.Getenv(EnvStrict) == "1" }

// Missing reports a component that a test needs and does not have: a failure
// in strict mode, a skip otherwise. hint says how to get the component.
func Missing(t TB, component, hint string) {
	t.Helper()
	if Strict() {
		t.Fatalf("%s is required in strict mode (%s=1) but missing: %s", component, EnvStrict, hint)
		return
	}
	t.Skipf("%s missing (set %s=1 to make this a failure): %s", component, EnvStrict, hint)
}

// PostgresDSN returns the DSN of the test cluster's maintenance database, or
// reports Postgres missing.
func PostgresDSN(t TB) string {
	t.Helper()
	dsn := os.Getenv(EnvPostgresDSN)
	if dsn == "" {
		Missing(t, "PostgreSQL", "run `make test`, which starts a throwaway PostgreSQL 15 cluster and sets "+EnvPostgresDSN)
	}
	return dsn
}

// Binary returns the path of an executable: the value of envVar when set,
// else name looked up on PATH. A missing binary is reported with hint.
func Binary(t TB, name, envVar, hint string) string {
	t.Helper()
	if envVar != "" {
		if p := os.Getenv(envVar); p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
			Missing(t, name, fmt.Sprintf("%s=%s does not exist; %s", envVar, p, hint))
			return ""
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, hint)
		return ""
	}
	return p
}

// WaitFor polls check every interval until it returns nil or ctx expires,
// returning the last error. It is for waiting on a child process to come up,
// not for timing assertions.
func WaitFor(ctx context.Context, interval time.Duration, check func() error) error {
	var last error
	for {
		if last = check(); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %w)", ctx.Err(), last)
		case <-time.After(interval):
		}
	}
}

// SanitizeName turns a test name into something usable as a database or
// file name: lowercase letters, digits and underscores.
func SanitizeName(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}
