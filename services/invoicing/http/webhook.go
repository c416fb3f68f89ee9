package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/estatehq/estate/internal/problem"
	"github.com/estatehq/estate/services/invoicing"
	"github.com/estatehq/estate/services/kit/httpapi"
	"github.com/estatehq/estate/services/kit/webhook"
)

// PaymentWebhookPath is where payment providers report payments. It is
// outside the bearer-token API: the request is authenticated by its
// signature (services/kit/webhook) under the configured secret, so no
// business's token, the customer's least of all, can record a payment
// there.
const PaymentWebhookPath = "/v1/webhooks/payments"

// maxWebhookBody bounds a payment report.
const maxWebhookBody = 64 << 10

// handlePaymentWebhook records the payment a provider reports: 201 with the
// payment when it is new, 200 with the payment first recorded when the
// provider reports it again. Every refusal is problem+json: 401 for a
// signature that is missing, wrong or outside the tolerance.
func (h *handlers) handlePaymentWebhook(secret string, tolerance time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			problem.Write(w, r, problem.New(http.StatusUnsupportedMediaType, "send the payment report as application/json"))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
		if err != nil {
			problem.Write(w, r, problem.New(http.StatusRequestEntityTooLarge, "the payment report is too large"))
			return
		}
		if err := webhook.Verify(r.Header.Get(webhook.Header), body, secret, h.now(), tolerance); err != nil {
			reason := "the signature is refused"
			var we *webhook.Error
			if errors.As(err, &we) {
				reason = we.Reason
			}
			h.logger.WarnContext(r.Context(), "payment report refused", "reason", reason)
			w.Header().Set("WWW-Authenticate", webhook.Header)
			problem.Write(w, r, problem.New(http.StatusUnauthorized, reason,
				problem.FieldError{Location: "header." + webhook.Header, Message: reason}))
			return
		}
		var in PaymentReport
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			problem.Write(w, r, problem.New(http.StatusBadRequest, "the body is not a payment report: "+jsonProblem(err)))
			return
		}
		inv, pay, created, err := h.svc.ReportPayment(r.Context(), invoicing.ProviderPaymentInput{
			ID: in.ID, InvoiceID: in.InvoiceID, PaymentInput: invoicing.PaymentInput(in.PaymentCreate),
		})
		if err != nil {
			problem.Write(w, r, h.problemDetails(r.Context(), err, "body"))
			return
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
			if inv.Status == invoicing.StatusPaid {
				h.onEvents()
			}
		}
		out := paymentOut(pay)
		out.Invoice = invoiceOut(inv, h.now())
		b, err := json.Marshal(out)
		if err != nil {
			problem.Write(w, r, h.problemDetails(r.Context(), err, "body"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", etag(inv.Version))
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(status)
		_, _ = w.Write(b)
	}
}

// jsonProblem says what is wrong with a JSON body without echoing it.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return "malformed JSON"
	case errors.As(err, &typ):
		return "the field " + typ.Field + " has the wrong type"
	}
	return "unknown field or malformed JSON"
}

// problemDetails is problemFor for handlers outside huma.
func (h *handlers) problemDetails(ctx context.Context, err error, loc string) *problem.Details {
	status, ok := codeStatus[invoicing.ErrorCode(err)]
	if !ok {
		var se huma.StatusError
		errors.As(httpapi.InternalError(ctx, h.logger, err), &se)
		return problem.New(se.GetStatus(), se.Error())
	}
	var de *invoicing.Error
	errors.As(err, &de)
	p := problem.New(status, de.Message)
	for _, f := range de.Fields {
		p.Errors = append(p.Errors, problem.FieldError{Location: loc + "." + f.Field, Message: f.Message, Value: f.Value})
	}
	return p
}

// documentPaymentWebhook adds the payment webhook to the OpenAPI document:
// it is served outside huma, beside the bearer-token API, and
// authenticated by its signature.
func documentPaymentWebhook(api huma.API) {
	doc := api.OpenAPI()
	reg := doc.Components.Schemas
	errType := reflect.TypeOf(huma.NewError(0, "")).Elem()
	problemOf := func(desc string) *huma.Response {
		return &huma.Response{Description: desc, Content: map[string]*huma.MediaType{
			problem.ContentType: {Schema: reg.Schema(errType, true, "Error")},
		}}
	}
	payment := func(desc string) *huma.Response {
		return &huma.Response{Description: desc,
			Headers: map[string]*huma.Param{"ETag": {Schema: &huma.Schema{Type: "string"}, Description: "The ETag of the invoice after the payment."}},
			Content: map[string]*huma.MediaType{"application/json": {Schema: reg.Schema(reflect.TypeOf(Payment{}), true, "Payment")}}}
	}
	doc.AddOperation(&huma.Operation{
		OperationID: "report-payment", Method: http.MethodPost, Path: PaymentWebhookPath, Tags: []string{tagProviders},
		Summary: "Report a payment, as a payment provider",
		Description: "Records a payment of provenance provider_reported against an open or uncollectible invoice. " +
			"No bearer token: the request is signed, as Stripe signs its webhooks. The header " + webhook.Header +
			" is `t=<Unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\">` under the secret configured as invoicing.payment_webhook_secret; " +
			"a signature made more than the configured tolerance (5 minutes by default) from the server's clock is refused, " +
			"and a report repeated with the same id records nothing new.",
		Security: httpapi.Public(),
		Parameters: []*huma.Param{{Name: webhook.Header, In: "header", Required: true, Schema: &huma.Schema{Type: "string"},
			Description: "t=<Unix seconds>,v1=<hex HMAC-SHA256>; several v1 entries while a secret is rotated.",
			Example:     "t=1767225600,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd"}},
		RequestBody: &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
			"application/json": {Schema: reg.Schema(reflect.TypeOf(PaymentReport{}), true, "PaymentReport")},
		}},
		Responses: map[string]*huma.Response{
			"200": payment("The provider reported this payment before: the payment as first recorded."),
			"201": payment("The payment is recorded; the invoice is paid when nothing is left due."),
			"400": problemOf("The body is not a payment report."),
			"401": problemOf("The signature is missing, does not match the body, or was made outside the tolerance."),
			"404": problemOf("There is no such invoice."),
			"409": problemOf("The invoice cannot be paid (its status, or the amount exceeds what is due), or the id was reported before for another invoice or amount."),
			"413": problemOf("The report is too large."),
			"415": problemOf("The report is not application/json."),
			"422": problemOf("A field of the report is invalid."),
		},
	})
}
