package sqldb_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Connection pools run goroutines; Close must end them all.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
