package http_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/estatehq/estate/services/contracts"
	"github.com/estatehq/estate/services/credit"
)

// TestRepaymentThroughTheOutbox: the customer pays a financed invoice; the
// invoicing outbox delivers invoice.paid to the credit service, which was
// down at the first attempt, and the event is delivered twice.
func TestRepaymentThroughTheOutbox(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	me, customer := e.withHistory("me", 3, 10_000)
	expect(t, e.do(e.credit.URL, "POST", "/v1/credit/applications", me.token, map[string]any{"requested_limit": 10_000, "currency": "eur"}), 201)
	inv := e.invoice(me, customer, 10_000, 30)
	dd := expect(t, e.do(e.credit.URL, "POST", "/v1/credit/drawdowns", me.token, map[string]any{"invoice_id": inv, "amount": 8000}), 201)
	// Deliver the history's events (the credit service ignores invoices it
	// did not finance).
	_, err := e.relay.DeliverOnce(ctx)
	require.NoError(t, err)
	drain(e.delivered)

	e.pay(me, inv, 10_000)
	e.creditDown.Store(true)
	n, err := e.relay.DeliverOnce(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "the credit service is down")
	require.Equal(t, int64(8000), num(e.line(me)["drawn"]))

	e.creditDown.Store(false)
	e.clock.Add(time.Minute) // past the relay's backoff
	n, err = e.relay.DeliverOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	line := e.line(me)
	require.Equal(t, int64(0), num(line["drawn"]))
	require.Equal(t, int64(10_000), num(line["available"]))
	list := expect(t, e.do(e.credit.URL, "GET", "/v1/credit/drawdowns", me.token, nil), 200)
	got := list.Body["data"].([]any)[0].(map[string]any)
	require.Equal(t, dd.Body["id"], got["id"])
	require.Equal(t, "settled", got["status"])
	require.NotEmpty(t, got["settled_at"])

	// The same event delivered again changes nothing.
	body := <-e.delivered
	for range 2 {
		res, err := http.Post(e.credit.URL+contracts.CreditEventsPath, "application/cloudevents+json", bytes.NewReader(body))
		require.NoError(t, err)
		require.NoError(t, res.Body.Close())
		require.Equal(t, http.StatusNoContent, res.StatusCode)
	}
	require.Equal(t, int64(0), num(e.line(me)["drawn"]))

	// A draw on the restored line works again.
	inv2 := e.invoice(me, customer, 10_000, 30)
	expect(t, e.do(e.credit.URL, "POST", "/v1/credit/drawdowns", me.token, map[string]any{"invoice_id": inv2, "amount": 8000}), 201)
	require.Equal(t, int64(8000), num(e.line(me)["drawn"]))
}

func drain(c chan []byte) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// TestEventNotTrusted: an invoice.paid event for an invoice the invoicing
// service says is still open settles nothing.
func TestEventNotTrusted(t *testing.T) {
	e := newEnv(t)
	me, customer := e.withHistory("me", 3, 10_000)
	expect(t, e.do(e.credit.URL, "POST", "/v1/credit/applications", me.token, map[string]any{"requested_limit": 10_000, "currency": "eur"}), 201)
	inv := e.invoice(me, customer, 10_000, 30)
	expect(t, e.do(e.credit.URL, "POST", "/v1/credit/drawdowns", me.token, map[string]any{"invoice_id": inv, "amount": 8000}), 201)
	forged := `{"specversion":"1.0","id":"evt_forged","type":"dev.estate.invoice.paid","source":"/x","data":{"invoice_id":"` + inv + `","issuer":"` + me.id + `"}}`
	res, err := http.Post(e.credit.URL+contracts.CreditEventsPath, "application/cloudevents+json", bytes.NewReader([]byte(forged)))
	require.NoError(t, err)
	require.NoError(t, res.Body.Close())
	require.Equal(t, http.StatusNoContent, res.StatusCode)
	require.Equal(t, int64(8000), num(e.line(me)["drawn"]))

	for _, bad := range []string{`{`, `{"specversion":"0.3","id":"x","type":"t"}`} {
		res, err := http.Post(e.credit.URL+contracts.CreditEventsPath, "application/cloudevents+json", bytes.NewReader([]byte(bad)))
		require.NoError(t, err)
		require.NoError(t, res.Body.Close())
		require.Equal(t, http.StatusBadRequest, res.StatusCode)
	}
}

