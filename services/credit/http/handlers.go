package http

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/problem"
	"github.com/estatehq/estate/internal/sqldb"
	"github.com/estatehq/estate/services/credit"
	"github.com/estatehq/estate/services/kit/httpapi"
)

type handlers struct {
	svc    *credit.Service
	logger *slog.Logger
}

func caller(ctx context.Context) credit.Caller {
	p, _ := auth.FromContext(ctx)
	return credit.Caller{Subject: p.Subject, BusinessID: p.BusinessID}
}

// PathID is the id in the path of a resource.
type PathID struct {
	ID string `path:"id" maxLength:"64" doc:"Resource id."`
}

// IdempotencyHeader is the Idempotency-Key of a POST (handled by the
// idempotency middleware; declared here for the OpenAPI document).
type IdempotencyHeader struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Makes the request safe to retry: the same key and body replay the first response for 24 h."`
}

type applicationOutput struct {
	Location string `header:"Location"`
	Body     *Application
}

func (h *handlers) handleApply() func(context.Context, *struct {
	IdempotencyHeader
	Body ApplicationCreate
}) (*applicationOutput, error) {
	return func(ctx context.Context, in *struct {
		IdempotencyHeader
		Body ApplicationCreate
	}) (*applicationOutput, error) {
		a, err := h.svc.Apply(ctx, caller(ctx), in.Body.RequestedLimit, in.Body.Currency)
		if err != nil {
			return nil, h.problemFor(ctx, err, "body")
		}
		return &applicationOutput{Location: "/v1/credit/applications/" + a.ID, Body: applicationOut(a)}, nil
	}
}

func (h *handlers) handleGetApplication() func(context.Context, *PathID) (*applicationOutput, error) {
	return func(ctx context.Context, in *PathID) (*applicationOutput, error) {
		a, err := h.svc.Application(ctx, caller(ctx), in.ID)
		if err != nil {
			return nil, h.problemFor(ctx, err, "path")
		}
		return &applicationOutput{Body: applicationOut(a)}, nil
	}
}

type lineOutput struct{ Body *Line }

func (h *handlers) handleGetLine() func(context.Context, *struct{}) (*lineOutput, error) {
	return func(ctx context.Context, _ *struct{}) (*lineOutput, error) {
		l, err := h.svc.Line(ctx, caller(ctx))
		if err != nil {
			return nil, h.problemFor(ctx, err, "path")
		}
		return &lineOutput{Body: lineOut(l)}, nil
	}
}

type drawdownOutput struct {
	Location string `header:"Location"`
	Body     *Drawdown
}

func (h *handlers) handleDraw() func(context.Context, *struct {
	IdempotencyHeader
	Body DrawdownCreate
}) (*drawdownOutput, error) {
	return func(ctx context.Context, in *struct {
		IdempotencyHeader
		Body DrawdownCreate
	}) (*drawdownOutput, error) {
		c := caller(ctx)
		c.RequestKey = in.IdempotencyKey
		d, err := h.svc.Draw(ctx, c, in.Body.InvoiceID, in.Body.Amount)
		if err != nil {
			return nil, h.problemFor(ctx, err, "body")
		}
		return &drawdownOutput{Location: "/v1/credit/drawdowns/" + d.ID, Body: drawdownOut(d)}, nil
	}
}

type listDrawdownsInput struct {
	Limit         int    `query:"limit" default:"20" minimum:"1" maximum:"100"`
	StartingAfter string `query:"starting_after" maxLength:"64" doc:"Cursor: the id of the last drawdown of the previous page."`
}

type drawdownListOutput struct{ Body *DrawdownList }

func (h *handlers) handleListDrawdowns() func(context.Context, *listDrawdownsInput) (*drawdownListOutput, error) {
	return func(ctx context.Context, in *listDrawdownsInput) (*drawdownListOutput, error) {
		ds, more, err := h.svc.Drawdowns(ctx, caller(ctx), credit.Page{Limit: in.Limit, StartingAfter: in.StartingAfter})
		if err != nil {
			return nil, h.problemFor(ctx, err, "query")
		}
		out := &DrawdownList{Data: make([]*Drawdown, 0, len(ds)), HasMore: more}
		for _, d := range ds {
			out.Data = append(out.Data, drawdownOut(d))
		}
		return &drawdownListOutput{Body: out}, nil
	}
}

