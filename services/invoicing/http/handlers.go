package http

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/services/contracts"
	"github.com/estatehq/estate/services/invoicing"
	"github.com/estatehq/estate/services/kit/idempotency"
)

// handlers holds what the handler makers close over.
type handlers struct {
	svc      *invoicing.Service
	logger   *slog.Logger
	now      func() time.Time
	onEvents func()
	// machines are the client ids of the machine clients trusted to read
	// any business's history and to act for the business their token
	// names (the credit service's).
	machines []string
}

// machine reports whether the principal is a trusted machine client: a
// token of the client-credentials grant (its subject is its client id) of
// a client the service is configured to trust.
func (h *handlers) machine(p auth.Principal) bool {
	return p.ClientID != "" && p.ClientID == p.Subject && p.StaticToken == "" && slices.Contains(h.machines, p.ClientID)
}

func (h *handlers) caller(ctx context.Context) invoicing.Caller {
	p, _ := auth.FromContext(ctx)
	return invoicing.Caller{Subject: p.Subject, BusinessID: p.BusinessID, Machine: h.machine(p)}
}

// Inputs and outputs of the operations.

// PathID is the id in the path of a resource.
type PathID struct {
	ID string `path:"id" maxLength:"64" doc:"Resource id."`
}

// IdempotencyHeader is the Idempotency-Key of a POST (handled by the
// idempotency middleware; declared here for the OpenAPI document).
type IdempotencyHeader struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Makes the request safe to retry: the same key and body replay the first response for 24 h."`
}

// IfMatchHeader is the If-Match of a change.
type IfMatchHeader struct {
	IfMatch string `header:"If-Match" doc:"ETag of the invoice as last read; 412 when it has changed since."`
}

type businessOutput struct {
	Location string `header:"Location"`
	Body     *Business
}

type invoiceOutput struct {
	ETag     string `header:"ETag"`
	Location string `header:"Location"`
	Body     *Invoice
}

func (h *handlers) invoiceResp(inv *invoicing.Invoice) *invoiceOutput {
	return &invoiceOutput{ETag: etag(inv.Version), Body: invoiceOut(inv, h.now())}
}

func (h *handlers) handleCreateBusiness() func(context.Context, *struct {
	IdempotencyHeader
	Body BusinessCreate
}) (*businessOutput, error) {
	return func(ctx context.Context, in *struct {
		IdempotencyHeader
		Body BusinessCreate
	}) (*businessOutput, error) {
		b, err := h.svc.RegisterBusiness(ctx, h.caller(ctx), invoicing.BusinessInput(in.Body))
		if err != nil {
			return nil, h.problemFor(ctx, err, "body")
		}
		return &businessOutput{Location: location("/v1/businesses/%s", b.ID), Body: businessOut(b, true)}, nil
	}
}

func (h *handlers) handleGetBusiness() func(context.Context, *PathID) (*businessOutput, error) {
	return func(ctx context.Context, in *PathID) (*businessOutput, error) {
		b, own, err := h.svc.Business(ctx, h.caller(ctx), in.ID)
		if err != nil {
			return nil, h.problemFor(ctx, err, "path")
		}
		return &businessOutput{Body: businessOut(b, own)}, nil
	}
}

type historyInput struct {
	PathID
	Days int `query:"days" default:"90" minimum:"1" maximum:"730" doc:"Length of the window, in days, ending now."`
}

type historyOutput struct{ Body *History }

func (h *handlers) handleInvoiceHistory() func(context.Context, *historyInput) (*historyOutput, error) {
	return func(ctx context.Context, in *historyInput) (*historyOutput, error) {
		if p, _ := auth.FromContext(ctx); !h.machine(p) || !p.HasScope(contracts.HistoryScope) {
			return nil, huma.Error403Forbidden("reading invoice history needs a token of a trusted machine client with the scope " + contracts.HistoryScope)
		}
		hist, err := h.svc.History(ctx, in.ID, in.Days)
		if err != nil {
			return nil, h.problemFor(ctx, err, "query")
		}
		return &historyOutput{Body: historyOut(hist)}, nil
	}
}

type createInvoiceInput struct {
	IdempotencyHeader
	Body InvoiceCreate
}

func (h *handlers) handleCreateInvoice() func(context.Context, *createInvoiceInput) (*invoiceOutput, error) {
	return func(ctx context.Context, in *createInvoiceInput) (*invoiceOutput, error) {
		b := in.Body
		inv, err := h.svc.CreateInvoice(ctx, h.caller(ctx), invoicing.InvoiceInput{
			Customer: b.Customer, Currency: b.Currency, DueDate: b.DueDate, Memo: b.Memo, LineItems: lineItemsIn(b.LineItems),
		})
		if err != nil {
			return nil, h.problemFor(ctx, err, "body")
		}
		out := h.invoiceResp(inv)
		out.Location = location("/v1/invoices/%s", inv.ID)
		return out, nil
	}
}