// TestReconcile: a lost delivery is caught by the reconcile loop.
func TestReconcile(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	me, customer := e.withHistory("me", 3, 10_000)
	expect(t, e.do(e.credit.URL, "POST", "/v1/credit/applications", me.token, map[string]any{"requested_limit": 10_000, "currency": "eur"}), 201)
	open := e.invoice(me, customer, 10_000, 30)
	paid := e.invoice(me, customer, 10_000, 30)
	expect(t, e.do(e.credit.URL, "POST", "/v1/credit/drawdowns", me.token, map[string]any{"invoice_id": open, "amount": 1000}), 201)
	expect(t, e.do(e.credit.URL, "POST", "/v1/credit/drawdowns", me.token, map[string]any{"invoice_id": paid, "amount": 2000}), 201)
	e.pay(me, paid, 10_000) // and the outbox never delivers it

	n, err := e.creditSvc.Reconcile(ctx, e.clock.Now().Add(-10*time.Minute), 100)
	require.NoError(t, err)
	require.Zero(t, n, "checked too recently")
	e.clock.Add(time.Hour)
	n, err = e.creditSvc.Reconcile(ctx, e.clock.Now().Add(-10*time.Minute), 100)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, int64(1000), num(e.line(me)["drawn"]))
	// The open one was checked and is not asked about again at once.
	ds, err := e.creditStore.Unchecked(ctx, e.clock.Now().Add(-10*time.Minute), 100)
	require.NoError(t, err)
	require.Empty(t, ds)
}

// TestInvoicingUnavailable: with the invoicing service stopped, decisions
// and drawdowns answer 503 with Retry-After and write nothing; the breaker
// then opens and answers without calling.
func TestInvoicingUnavailable(t *testing.T) {
	e := newEnv(t)
	me, customer := e.withHistory("me", 3, 10_000)
	expect(t, e.do(e.credit.URL, "POST", "/v1/credit/applications", me.token, map[string]any{"requested_limit": 10_000, "currency": "eur"}), 201)
	inv := e.invoice(me, customer, 10_000, 30)
	e.invoices.Close()

	for i := range 3 {
		r := expect(t, e.do(e.credit.URL, "POST", "/v1/credit/applications", me.token, map[string]any{"requested_limit": 20_000, "currency": "eur"}, "Idempotency-Key", key("apply", i)), 503)
		require.NotEmpty(t, r.Header.Get("Retry-After"))
		r = expect(t, e.do(e.credit.URL, "POST", "/v1/credit/drawdowns", me.token, map[string]any{"invoice_id": inv, "amount": 100}), 503)
		require.NotEmpty(t, r.Header.Get("Retry-After"))
	}
	require.True(t, e.client.Breaker().Open())
	line := e.line(me)
	require.Equal(t, int64(10_000), num(line["limit"]), "no decision was written")
	require.Equal(t, int64(0), num(line["drawn"]), "no drawdown was written")
	var apps int
	require.NoError(t, e.creditStore.DB().QueryRow(`SELECT count(*) FROM applications`).Scan(&apps))
	require.Equal(t, 1, apps)
	list := expect(t, e.do(e.credit.URL, "GET", "/v1/credit/drawdowns", me.token, nil), 200)
	require.Empty(t, list.Body["data"])
	// With the breaker open the client answers at once.
	require.Equal(t, credit.EUNAVAILABLE, credit.ErrorCode(func() error {
		_, err := e.client.History(context.Background(), me.id, 90)
		return err
	}()))
}

// TestOneTrace: a drawdown and the invoicing work it causes form one trace.
func TestOneTrace(t *testing.T) {
	e := newEnv(t)
	me, customer := e.withHistory("me", 3, 10_000)
	expect(t, e.do(e.credit.URL, "POST", "/v1/credit/applications", me.token, map[string]any{"requested_limit": 10_000, "currency": "eur"}), 201)
	inv := e.invoice(me, customer, 10_000, 30)
	before := len(e.spans.Ended())
	expect(t, e.do(e.credit.URL, "POST", "/v1/credit/drawdowns", me.token, map[string]any{"invoice_id": inv, "amount": 100}), 201)

	var creditSpan, invoicingSpan trace.SpanContext
	for _, s := range e.spans.Ended()[before:] {
		svc := ""
		for _, kv := range s.Resource().Attributes() {
			if kv.Key == "service.name" {
				svc = kv.Value.AsString()
			}
		}
		switch {
		case svc == "credit" && s.SpanKind() == trace.SpanKindServer && s.Name() == "POST /v1/credit/drawdowns":
			creditSpan = s.SpanContext()
		case svc == "invoicing" && s.SpanKind() == trace.SpanKindServer && s.Name() == "GET /v1/invoices/{id}":
			invoicingSpan = s.SpanContext()
		}
	}
	require.True(t, creditSpan.IsValid(), "no credit server span")
	require.True(t, invoicingSpan.IsValid(), "no invoicing server span")
	require.Equal(t, creditSpan.TraceID(), invoicingSpan.TraceID())
}
