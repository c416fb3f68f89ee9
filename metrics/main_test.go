package metrics_test

import (
	"testing"

	"go.uber.org/goleak"
)

// ReadJSONL decodes on several goroutines; none may outlive it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