type listInvoicesInput struct {
	Role          string `query:"role" enum:"issued,received" default:"issued" doc:"Invoices the caller issued, or received."`
	Status        string `query:"status" enum:"draft,open,paid,void,uncollectible,overdue"`
	Customer      string `query:"customer" maxLength:"64" doc:"Only invoices to this customer."`
	DueBefore     string `query:"due_before" format:"date" doc:"Only invoices due strictly before this date."`
	Limit         int    `query:"limit" default:"20" minimum:"1" maximum:"100"`
	StartingAfter string `query:"starting_after" maxLength:"64" doc:"Cursor: the id of the last invoice of the previous page."`
}

type invoiceListOutput struct{ Body *InvoiceList }

func (h *handlers) handleListInvoices() func(context.Context, *listInvoicesInput) (*invoiceListOutput, error) {
	return func(ctx context.Context, in *listInvoicesInput) (*invoiceListOutput, error) {
		invs, more, err := h.svc.ListInvoices(ctx, h.caller(ctx), invoicing.InvoiceFilter{
			Role: invoicing.Role(in.Role), Status: in.Status, CustomerID: in.Customer, DueBefore: in.DueBefore,
			Limit: in.Limit, StartingAfter: in.StartingAfter,
		})
		if err != nil {
			return nil, h.problemFor(ctx, err, "query")
		}
		out := &InvoiceList{Data: make([]*Invoice, 0, len(invs)), HasMore: more}
		now := h.now()
		for _, inv := range invs {
			out.Data = append(out.Data, invoiceOut(inv, now))
		}
		return &invoiceListOutput{Body: out}, nil
	}
}

func (h *handlers) handleGetInvoice() func(context.Context, *PathID) (*invoiceOutput, error) {
	return func(ctx context.Context, in *PathID) (*invoiceOutput, error) {
		inv, err := h.svc.Invoice(ctx, h.caller(ctx), in.ID)
		if err != nil {
			return nil, h.problemFor(ctx, err, "path")
		}
		return h.invoiceResp(inv), nil
	}
}

type updateInvoiceInput struct {
	PathID
	IfMatchHeader
	Body InvoicePatch
}

func (h *handlers) handleUpdateInvoice() func(context.Context, *updateInvoiceInput) (*invoiceOutput, error) {
	return func(ctx context.Context, in *updateInvoiceInput) (*invoiceOutput, error) {
		b := in.Body
		p := invoicing.InvoicePatch{Customer: b.Customer, Currency: b.Currency, DueDate: b.DueDate, Memo: b.Memo}
		if b.LineItems != nil {
			items := lineItemsIn(*b.LineItems)
			p.LineItems = &items
		}
		inv, err := h.svc.UpdateInvoice(ctx, h.caller(ctx), in.ID, p, ifMatch(in.IfMatch))
		if err != nil {
			return nil, h.problemFor(ctx, err, "body")
		}
		return h.invoiceResp(inv), nil
	}
}

type deleteInvoiceInput struct {
	PathID
	IfMatchHeader
}

func (h *handlers) handleDeleteInvoice() func(context.Context, *deleteInvoiceInput) (*struct{}, error) {
	return func(ctx context.Context, in *deleteInvoiceInput) (*struct{}, error) {
		if err := h.svc.DeleteInvoice(ctx, h.caller(ctx), in.ID, ifMatch(in.IfMatch)); err != nil {
			return nil, h.problemFor(ctx, err, "path")
		}
		return &struct{}{}, nil
	}
}

type transitionInput struct {
	PathID
	IdempotencyHeader
	IfMatchHeader
}

type transition func(ctx context.Context, c invoicing.Caller, id string, want invoicing.Precondition) (*invoicing.Invoice, error)

// handleTransition makes the handler of a lifecycle transition.
func (h *handlers) handleTransition(fn func() transition, events bool) func(context.Context, *transitionInput) (*invoiceOutput, error) {
	return func(ctx context.Context, in *transitionInput) (*invoiceOutput, error) {
		inv, err := fn()(ctx, h.caller(ctx), in.ID, ifMatch(in.IfMatch))
		if err != nil {
			return nil, h.problemFor(ctx, err, "path")
		}
		if events {
			idempotency.OnCommit(ctx, h.onEvents)
		}
		return h.invoiceResp(inv), nil
	}
}

