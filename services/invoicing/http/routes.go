package http

import (
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/estatehq/estate/services/contracts"
)

// addRoutes lists the whole API surface.
func addRoutes(api huma.API, h *handlers) {
	tagB, tagI := []string{"Businesses"}, []string{"Invoices"}
	post := []int{400, 401, 403, 409, 422, 429}
	change := []int{400, 401, 403, 404, 409, 412, 422, 429}

	huma.Register(api, huma.Operation{OperationID: "create-business", Method: http.MethodPost, Path: "/v1/businesses",
		Summary: "Register the caller's business", Tags: tagB, DefaultStatus: 201, Errors: post}, h.handleCreateBusiness())
	huma.Register(api, huma.Operation{OperationID: "get-business", Method: http.MethodGet, Path: "/v1/businesses/{id}",
		Summary: "Get a business: the caller's own in full, another's public profile", Tags: tagB, Errors: []int{401, 404, 429}}, h.handleGetBusiness())
	huma.Register(api, huma.Operation{OperationID: "get-invoice-history", Method: http.MethodGet, Path: "/v1/businesses/{id}/invoice-history",
		Summary: "Invoicing history of a business, for credit decisions", Description: "Needs a machine token with the scope " + contracts.HistoryScope + ".",
		Tags: tagB, Errors: []int{401, 403, 404, 422, 429}}, h.handleInvoiceHistory())

	huma.Register(api, huma.Operation{OperationID: "create-invoice", Method: http.MethodPost, Path: "/v1/invoices",
		Summary: "Create a draft invoice", Tags: tagI, DefaultStatus: 201, Errors: post}, h.handleCreateInvoice())
	huma.Register(api, huma.Operation{OperationID: "list-invoices", Method: http.MethodGet, Path: "/v1/invoices",
		Summary: "List invoices issued or received, newest first", Tags: tagI, Errors: []int{401, 403, 422, 429}}, h.handleListInvoices())
	huma.Register(api, huma.Operation{OperationID: "get-invoice", Method: http.MethodGet, Path: "/v1/invoices/{id}",
		Summary: "Get an invoice", Tags: tagI, Errors: []int{401, 403, 404, 429}}, h.handleGetInvoice())
	huma.Register(api, huma.Operation{OperationID: "update-invoice", Method: http.MethodPatch, Path: "/v1/invoices/{id}",
		Summary: "Change a draft invoice", Tags: tagI, Errors: change}, h.handleUpdateInvoice())
	huma.Register(api, huma.Operation{OperationID: "delete-invoice", Method: http.MethodDelete, Path: "/v1/invoices/{id}",
		Summary: "Delete a draft invoice", Tags: tagI, DefaultStatus: 204, Errors: change}, h.handleDeleteInvoice())
	huma.Register(api, huma.Operation{OperationID: "send-invoice", Method: http.MethodPost, Path: "/v1/invoices/{id}/send",
		Summary: "Finalize and send a draft: it gets its number and the customer sees it", Tags: tagI, Errors: change}, h.handleSendInvoice())
	huma.Register(api, huma.Operation{OperationID: "create-payment", Method: http.MethodPost, Path: "/v1/invoices/{id}/payments",
		Summary: "Record a payment; the invoice is paid when nothing is left due", Tags: tagI, DefaultStatus: 201, Errors: change}, h.handleCreatePayment())
	huma.Register(api, huma.Operation{OperationID: "list-payments", Method: http.MethodGet, Path: "/v1/invoices/{id}/payments",
		Summary: "List the payments of an invoice", Tags: tagI, Errors: []int{401, 403, 404, 429}}, h.handleListPayments())
	huma.Register(api, huma.Operation{OperationID: "confirm-payment", Method: http.MethodPost, Path: "/v1/invoices/{id}/payments/{payment_id}/confirm",
		Summary: "Confirm, as the invoice's customer, a payment its issuer recorded",
		Description: "The payment's provenance becomes customer_confirmed. Only the customer may confirm; confirming again changes nothing; " +
			"a payment a provider reported needs no confirmation (409).",
		Tags: tagI, Errors: []int{400, 401, 403, 404, 409, 429}}, h.handleConfirmPayment())
	huma.Register(api, huma.Operation{OperationID: "void-invoice", Method: http.MethodPost, Path: "/v1/invoices/{id}/void",
		Summary: "Void an open or uncollectible invoice", Tags: tagI, Errors: change}, h.handleVoidInvoice())
	huma.Register(api, huma.Operation{OperationID: "mark-invoice-uncollectible", Method: http.MethodPost, Path: "/v1/invoices/{id}/mark-uncollectible",
		Summary: "Mark an open invoice as unlikely to be paid", Tags: tagI, Errors: change}, h.handleMarkUncollectible())

	financing := "Needs a machine token of the credit service, acting for the issuer, with the scope " + contracts.FinancingScope + ". "
	huma.Register(api, huma.Operation{OperationID: "finance-invoice", Method: http.MethodPut, Path: "/v1/invoices/{id}/financing/{drawdown_id}",
		Summary: "Mark an open invoice as financed by a credit drawdown",
		Description: financing + "While it is financed, the invoice cannot be voided or marked uncollectible. " +
			"Repeating the call changes nothing; 409 when another drawdown finances the invoice or it is not open.",
		Tags: tagI, Errors: []int{401, 403, 404, 409, 422, 429}}, h.handleFinance())
	huma.Register(api, huma.Operation{OperationID: "release-invoice-financing", Method: http.MethodDelete, Path: "/v1/invoices/{id}/financing/{drawdown_id}",
		Summary: "End the financing of an invoice by a drawdown, once it is repaid", DefaultStatus: 204,
		Description: financing + "Changes nothing when that drawdown does not finance the invoice.",
		Tags:        tagI, Errors: []int{401, 403, 404, 422, 429}}, h.handleReleaseFinancing())

	documentPaymentWebhook(api)
}
