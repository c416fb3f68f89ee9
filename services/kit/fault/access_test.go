package fault

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/auth/authtest"
)

func TestControlRouteTable(t *testing.T) {
	iss := authtest.New(t)
	inj := New(Options{})
	defer inj.Close()
	r := NewControlRouter(ControlOptions{Injector: inj})
	keys, err := auth.Walk(r)
	require.NoError(t, err)
	authtest.CheckTable(t, keys, Access)
	iss.CheckRoutes(t, NewControlHandler(ControlOptions{Injector: inj, Authenticator: iss.Authenticator}), keys, Access)
}
