package http

import (
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"

	"github.com/estatehq/estate/services/contracts"
)

// The tags of the operations, as the document describes them.
const (
	tagApplications = "Applications"
	tagLine         = "Credit line"
	tagDrawdowns    = "Drawdowns"
)

var tags = []*huma.Tag{
	{Name: tagApplications, Description: "Applications for a credit line, decided at once from the business's invoice history at the invoicing service."},
	{Name: tagLine, Description: "The caller's credit line: its limit, what is drawn and what is available."},
	{Name: tagDrawdowns, Description: "Drawdowns against the open invoices the caller issued, repaid when the invoice is paid with payments the credit policy trusts."},
}

// addRoutes lists the whole public API surface. Each operation declares the
// statuses the service answers for its own reasons (Errors); the service
// kit documents those of its middleware and of huma (httpapi.Config).
func addRoutes(api huma.API, h *handlers) {
	tagA, tagL, tagD := []string{tagApplications}, []string{tagLine}, []string{tagDrawdowns}
	huma.Register(api, huma.Operation{OperationID: "create-credit-application", Method: http.MethodPost, Path: "/v1/credit/applications",
		Summary: "Apply for a credit line; decided at once from the invoice history", Tags: tagA, DefaultStatus: 201,
		Description: "The decision counts as paid only the invoices all of whose payments the credit policy trusts " +
			"(credit.trusted_payments; by default customer_confirmed and provider_reported): a payment the issuer merely records does not count. " +
			"404 when the invoicing service does not know the business; 409 when the line is drawn in another currency.",
		Errors: []int{403, 404, 409, 422, 503}}, h.handleApply())
	huma.Register(api, huma.Operation{OperationID: "get-credit-application", Method: http.MethodGet, Path: "/v1/credit/applications/{id}",
		Summary: "Get an application and its decision", Tags: tagA,
		Description: "The application with its decision (approved or declined), the approved limit and the reasons; another business's application is 404.",
		Errors:      []int{403, 404, 503}}, h.handleGetApplication())
	huma.Register(api, huma.Operation{OperationID: "get-credit-line", Method: http.MethodGet, Path: "/v1/credit/line",
		Summary: "The caller's credit line: limit, drawn, available", Tags: tagL,
		Description: "404 until an application of the business is approved.",
		Errors:      []int{403, 404, 503}}, h.handleGetLine())
	huma.Register(api, huma.Operation{OperationID: "create-drawdown", Method: http.MethodPost, Path: "/v1/credit/drawdowns",
		Summary: "Draw against an open invoice the caller issued: at most 80% of its amount due and the available credit",
		Description: "The invoice is held as financed at the invoicing service before the drawdown is written: it cannot then be voided " +
			"or marked uncollectible until the drawdown is repaid, which happens when the invoice is paid, all of it with payments " +
			"the credit policy trusts (by default, confirmed by the customer or reported by a payment provider).",
		Tags: tagD, DefaultStatus: 201, Errors: []int{403, 404, 409, 422, 503}}, h.handleDraw())
	huma.Register(api, huma.Operation{OperationID: "list-drawdowns", Method: http.MethodGet, Path: "/v1/credit/drawdowns",
		Summary: "List the caller's drawdowns, newest first", Tags: tagD,
		Description: "Pages of at most limit drawdowns; starting_after takes the id of the last drawdown of the previous page (404 when it names none of them).",
		Errors:      []int{403, 404, 422, 503}}, h.handleListDrawdowns())
}

// addEventRoutes lists what the invoicing service calls: its outbox posts
// CloudEvents here. It is not behind user auth; an event is never trusted
// alone (the invoice is read back from the invoicing service).
func addEventRoutes(r chi.Router, h *handlers) {
	r.Post(contracts.CreditEventsPath, h.handleEvent())
}
