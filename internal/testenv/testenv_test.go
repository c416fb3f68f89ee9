package testenv

import (
	"fmt"
	"testing"
)

// recorder is a TB that records what a helper decided instead of acting on it.
type recorder struct {
	skipped, failed string
}

func (r *recorder) Helper()                        {}
func (r *recorder) Skipf(format string, a ...any)  { r.skipped = fmt.Sprintf(format, a...) }
func (r *recorder) Fatalf(format string, a ...any) { r.failed = fmt.Sprintf(format, a...) }

func TestMissingPostgres(t *testing.T) {
	tests := []struct {
		name       string
		strict     string
		wantFailed bool
	}{
		{name: "strict mode fails", strict: "1", wantFailed: true},
		{name: "default skips", strict: "", wantFailed: false},
		{name: "other values skip", strict: "0", wantFailed: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvStrict, tc.strict)
			t.Setenv(EnvPostgresDSN, "")
			var r recorder
			PostgresDSN(&r)
			if tc.wantFailed {
				if r.failed == "" || r.skipped != "" {
					t.Fatalf("want a failure and no skip, got failed=%q skipped=%q", r.failed, r.skipped)
				}
				return
			}
			if r.skipped == "" || r.failed != "" {
				t.Fatalf("want a skip and no failure, got failed=%q skipped=%q", r.failed, r.skipped)
			}
		})
	}
}

func TestBinaryFromEnv(t *testing.T) {
	t.Setenv(EnvStrict, "1")
	t.Setenv("ESTATE_TEST_SOME_BIN", "/nonexistent/bin")
	var r recorder
	Binary(&r, "some", "ESTATE_TEST_SOME_BIN", "install some")
	if r.failed == "" {
		t.Fatal("a missing binary named by its variable must fail in strict mode")
	}
}
