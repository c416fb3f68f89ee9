package authtest_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/auth/authtest"
)

// failures records what a check reports instead of failing the test.
type failures struct {
	testing.TB
	msgs []string
}

func (f *failures) Helper()                        {}
func (f *failures) Errorf(format string, _ ...any) { f.msgs = append(f.msgs, format) }
func (f *failures) FailNow()                       {}

func TestCheckTableFailsOnARouteWithoutAnEntry(t *testing.T) {
	table := auth.RouteTable{"GET /v1/logs": auth.Need(auth.RoleObservabilityRead), "GET /gone": auth.Public}
	f := &failures{TB: t}
	authtest.CheckTable(f, []string{"GET /v1/logs", "GET /v1/new"}, table)
	require.Len(t, f.msgs, 2, "a route without an entry, and an entry without a route")

	f = &failures{TB: t}
	authtest.CheckTable(f, []string{"GET /v1/logs", "GET /gone"}, table)
	require.Empty(t, f.msgs)
}