func (h *handlers) handleSendInvoice() func(context.Context, *transitionInput) (*invoiceOutput, error) {
	return h.handleTransition(func() transition { return h.svc.SendInvoice }, true)
}

func (h *handlers) handleVoidInvoice() func(context.Context, *transitionInput) (*invoiceOutput, error) {
	return h.handleTransition(func() transition { return h.svc.VoidInvoice }, true)
}

func (h *handlers) handleMarkUncollectible() func(context.Context, *transitionInput) (*invoiceOutput, error) {
	return h.handleTransition(func() transition { return h.svc.MarkUncollectible }, false)
}

type createPaymentInput struct {
	PathID
	IdempotencyHeader
	IfMatchHeader
	Body PaymentCreate
}

type paymentOutput struct {
	ETag string `header:"ETag" doc:"The ETag of the invoice after the payment."`
	Body *Payment
}

func (h *handlers) handleCreatePayment() func(context.Context, *createPaymentInput) (*paymentOutput, error) {
	return func(ctx context.Context, in *createPaymentInput) (*paymentOutput, error) {
		inv, pay, err := h.svc.PayInvoice(ctx, h.caller(ctx), in.ID, invoicing.PaymentInput(in.Body), ifMatch(in.IfMatch))
		if err != nil {
			return nil, h.problemFor(ctx, err, "body")
		}
		if inv.Status == invoicing.StatusPaid {
			idempotency.OnCommit(ctx, h.onEvents)
		}
		out := paymentOut(pay)
		out.Invoice = invoiceOut(inv, h.now())
		return &paymentOutput{ETag: etag(inv.Version), Body: out}, nil
	}
}

type paymentListOutput struct{ Body *PaymentList }

func (h *handlers) handleListPayments() func(context.Context, *PathID) (*paymentListOutput, error) {
	return func(ctx context.Context, in *PathID) (*paymentListOutput, error) {
		pays, err := h.svc.Payments(ctx, h.caller(ctx), in.ID)
		if err != nil {
			return nil, h.problemFor(ctx, err, "path")
		}
		out := &PaymentList{Data: make([]*Payment, 0, len(pays))}
		for _, p := range pays {
			out.Data = append(out.Data, paymentOut(p))
		}
		return &paymentListOutput{Body: out}, nil
	}
}

type confirmPaymentInput struct {
	PathID
	PaymentID string `path:"payment_id" maxLength:"64" doc:"Payment id."`
	IdempotencyHeader
}

func (h *handlers) handleConfirmPayment() func(context.Context, *confirmPaymentInput) (*paymentOutput, error) {
	return func(ctx context.Context, in *confirmPaymentInput) (*paymentOutput, error) {
		inv, pay, err := h.svc.ConfirmPayment(ctx, h.caller(ctx), in.ID, in.PaymentID)
		if err != nil {
			return nil, h.problemFor(ctx, err, "path")
		}
		h.onEvents()
		out := paymentOut(pay)
		out.Invoice = invoiceOut(inv, h.now())
		return &paymentOutput{ETag: etag(inv.Version), Body: out}, nil
	}
}

type financingInput struct {
	PathID
	DrawdownID string `path:"drawdown_id" maxLength:"64" doc:"The credit drawdown that finances the invoice."`
}

// financing checks that the caller may change an invoice's financing: a
// token of a trusted machine client (the credit service's) with the
// financing scope.
func (h *handlers) financing(ctx context.Context) error {
	if p, _ := auth.FromContext(ctx); !h.machine(p) || !p.HasScope(contracts.FinancingScope) {
		return huma.Error403Forbidden("changing an invoice's financing needs a token of a trusted machine client with the scope " + contracts.FinancingScope)
	}
	return nil
}

func (h *handlers) handleFinance() func(context.Context, *financingInput) (*invoiceOutput, error) {
	return func(ctx context.Context, in *financingInput) (*invoiceOutput, error) {
		if err := h.financing(ctx); err != nil {
			return nil, err
		}
		inv, err := h.svc.Finance(ctx, h.caller(ctx), in.ID, in.DrawdownID)
		if err != nil {
			return nil, h.problemFor(ctx, err, "path")
		}
		return h.invoiceResp(inv), nil
	}
}

func (h *handlers) handleReleaseFinancing() func(context.Context, *financingInput) (*struct{}, error) {
	return func(ctx context.Context, in *financingInput) (*struct{}, error) {
		if err := h.financing(ctx); err != nil {
			return nil, err
		}
		if _, err := h.svc.ReleaseFinancing(ctx, h.caller(ctx), in.ID, in.DrawdownID); err != nil {
			return nil, h.problemFor(ctx, err, "path")
		}
		return &struct{}{}, nil
	}
}
