package http

import (
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/estatehq/estate/services/contracts"
	"github.com/estatehq/estate/services/kit/httpapi"
)

// The tags of the operations, as the document describes them.
const (
	tagBusinesses = "Businesses"
	tagInvoices   = "Invoices"
	tagProviders  = "Payment providers"
	tagMembers    = "Members"
)

var tags = []*huma.Tag{
	{Name: tagBusinesses, Description: "The businesses registered on Estate: each caller registers its own once, and reads the public profile of the others."},
	{Name: tagInvoices, Description: "Invoices from one business to another, from draft to paid, void or uncollectible, with their payments and their financing by credit drawdowns."},
	{Name: tagMembers, Description: "Who acts for a business: the user who registered it is its first owner, and owners invite members as owner, finance or read_only. " +
		"A token that names a business its subject is not a member of is refused (403) on every route; read_only members may only read, finance members may not manage members."},
	{Name: tagProviders, Description: "What payment providers report, outside the bearer-token API, signed as Stripe signs its webhooks."},
}

// addRoutes lists the whole API surface. Each operation declares the
// statuses the service answers for its own reasons (Errors); the service
// kit documents those of its middleware and of huma (httpapi.Config).
func addRoutes(api huma.API, h *handlers) {
	tagB, tagI := []string{tagBusinesses}, []string{tagInvoices}
	change := []int{403, 404, 409, 412, 422}
	ifMatch := " Needs If-Match with the ETag of the invoice as last read (412 when it has changed since)."

	huma.Register(api, huma.Operation{OperationID: "create-business", Method: http.MethodPost, Path: "/v1/businesses",
		Summary:     "Register the caller's business",
		Description: "Registers the business of the caller's token (a token of a user without a business yet); a caller registers one business only (409 for a second).",
		Tags:        tagB, DefaultStatus: 201, Errors: []int{403, 409, 422}}, h.handleCreateBusiness())
	huma.Register(api, huma.Operation{OperationID: "get-business", Method: http.MethodGet, Path: "/v1/businesses/{id}",
		Summary:     "Get a business: the caller's own in full, another's public profile",
		Description: "Another business's profile shows its id, legal name and country only; the caller's own also its registration number, billing email and registration time.",
		Tags:        tagB, Errors: []int{403, 404}}, h.handleGetBusiness())
	addMemberRoutes(api, h)
	huma.Register(api, huma.Operation{OperationID: "get-invoice-history", Method: http.MethodGet, Path: "/v1/businesses/{id}/invoice-history",
		Summary:     "Invoicing history of a business, for credit decisions",
		Description: "Needs a token of a trusted machine client (invoicing.machine-clients, by the client-credentials grant) with the scope " + contracts.HistoryScope + ". Totals per currency over the window, with the paid invoices grouped by the provenances of their payments.",
		Extensions:  httpapi.RequireScopes(contracts.HistoryScope),
		Tags:        tagB, Errors: []int{403, 404, 422}}, h.handleInvoiceHistory())

	huma.Register(api, huma.Operation{OperationID: "create-invoice", Method: http.MethodPost, Path: "/v1/invoices",
		Summary:     "Create a draft invoice",
		Description: "Creates a draft from the caller's business to a customer business; only the issuer sees a draft. Amounts are integer minor units; the totals and taxes are computed.",
		Tags:        tagI, DefaultStatus: 201, Errors: []int{403, 422}}, h.handleCreateInvoice())
	huma.Register(api, huma.Operation{OperationID: "list-invoices", Method: http.MethodGet, Path: "/v1/invoices",
		Summary:     "List invoices issued or received, newest first",
		Description: "Pages of at most limit invoices; starting_after takes the id of the last invoice of the previous page. A customer never sees the issuer's drafts.",
		Tags:        tagI, Errors: []int{403, 422}}, h.handleListInvoices())
	huma.Register(api, huma.Operation{OperationID: "get-invoice", Method: http.MethodGet, Path: "/v1/invoices/{id}",
		Summary:     "Get an invoice",
		Description: "The invoice as its issuer or its customer sees it, with its ETag for the changes that take If-Match. Another business gets 404.",
		Tags:        tagI, Errors: []int{403, 404}}, h.handleGetInvoice())
	huma.Register(api, huma.Operation{OperationID: "update-invoice", Method: http.MethodPatch, Path: "/v1/invoices/{id}",
		Summary:     "Change a draft invoice",
		Description: "Absent fields are kept; line_items replaces every line." + ifMatch,
		Tags:        tagI, Errors: change}, h.handleUpdateInvoice())
	huma.Register(api, huma.Operation{OperationID: "delete-invoice", Method: http.MethodDelete, Path: "/v1/invoices/{id}",
		Summary:     "Delete a draft invoice",
		Description: "Only a draft may be deleted; a sent invoice is voided instead." + ifMatch,
		Tags:        tagI, DefaultStatus: 204, Errors: change}, h.handleDeleteInvoice())
	huma.Register(api, huma.Operation{OperationID: "send-invoice", Method: http.MethodPost, Path: "/v1/invoices/{id}/send",
		Summary:     "Finalize and send a draft: it gets its number and the customer sees it",
		Description: "The draft takes the issuer's next invoice number and becomes open (paid at once when its total is 0); an invoice.sent event is delivered to the subscribers." + ifMatch,
		Tags:        tagI, Errors: change}, h.handleSendInvoice())
	huma.Register(api, huma.Operation{OperationID: "create-payment", Method: http.MethodPost, Path: "/v1/invoices/{id}/payments",
		Summary:     "Record a payment; the invoice is paid when nothing is left due",
		Description: "Records, as the issuer, a payment of provenance issuer_recorded against an open or uncollectible invoice; 409 when it exceeds the amount due." + ifMatch,
		Tags:        tagI, DefaultStatus: 201, Errors: change}, h.handleCreatePayment())
	huma.Register(api, huma.Operation{OperationID: "list-payments", Method: http.MethodGet, Path: "/v1/invoices/{id}/payments",
		Summary:     "List the payments of an invoice",
		Description: "Every payment of the invoice, with its provenance: issuer_recorded, customer_confirmed or provider_reported.",
		Tags:        tagI, Errors: []int{403, 404}}, h.handleListPayments())
	huma.Register(api, huma.Operation{OperationID: "confirm-payment", Method: http.MethodPost, Path: "/v1/invoices/{id}/payments/{payment_id}/confirm",
		Summary: "Confirm, as the invoice's customer, a payment its issuer recorded",
		Description: "The payment's provenance becomes customer_confirmed. Only the customer may confirm; confirming again changes nothing; " +
			"a payment a provider reported needs no confirmation (409).",
		Tags: tagI, Errors: []int{403, 404, 409}}, h.handleConfirmPayment())
	huma.Register(api, huma.Operation{OperationID: "void-invoice", Method: http.MethodPost, Path: "/v1/invoices/{id}/void",
		Summary:     "Void an open or uncollectible invoice",
		Description: "An invoice with payments, or financed by a credit drawdown, cannot be voided (409); an invoice.voided event is delivered." + ifMatch,
		Tags:        tagI, Errors: change}, h.handleVoidInvoice())
	huma.Register(api, huma.Operation{OperationID: "mark-invoice-uncollectible", Method: http.MethodPost, Path: "/v1/invoices/{id}/mark-uncollectible",
		Summary:     "Mark an open invoice as unlikely to be paid",
		Description: "It may still be paid or voided afterwards; a financed invoice cannot be marked (409)." + ifMatch,
		Tags:        tagI, Errors: change}, h.handleMarkUncollectible())

	financing := "Needs a token of a trusted machine client (the credit service's), acting for the issuer, with the scope " + contracts.FinancingScope + ". "
	huma.Register(api, huma.Operation{OperationID: "finance-invoice", Method: http.MethodPut, Path: "/v1/invoices/{id}/financing/{drawdown_id}",
		Summary: "Mark an open invoice as financed by a credit drawdown",
		Description: financing + "While it is financed, the invoice cannot be voided or marked uncollectible. " +
			"Repeating the call changes nothing; 409 when another drawdown finances the invoice or it is not open.",
		Extensions: httpapi.RequireScopes(contracts.FinancingScope),
		Tags:       tagI, Errors: []int{403, 404, 409, 422}}, h.handleFinance())
	huma.Register(api, huma.Operation{OperationID: "release-invoice-financing", Method: http.MethodDelete, Path: "/v1/invoices/{id}/financing/{drawdown_id}",
		Summary: "End the financing of an invoice by a drawdown, once it is repaid", DefaultStatus: 204,
		Description: financing + "Changes nothing when that drawdown does not finance the invoice.",
		Extensions:  httpapi.RequireScopes(contracts.FinancingScope),
		Tags:        tagI, Errors: []int{403, 404, 422}}, h.handleReleaseFinancing())

	documentPaymentWebhook(api)
}

