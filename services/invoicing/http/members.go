package http

import (
	"context"
	"net/url"

	"github.com/estatehq/estate/services/invoicing"
)

// memberPath is the path of a member, the subject escaped.
func memberPath(business, subject string) string {
	return location("/v1/businesses/%s/members/%s", business, url.PathEscape(subject))
}

type memberOutput struct {
	ETag     string `header:"ETag"`
	Location string `header:"Location"`
	Body     *Member
}

func memberResp(m *invoicing.Member) *memberOutput {
	return &memberOutput{ETag: etag(m.Version), Body: memberOut(m)}
}

type memberListOutput struct{ Body *MemberList }

func (h *handlers) handleListMembers() func(context.Context, *PathID) (*memberListOutput, error) {
	return func(ctx context.Context, in *PathID) (*memberListOutput, error) {
		ms, err := h.svc.Members(ctx, h.caller(ctx), in.ID)
		if err != nil {
			return nil, h.problemFor(ctx, err, "path")
		}
		return &memberListOutput{Body: memberListOut(ms)}, nil
	}
}

type addMemberInput struct {
	PathID
	IdempotencyHeader
	Body MemberCreate
}

func (h *handlers) handleAddMember() func(context.Context, *addMemberInput) (*memberOutput, error) {
	return func(ctx context.Context, in *addMemberInput) (*memberOutput, error) {
		m, err := h.svc.AddMember(ctx, h.caller(ctx), in.ID, in.Body.Subject, invoicing.MemberRole(in.Body.Role))
		if err != nil {
			return nil, h.problemFor(ctx, err, "body")
		}
		out := memberResp(m)
		out.Location = memberPath(m.BusinessID, m.Subject)
		return out, nil
	}
}

// MemberPath is the business and subject in the path of a member.
type MemberPath struct {
	PathID
	Subject string `path:"subject" maxLength:"255" doc:"The member's subject."`
}

func (h *handlers) handleGetMember() func(context.Context, *MemberPath) (*memberOutput, error) {
	return func(ctx context.Context, in *MemberPath) (*memberOutput, error) {
		m, err := h.svc.Member(ctx, h.caller(ctx), in.ID, in.Subject)
		if err != nil {
			return nil, h.problemFor(ctx, err, "path")
		}
		return memberResp(m), nil
	}
}

type changeMemberInput struct {
	MemberPath
	IfMatchHeader
	Body MemberPatch
}

func (h *handlers) handleChangeMember() func(context.Context, *changeMemberInput) (*memberOutput, error) {
	return func(ctx context.Context, in *changeMemberInput) (*memberOutput, error) {
		m, err := h.svc.ChangeMember(ctx, h.caller(ctx), in.ID, in.Subject, invoicing.MemberRole(in.Body.Role), ifMatch(in.IfMatch))
		if err != nil {
			return nil, h.problemFor(ctx, err, "body")
		}
		return memberResp(m), nil
	}
}

type removeMemberInput struct {
	MemberPath
	IfMatchHeader
}

func (h *handlers) handleRemoveMember() func(context.Context, *removeMemberInput) (*struct{}, error) {
	return func(ctx context.Context, in *removeMemberInput) (*struct{}, error) {
		if err := h.svc.RemoveMember(ctx, h.caller(ctx), in.ID, in.Subject, ifMatch(in.IfMatch)); err != nil {
			return nil, h.problemFor(ctx, err, "path")
		}
		return &struct{}{}, nil
	}
}

type membershipsInput struct {
	Subject string `query:"subject" maxLength:"255" doc:"Whose memberships: the caller's own when absent; another subject's needs a trusted machine client."`
}

func (h *handlers) handleMemberships() func(context.Context, *membershipsInput) (*memberListOutput, error) {
	return func(ctx context.Context, in *membershipsInput) (*memberListOutput, error) {
		ms, err := h.svc.Memberships(ctx, h.caller(ctx), in.Subject)
		if err != nil {
			return nil, h.problemFor(ctx, err, "query")
		}
		return &memberListOutput{Body: memberListOut(ms)}, nil
	}
}
