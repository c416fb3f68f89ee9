// Package contracts holds what the invoicing and credit services must spell
// alike, defined once so that neither service writes the other's names:
// both import it, and so does the wiring in cmd/estate.
//
// The Pact contracts in contracts/ at the root of the repository guard each
// name: the credit service's consumer tests (services/credit/contract) write
// it into the pacts from here, and the invoicing service's provider
// verification (services/invoicing/contract) checks its real server and
// outbox against what the pacts say. A pact not written again after a name
// changes here fails that verification.
package contracts

import "errors"

// HistoryScope is the scope a machine token needs to read a business's
// invoice history from the invoicing API. The credit service's tokens carry
// it; the pact's token state names it.
const HistoryScope = "invoicing/history.read"

// CreditEventsPath is where the credit API receives the invoicing service's
// outbox events (structured-mode CloudEvents, POSTed). The message pact's
// metadata names it as the path the event is delivered to.
const CreditEventsPath = "/v1/credit/events"

// FinancingScope is the scope a machine token needs to mark an invoice as
// financed by a credit drawdown, and to release it, at the invoicing API
// (PUT and DELETE /v1/invoices/{id}/financing/{drawdown_id}). The credit
// service's tokens carry it; the pact's token state names it.
const FinancingScope = "invoicing/financing.write"

// The provenances of a payment: who vouches that it was made. The invoicing
// API writes them on payments, on invoices (amount_paid_by_provenance) and
// in the invoice history; the credit service's policy names those it
// trusts.
const (
	// ProvenanceIssuerRecorded: the invoice's issuer says it was paid.
	ProvenanceIssuerRecorded = "issuer_recorded"
	// ProvenanceCustomerConfirmed: the invoice's customer confirmed a
	// payment its issuer recorded.
	ProvenanceCustomerConfirmed = "customer_confirmed"
	// ProvenanceProviderReported: a payment provider reported it through
	// the signed payment webhook.
	ProvenanceProviderReported = "provider_reported"
)

// Provenances returns the provenances of a payment, from the least vouched
// for.
func Provenances() []string {
	return []string{ProvenanceIssuerRecorded, ProvenanceCustomerConfirmed, ProvenanceProviderReported}
}

// The roles of a member of a business, as the invoicing API writes them
// (/v1/businesses/{id}/members and /v1/memberships).
const (
	// RoleOwner may do everything, the members included.
	RoleOwner = "owner"
	// RoleFinance may create, change and settle invoices, and apply for
	// and draw credit.
	RoleFinance = "finance"
	// RoleReadOnly may only read.
	RoleReadOnly = "read_only"
)

// Membership is a business a subject acts for, and its role there.
type Membership struct {
	Business string
	Role     string
}

// Why ResolveMembership finds no membership; each is the caller's fault,
// answered 403.
var (
	// ErrNotMember: the token names a business its subject is not a member
	// of.
	ErrNotMember = errors.New("the token's subject is not a member of the business it names")
	// ErrNoMembership: the token names no business and its subject is a
	// member of none.
	ErrNoMembership = errors.New("no business is registered for this token; register one with POST /v1/businesses")
	// ErrSeveralMemberships: the token names no business and its subject
	// is a member of several.
	ErrSeveralMemberships = errors.New("the token's subject is a member of several businesses: its token must name one")
)

// ResolveMembership returns the membership a token acts with, the same
// way in both services: the one of the business its claim names, or,
// without a claim, its subject's only one.
func ResolveMembership(claim string, memberships []Membership) (Membership, error) {
	if claim != "" {
		for _, m := range memberships {
			if m.Business == claim {
				return m, nil
			}
		}
		return Membership{}, ErrNotMember
	}
	switch len(memberships) {
	case 0:
		return Membership{}, ErrNoMembership
	case 1:
		return memberships[0], nil
	}
	return Membership{}, ErrSeveralMemberships
}
