package invoicing

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/estatehq/estate/services/contracts"
)

// Who acts for a business: a token names a business (its business claim)
// and a subject, and the subject acts for the business only when it is one
// of the business's members. The user who registers a business becomes its
// first owner; owners invite others. A token without a business claim acts
// for the one business its subject is a member of. Machine clients the
// service is configured to trust (Caller.Machine) act for the business
// their token names, to read and hold invoices, never to manage members.

// MemberRole is what a member may do for its business.
type MemberRole string

// The roles of a member.
const (
	// MemberOwner may do everything, the members included.
	MemberOwner MemberRole = contracts.RoleOwner
	// MemberFinance may create, change, send and settle invoices.
	MemberFinance MemberRole = contracts.RoleFinance
	// MemberReadOnly may only read.
	MemberReadOnly MemberRole = contracts.RoleReadOnly
)

// Valid reports whether r is a known role.
func (r MemberRole) Valid() bool {
	switch r {
	case MemberOwner, MemberFinance, MemberReadOnly:
		return true
	}
	return false
}

// Permission is a kind of request a role may or may not make.
type Permission int

// The permissions, each implying the ones before it.
const (
	// PermRead: read the business's invoices, payments and members.
	PermRead Permission = iota
	// PermInvoices: create, change and settle invoices.
	PermInvoices
	// PermMembers: invite, change and remove members.
	PermMembers
)

// May reports whether the role has the permission.
func (r MemberRole) May(p Permission) bool {
	switch r {
	case MemberOwner:
		return true
	case MemberFinance:
		return p <= PermInvoices
	case MemberReadOnly:
		return p == PermRead
	}
	return false
}

// Member is a subject that acts for a business.
type Member struct {
	BusinessID string
	// Subject is the `sub` of the member's tokens.
	Subject   string
	Role      MemberRole
	CreatedAt time.Time
	UpdatedAt time.Time
	// Version grows by one with every change; it is the ETag.
	Version int64
}

// MemberChange is what UpdateMember writes: the member as fn left it, or
// nothing of it when Remove.
type MemberChange struct {
	Remove bool
}

// acting returns the business the caller acts for and checks that its role
// has the permission (see resolve).
func (s *Service) acting(ctx context.Context, c Caller, need Permission) (*Business, error) {
	b, role, err := s.resolve(ctx, c)
	if err != nil {
		return nil, err
	}
	if !role.May(need) {
		return nil, refused(role)
	}
	return b, nil
}

// resolve returns the business the caller acts for and its role there:
// EFORBIDDEN when the token names a business its subject is not a member
// of, when it names none and the subject is a member of no business or of
// several. A trusted machine client has the permissions of finance in the
// business its token names.
func (s *Service) resolve(ctx context.Context, c Caller) (*Business, MemberRole, error) {
	if c.Machine {
		if c.BusinessID == "" {
			return nil, "", Errorf(EFORBIDDEN, "a machine client acts only for the business its token names")
		}
		b, err := s.actingBusiness(ctx, c.BusinessID)
		return b, MemberFinance, err
	}
	ms, err := s.store.Memberships(ctx, c.Subject)
	if err != nil {
		return nil, "", fmt.Errorf("reading memberships: %w", err)
	}
	list := make([]contracts.Membership, len(ms))
	for i, m := range ms {
		list[i] = contracts.Membership{Business: m.BusinessID, Role: string(m.Role)}
	}
	m, err := contracts.ResolveMembership(c.BusinessID, list)
	if err != nil {
		return nil, "", Errorf(EFORBIDDEN, "%s", err.Error())
	}
	b, err := s.actingBusiness(ctx, m.Business)
	return b, MemberRole(m.Role), err
}

// refused is the error of a request the caller's role may not make.
func refused(role MemberRole) error {
	return Errorf(EFORBIDDEN, "the role %s may not do this", role)
}

func (s *Service) actingBusiness(ctx context.Context, id string) (*Business, error) {
	b, err := s.business(ctx, id)
	switch ErrorCode(err) {
	case "":
		return b, nil
	case ENOTFOUND:
		return nil, Errorf(EFORBIDDEN, "the business the token names is not registered")
	}
	return nil, fmt.Errorf("finding the caller's business: %w", err)
}

// ownBusiness returns the business the caller acts for with the
// permission, when it is id; ENOTFOUND when the caller acts for another, so
// that a business's members do not show to outsiders.
func (s *Service) ownBusiness(ctx context.Context, c Caller, id string, need Permission) error {
	me, role, err := s.resolve(ctx, c)
	if err != nil {
		return err
	}
	if me.ID != id {
		return Errorf(ENOTFOUND, "no such business among the caller's")
	}
	if !role.May(need) {
		return refused(role)
	}
	return nil
}

