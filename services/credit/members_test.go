package credit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/services/contracts"
)

// memberships is an Invoicing that answers memberships from a map and
// counts the questions.
type memberships struct {
	Invoicing
	of    map[string][]contracts.Membership
	asked int
}

func (m *memberships) Memberships(_ context.Context, subject string) ([]contracts.Membership, error) {
	m.asked++
	return m.of[subject], nil
}

// TestMembershipCache: what the invoicing service answers is remembered
// for MembershipTTL and for MembershipCacheSize subjects at most; a
// refusal is not served from an answer older than a second.
func TestMembershipCache(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	inv := &memberships{of: map[string][]contracts.Membership{"alice": {{Business: "bus_a", Role: contracts.RoleOwner}}}}
	s := New(Options{Invoicing: inv, Now: func() time.Time { return now }, MembershipTTL: 30 * time.Second, MembershipCacheSize: 3})

	c := Caller{Subject: "alice"}
	require.NoError(t, s.resolve(context.Background(), &c, true))
	require.Equal(t, "bus_a", c.BusinessID)
	c = Caller{Subject: "alice", BusinessID: "bus_a"}
	require.NoError(t, s.resolve(context.Background(), &c, true))
	require.Equal(t, 1, inv.asked, "remembered")

	// Removed at the invoicing service: still acting until the TTL.
	inv.of["alice"] = nil
	now = now.Add(29 * time.Second)
	require.NoError(t, s.resolve(context.Background(), &c, false))
	now = now.Add(time.Second)
	require.Equal(t, EFORBIDDEN, ErrorCode(s.resolve(context.Background(), &c, false)))
	require.Equal(t, 2, inv.asked)

	// Invited since the last answer: a refusal asks again.
	inv.of["alice"] = []contracts.Membership{{Business: "bus_a", Role: contracts.RoleReadOnly}}
	require.Equal(t, EFORBIDDEN, ErrorCode(s.resolve(context.Background(), &c, false)), "an answer of this second stands")
	now = now.Add(time.Second)
	require.NoError(t, s.resolve(context.Background(), &c, false))
	require.Equal(t, EFORBIDDEN, ErrorCode(s.resolve(context.Background(), &c, true)), "read_only does not write")

	// Bounded: never more than MembershipCacheSize subjects.
	for i := range 10 {
		c := Caller{Subject: fmt.Sprintf("u%d", i)}
		require.Equal(t, EFORBIDDEN, ErrorCode(s.resolve(context.Background(), &c, false)))
		require.LessOrEqual(t, len(s.members.entries), 3)
	}
}
