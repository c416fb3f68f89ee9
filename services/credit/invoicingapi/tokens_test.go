package invoicingapi_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/services/credit/invoicingapi"
)

func TestCachedTokens(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	signed := 0
	var fail error
	src := func(_ context.Context, business string, scopes []string) (string, error) {
		if fail != nil {
			return "", fail
		}
		signed++
		return fmt.Sprintf("%s%v#%d", business, scopes, signed), nil
	}
	tokens := invoicingapi.CachedTokens(src, 4*time.Minute, func() time.Time { return now })
	get := func(business string, scopes ...string) string {
		tok, err := tokens(ctx, business, scopes)
		require.NoError(t, err)
		return tok
	}

	require.Equal(t, "bus_a[]#1", get("bus_a"))
	require.Equal(t, "bus_a[]#1", get("bus_a"), "reused")
	require.Equal(t, "bus_a[history]#2", get("bus_a", "history"), "other scopes, other token")
	require.Equal(t, "bus_b[]#3", get("bus_b"), "other business, other token")
	now = now.Add(4*time.Minute - time.Second)
	require.Equal(t, "bus_a[]#1", get("bus_a"))
	now = now.Add(time.Second)
	require.Equal(t, "bus_a[]#4", get("bus_a"), "signed again once past reuse")

	fail = errors.New("no key")
	now = now.Add(time.Hour)
	_, err := tokens(ctx, "bus_a", nil)
	require.ErrorIs(t, err, fail)
}