// Members lists the members of the caller's business, oldest first.
func (s *Service) Members(ctx context.Context, c Caller, businessID string) ([]*Member, error) {
	if err := s.ownBusiness(ctx, c, businessID, PermRead); err != nil {
		return nil, err
	}
	return s.store.Members(ctx, businessID)
}

// Member returns one member of the caller's business.
func (s *Service) Member(ctx context.Context, c Caller, businessID, subject string) (*Member, error) {
	if err := s.ownBusiness(ctx, c, businessID, PermRead); err != nil {
		return nil, err
	}
	return s.store.Member(ctx, businessID, subject)
}

// Memberships lists the businesses the subject acts for: the caller's own,
// or, for a machine client, any subject's.
func (s *Service) Memberships(ctx context.Context, c Caller, subject string) ([]*Member, error) {
	if subject == "" {
		subject = c.Subject
	}
	if subject != c.Subject && !c.Machine {
		return nil, Errorf(EFORBIDDEN, "only a trusted machine client may read another subject's memberships")
	}
	return s.store.Memberships(ctx, subject)
}

// MaxSubject bounds the subject of a member, as the token's `sub`.
const MaxSubject = 255

func checkSubject(fe *fieldErrors, subject string) {
	switch {
	case subject == "" || len(subject) > MaxSubject || !utf8.ValidString(subject):
		fe.add("subject", fmt.Sprintf("must be the token subject of the user, 1 to %d bytes", MaxSubject), nil)
	case strings.IndexFunc(subject, unicode.IsControl) >= 0 || strings.TrimSpace(subject) != subject:
		fe.add("subject", "must not hold control characters or surrounding spaces", nil)
	}
}

func checkRole(fe *fieldErrors, role MemberRole) {
	if !role.Valid() {
		fe.add("role", "must be owner, finance or read_only", role)
	}
}

// AddMember invites a subject into the caller's business with a role; only
// an owner may. ECONFLICT when the subject is already a member.
func (s *Service) AddMember(ctx context.Context, c Caller, businessID, subject string, role MemberRole) (*Member, error) {
	if err := s.ownBusiness(ctx, c, businessID, PermMembers); err != nil {
		return nil, err
	}
	var fe fieldErrors
	checkSubject(&fe, subject)
	checkRole(&fe, role)
	if err := fe.err(); err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	m := &Member{BusinessID: businessID, Subject: subject, Role: role, CreatedAt: now, UpdatedAt: now, Version: 1}
	if err := s.store.AddMember(ctx, m); err != nil {
		if ErrorCode(err) == ECONFLICT {
			return nil, Errorf(ECONFLICT, "this subject is already a member of the business")
		}
		return nil, fmt.Errorf("adding member: %w", err)
	}
	return m, nil
}

// ChangeMember gives a member of the caller's business another role; only
// an owner may, and the last owner stays one (ECONFLICT).
func (s *Service) ChangeMember(ctx context.Context, c Caller, businessID, subject string, role MemberRole, want Precondition) (*Member, error) {
	if err := s.ownBusiness(ctx, c, businessID, PermMembers); err != nil {
		return nil, err
	}
	var fe fieldErrors
	checkRole(&fe, role)
	if err := fe.err(); err != nil {
		return nil, err
	}
	return s.changeMember(ctx, businessID, subject, want, func(m *Member, owners int) (MemberChange, error) {
		if m.Role == MemberOwner && role != MemberOwner && owners == 1 {
			return MemberChange{}, Errorf(ECONFLICT, "the last owner of a business cannot be given another role; make another member owner first")
		}
		m.Role = role
		return MemberChange{}, nil
	})
}

// RemoveMember removes a member from the caller's business; only an owner
// may, and the last owner stays (ECONFLICT).
func (s *Service) RemoveMember(ctx context.Context, c Caller, businessID, subject string, want Precondition) error {
	if err := s.ownBusiness(ctx, c, businessID, PermMembers); err != nil {
		return err
	}
	_, err := s.changeMember(ctx, businessID, subject, want, func(m *Member, owners int) (MemberChange, error) {
		if m.Role == MemberOwner && owners == 1 {
			return MemberChange{}, Errorf(ECONFLICT, "the last owner of a business cannot be removed; make another member owner first")
		}
		return MemberChange{Remove: true}, nil
	})
	return err
}

func (s *Service) changeMember(ctx context.Context, businessID, subject string, want Precondition, fn func(m *Member, owners int) (MemberChange, error)) (*Member, error) {
	return s.store.UpdateMember(ctx, businessID, subject, func(m *Member, owners int) (MemberChange, error) {
		if !want.Matches(m.Version) {
			return MemberChange{}, Errorf(EPRECONDITION, "the member has changed since it was read: it is at version %d, which If-Match does not name", m.Version)
		}
		ch, err := fn(m, owners)
		if err == nil && !ch.Remove {
			m.UpdatedAt = s.now().UTC().Truncate(time.Microsecond)
		}
		return ch, err
	})
}
