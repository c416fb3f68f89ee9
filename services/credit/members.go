package credit

import (
	"context"
	"sync"
	"time"

	"github.com/estatehq/estate/services/contracts"
)

// Who acts for a business is kept by the invoicing service (its members);
// the credit service resolves a token's business as the invoicing service
// does (contracts.ResolveMembership), from the memberships the invoicing
// service answers for the token's subject.
//
// It asks rather than keeping a copy fed by the invoicing service's outbox
// events: a copy would hold none of the memberships made before those
// events existed without a backfill, would trail a removal by as long as
// the relay is behind (unbounded while credit is down), and would be a
// second store to reconcile. Asking costs one call per subject per
// MembershipTTL, which a bounded cache absorbs, and a removal takes effect
// within MembershipTTL; the credit service already depends on the
// invoicing service answering for every decision and drawdown, so asking
// adds no new way to fail.

// membershipCache remembers the memberships of subjects for a while,
// bounded in count.
type membershipCache struct {
	ttl  time.Duration
	size int

	mu      sync.Mutex
	entries map[string]membershipEntry
}

type membershipEntry struct {
	ms      []contracts.Membership
	fetched time.Time
}

// refreshDenied is how old a cached answer may be and still refuse a
// token: a user who was just invited, or just registered a business, is
// not refused on an answer older than this.
const refreshDenied = time.Second

func (c *membershipCache) get(subject string, now time.Time) (membershipEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[subject]
	if !ok || now.Sub(e.fetched) >= c.ttl {
		return membershipEntry{}, false
	}
	return e, true
}

func (c *membershipCache) put(subject string, ms []contracts.Membership, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.size {
		for k, e := range c.entries {
			if now.Sub(e.fetched) >= c.ttl {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.size {
			clear(c.entries)
		}
	}
	c.entries[subject] = membershipEntry{ms: ms, fetched: now}
}

// resolve sets c.BusinessID to the business the caller acts for, from its
// subject's memberships at the invoicing service, and checks its role may
// write when write is set: EFORBIDDEN when the token names a business its
// subject is not a member of, names none and the subject has no or several
// memberships, or its role is read_only and it writes; EUNAVAILABLE when
// the invoicing service cannot answer.
func (s *Service) resolve(ctx context.Context, c *Caller, write bool) error {
	if c.Subject == "" {
		return Errorf(EFORBIDDEN, "the token names no subject")
	}
	now := s.opts.Now()
	e, cached := s.members.get(c.Subject, now)
	m, err := contracts.ResolveMembership(c.BusinessID, e.ms)
	if !cached || (err != nil && now.Sub(e.fetched) >= refreshDenied) {
		ms, ferr := s.opts.Invoicing.Memberships(ctx, c.Subject)
		if ferr != nil {
			return s.upstream(ctx, ferr, "reading memberships")
		}
		s.members.put(c.Subject, ms, now)
		m, err = contracts.ResolveMembership(c.BusinessID, ms)
	}
	if err != nil {
		return Errorf(EFORBIDDEN, "%s", err.Error())
	}
	if write && m.Role == contracts.RoleReadOnly {
		return Errorf(EFORBIDDEN, "the role %s may not do this", m.Role)
	}
	c.BusinessID = m.Business
	return nil
}