// addMemberRoutes lists the routes of a business's members.
func addMemberRoutes(api huma.API, h *handlers) {
	tagM := []string{tagMembers}
	owners := " Only an owner may; another business's members are 404."
	ifMatch := " Needs If-Match with the ETag of the member as last read (412 when it has changed since)."
	huma.Register(api, huma.Operation{OperationID: "list-members", Method: http.MethodGet, Path: "/v1/businesses/{id}/members",
		Summary: "List the members of the caller's business, oldest first", Tags: tagM,
		Description: "Any member may read them; another business's members are 404.",
		Errors:      []int{403, 404}}, h.handleListMembers())
	huma.Register(api, huma.Operation{OperationID: "add-member", Method: http.MethodPost, Path: "/v1/businesses/{id}/members",
		Summary: "Invite a user into the caller's business with a role", Tags: tagM, DefaultStatus: 201,
		Description: "The user is named by the subject of its tokens; 409 when it is already a member." + owners,
		Errors:      []int{403, 404, 409, 422}}, h.handleAddMember())
	huma.Register(api, huma.Operation{OperationID: "get-member", Method: http.MethodGet, Path: "/v1/businesses/{id}/members/{subject}",
		Summary: "Get a member of the caller's business", Tags: tagM,
		Description: "With its ETag, for the changes that take If-Match.",
		Errors:      []int{403, 404}}, h.handleGetMember())
	huma.Register(api, huma.Operation{OperationID: "update-member", Method: http.MethodPatch, Path: "/v1/businesses/{id}/members/{subject}",
		Summary: "Give a member another role", Tags: tagM,
		Description: "The last owner cannot be given another role (409)." + owners + ifMatch,
		Errors:      []int{403, 404, 409, 412, 422}}, h.handleChangeMember())
	huma.Register(api, huma.Operation{OperationID: "remove-member", Method: http.MethodDelete, Path: "/v1/businesses/{id}/members/{subject}",
		Summary: "Remove a member from the caller's business", Tags: tagM, DefaultStatus: 204,
		Description: "Its tokens no longer act for the business. The last owner cannot be removed (409)." + owners + ifMatch,
		Errors:      []int{403, 404, 409, 412}}, h.handleRemoveMember())
	huma.Register(api, huma.Operation{OperationID: "list-memberships", Method: http.MethodGet, Path: "/v1/memberships",
		Summary: "List the businesses a user acts for, and its role in each",
		Description: "The caller's own memberships; a trusted machine client (the credit service) may name any subject, " +
			"to resolve the business a user's token acts for as the invoicing service does.",
		Tags: tagM, Errors: []int{403, 422}}, h.handleMemberships())
}
