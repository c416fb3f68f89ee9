//go:build unix

package redact_test

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time the process has used, user and system, so that
// a benchmark on a busy machine can say what its work cost rather than
// how long it waited for a core.
func cpuTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