// cloudEvent is the part of a structured-mode CloudEvent the receiver reads.
type cloudEvent struct {
	SpecVersion string `json:"specversion"`
	ID          string `json:"id"`
	Type        string `json:"type"`
	Source      string `json:"source"`
	Data        struct {
		InvoiceID string `json:"invoice_id"`
		Issuer    string `json:"issuer"`
	} `json:"data"`
}

// The CloudEvents types the receiver acts on, each of which may mean that a
// financed invoice is repaid; others are acknowledged and ignored.
const (
	EventInvoicePaid      = "dev.estate.invoice.paid"
	EventPaymentConfirmed = "dev.estate.invoice.payment_confirmed"
)

// ErrNotCloudEvent is returned by ParseEvent for a body that is not a
// CloudEvent 1.0 in structured mode.
var ErrNotCloudEvent = errors.New("the body is not a CloudEvent 1.0 with an id, a source and a type")

// ParseEvent reads a structured-mode CloudEvent as the invoicing outbox
// sends it; ok is false for a valid event of a type the credit service does
// not act on (it acts on EventInvoicePaid and EventPaymentConfirmed).
func ParseEvent(body []byte) (p credit.Paid, ok bool, err error) {
	var ev cloudEvent
	if err := json.Unmarshal(body, &ev); err != nil || ev.SpecVersion != "1.0" || ev.ID == "" || ev.Type == "" || ev.Source == "" {
		return credit.Paid{}, false, ErrNotCloudEvent
	}
	if ev.Type != EventInvoicePaid && ev.Type != EventPaymentConfirmed {
		return credit.Paid{}, false, nil
	}
	return credit.Paid{EventID: ev.ID, InvoiceID: ev.Data.InvoiceID, Issuer: ev.Data.Issuer}, true, nil
}

// handleEvent receives one CloudEvent (structured mode). 204 acknowledges
// it (handled, a repeat, or of no interest); 503 with Retry-After asks the
// sender to retry.
func (h *handlers) handleEvent() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt != "application/cloudevents+json" && mt != "application/json" {
			problem.Write(w, r, problem.New(http.StatusUnsupportedMediaType, "send a structured-mode CloudEvent (application/cloudevents+json)"))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 256<<10))
		if err != nil {
			problem.Write(w, r, problem.New(http.StatusRequestEntityTooLarge, "the event is too large"))
			return
		}
		paid, ok, err := ParseEvent(body)
		if err != nil {
			problem.Write(w, r, problem.New(http.StatusBadRequest, err.Error()))
			return
		}
		if !ok {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		_, err = h.svc.HandlePaid(r.Context(), paid)
		var de *credit.Error
		switch {
		case err == nil:
			w.WriteHeader(http.StatusNoContent)
		case errors.As(err, &de) && de.Code == credit.EUNAVAILABLE:
			h.logger.WarnContext(r.Context(), "event deferred: invoicing unavailable", "event_id", paid.EventID, "err", err)
			problem.RetryAfter(w, max(de.RetryAfter, time.Second))
			problem.Write(w, r, problem.New(http.StatusServiceUnavailable, de.Message))
		case errors.As(err, &de) && de.Code == credit.EINVALID:
			problem.Write(w, r, problem.New(http.StatusUnprocessableEntity, de.Message))
		case sqldb.Unavailable(err):
			h.logger.WarnContext(r.Context(), "event deferred: database unavailable", "event_id", paid.EventID, "err", err)
			problem.RetryAfter(w, httpapi.DatabaseRetryAfter)
			problem.Write(w, r, problem.New(http.StatusServiceUnavailable, "the database is unavailable; retry after Retry-After"))
		default:
			h.logger.ErrorContext(r.Context(), "handling event", "event_id", paid.EventID, "err", err)
			problem.Write(w, r, problem.New(http.StatusInternalServerError, "internal error"))
		}
	}
}
