// Package invoicingapi is the credit service's client of the invoicing API:
// it implements credit.Invoicing over HTTP with a machine-to-machine token,
// per-call timeouts, retries with jittered backoff (every call it makes is
// idempotent: GETs, and the PUT and DELETE of a financing hold), a circuit
// breaker, and W3C trace context on every request, so a credit request and
// the invoicing work it causes form one trace.
package invoicingapi

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/estatehq/estate/internal/delivery"
	"github.com/estatehq/estate/services/contracts"
	"github.com/estatehq/estate/services/credit"
)

// TokenSource returns a bearer token acting for the business (the invoicing
// API shows an invoice only to its issuer and customer) that carries the
// scopes the call needs: [contracts.HistoryScope] for History,
// [contracts.FinancingScope] for Finance and ReleaseFinancing, none for
// Invoice.
type TokenSource func(ctx context.Context, businessID string, scopes []string) (string, error)

// Options are what a Client is built from.
type Options struct {
	// BaseURL is the invoicing API, e.g. http://127.0.0.1:8081.
	BaseURL string
	Token   TokenSource
	// Transport sends requests; by default http.DefaultTransport's settings
	// with up to 64 idle connections kept to the invoicing API (the
	// default's 2 would open and close a connection per call under load).
	// It is wrapped for tracing.
	Transport http.RoundTripper
	// Timeout bounds one attempt; 800 ms by default.
	Timeout time.Duration
	// Attempts is how many times a call is tried; 3 by default.
	Attempts int
	// Backoff is the wait before the second attempt, doubled after, with up
	// to half of it taken off at random; 50 ms by default.
	Backoff time.Duration
	// BreakerFailures consecutive failed calls open the breaker for
	// BreakerOpen; 5 and 10 s by default.
	BreakerFailures int
	BreakerOpen     time.Duration
	Now             func() time.Time
	Jitter          func() float64
	// Sleep waits d or until ctx ends; delivery.Sleep by default (tests
	// pass their own to run without waiting).
	Sleep          func(ctx context.Context, d time.Duration) error
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
}

// Client implements credit.Invoicing.
type Client struct {
	o       Options
	base    string
	http    *http.Client
	breaker *Breaker
	backoff delivery.Backoff
}

var _ credit.Invoicing = (*Client)(nil)

// New returns a client.
func New(o Options) (*Client, error) {
	base, err := url.Parse(o.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("invoicing url %q: must be http(s)://host[:port]", o.BaseURL)
	}
	if o.Token == nil {
		return nil, errors.New("invoicing client: a token source is required")
	}
	if o.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone() //nolint:errcheck // the standard library's default is an *http.Transport
		t.MaxIdleConnsPerHost = 64
		o.Transport = t
	}
	if o.Timeout <= 0 {
		o.Timeout = 800 * time.Millisecond
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.Backoff <= 0 {
		o.Backoff = 50 * time.Millisecond
	}
	if o.BreakerFailures <= 0 {
		o.BreakerFailures = 5
	}
	if o.BreakerOpen <= 0 {
		o.BreakerOpen = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Jitter == nil {
		o.Jitter = rand.Float64
	}
	if o.Sleep == nil {
		o.Sleep = delivery.Sleep
	}
	if o.TracerProvider == nil {
		o.TracerProvider = tracenoop.NewTracerProvider()
	}
	if o.Propagator == nil {
		o.Propagator = propagation.TraceContext{}
	}
	tr := otelhttp.NewTransport(o.Transport,
		otelhttp.WithTracerProvider(o.TracerProvider),
		otelhttp.WithPropagators(o.Propagator),
		otelhttp.WithMeterProvider(noop.NewMeterProvider()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "invoicing " + r.Method + " " + r.Pattern }))
	return &Client{
		o: o, base: strings.TrimRight(base.String(), "/"), http: &http.Client{Transport: tr},
		breaker: NewBreaker(o.BreakerFailures, o.BreakerOpen, o.Now),
		backoff: delivery.Backoff{Initial: o.Backoff, Jitter: o.Jitter},
	}, nil
}

// Breaker returns the client's circuit breaker, for health and tests.
func (c *Client) Breaker() *Breaker { return c.breaker }

// wire types: the part of the invoicing API's JSON the credit service reads.
type historyJSON struct {
	Business   string `json:"business"`
	Days       int    `json:"days"`
	Currencies []struct {
		Currency         string `json:"currency"`
		IssuedCount      int64  `json:"issued_count"`
		PaidCount        int64  `json:"paid_count"`
		PaidAmount       int64  `json:"paid_amount"`
		PaidOnTimeCount  int64  `json:"paid_on_time_count"`
		OverdueCount     int64  `json:"overdue_count"`
		OverdueAmount    int64  `json:"overdue_amount"`
		PaidByProvenance []struct {
			Provenances []string `json:"provenances"`
			Count       int64    `json:"count"`
			Amount      int64    `json:"amount"`
			OnTimeCount int64    `json:"on_time_count"`
		} `json:"paid_by_provenance"`
	} `json:"currencies"`
}

type invoiceJSON struct {
	ID                     string           `json:"id"`
	Status                 string           `json:"status"`
	Issuer                 string           `json:"issuer"`
	Customer               string           `json:"customer"`
	Currency               string           `json:"currency"`
	Total                  int64            `json:"total"`
	AmountDue              int64            `json:"amount_due"`
	AmountPaidByProvenance map[string]int64 `json:"amount_paid_by_provenance"`
	Financed               bool             `json:"financed"`
	StatusTransitions      struct {
		PaidAt *time.Time `json:"paid_at"`
	} `json:"status_transitions"`
}

// History implements credit.Invoicing.
func (c *Client) History(ctx context.Context, businessID string, days int) (*credit.History, error) {
	var h historyJSON
	p := "/v1/businesses/" + url.PathEscape(businessID) + "/invoice-history?days=" + strconv.Itoa(days)
	if err := c.call(ctx, http.MethodGet, businessID, []string{contracts.HistoryScope}, "/v1/businesses/{id}/invoice-history", p, &h); err != nil {
		return nil, err
	}
	out := &credit.History{BusinessID: h.Business, Days: h.Days}
	for _, x := range h.Currencies {
		ch := credit.CurrencyHistory{Currency: x.Currency, IssuedCount: x.IssuedCount, PaidCount: x.PaidCount, PaidAmount: x.PaidAmount,
			PaidOnTimeCount: x.PaidOnTimeCount, OverdueCount: x.OverdueCount, OverdueAmount: x.OverdueAmount}
		for _, g := range x.PaidByProvenance {
			ch.Paid = append(ch.Paid, credit.PaidGroup(g))
		}
		out.Currencies = append(out.Currencies, ch)
	}
	return out, nil
}

// Invoice implements credit.Invoicing.
func (c *Client) Invoice(ctx context.Context, businessID, invoiceID string) (*credit.Invoice, error) {
	var inv invoiceJSON
	if err := c.call(ctx, http.MethodGet, businessID, nil, "/v1/invoices/{id}", "/v1/invoices/"+url.PathEscape(invoiceID), &inv); err != nil {
		return nil, err
	}
	return &credit.Invoice{
		ID: inv.ID, Issuer: inv.Issuer, Customer: inv.Customer, Currency: inv.Currency, Status: inv.Status,
		Total: inv.Total, AmountDue: inv.AmountDue, PaidBy: inv.AmountPaidByProvenance, PaidAt: inv.StatusTransitions.PaidAt,
		Financed: inv.Financed,
	}, nil
}

type membershipsJSON struct {
	Data []struct {
		Business string `json:"business"`
		Role     string `json:"role"`
	} `json:"data"`
}

// Memberships implements credit.Invoicing.
func (c *Client) Memberships(ctx context.Context, subject string) ([]contracts.Membership, error) {
	var ms membershipsJSON
	if err := c.call(ctx, http.MethodGet, "", nil, "/v1/memberships", "/v1/memberships?subject="+url.QueryEscape(subject), &ms); err != nil {
		return nil, err
	}
	out := make([]contracts.Membership, 0, len(ms.Data))
	for _, m := range ms.Data {
		out = append(out, contracts.Membership{Business: m.Business, Role: m.Role})
	}
	return out, nil
}

// financingRoute is the route of an invoice's financing hold.
const financingRoute = "/v1/invoices/{id}/financing/{drawdown_id}"

func financingPath(invoiceID, drawdownID string) string {
	return "/v1/invoices/" + url.PathEscape(invoiceID) + "/financing/" + url.PathEscape(drawdownID)
}

// Finance implements credit.Invoicing.
func (c *Client) Finance(ctx context.Context, businessID, invoiceID, drawdownID string) error {
	return c.call(ctx, http.MethodPut, businessID, []string{contracts.FinancingScope}, financingRoute, financingPath(invoiceID, drawdownID), nil)
}

// ReleaseFinancing implements credit.Invoicing.
func (c *Client) ReleaseFinancing(ctx context.Context, businessID, invoiceID, drawdownID string) error {
	return c.call(ctx, http.MethodDelete, businessID, []string{contracts.FinancingScope}, financingRoute, financingPath(invoiceID, drawdownID), nil)
}

// unavailable is the error of a call the invoicing service could not answer.
func unavailable(retryAfter time.Duration, cause error) error {
	return &credit.Error{Code: credit.EUNAVAILABLE, Message: "the invoicing service is unavailable; try again later", RetryAfter: retryAfter, Err: cause}
}

// retryable is a failure worth another attempt (and a breaker failure).
type retryable struct {
	err        error
	retryAfter time.Duration
}

func (r *retryable) Error() string { return r.err.Error() }
func (r *retryable) Unwrap() error { return r.err }

// call sends method to path with a token acting for businessID that carries
// scopes, and reads the answer into out (nil to ignore it). Every call of
// the client is idempotent, so failures worth it are retried with backoff;
// a call that is not must not come through here.
func (c *Client) call(ctx context.Context, method, businessID string, scopes []string, route, path string, out any) error {
	if wait, ok := c.breaker.Allow(); !ok {
		return unavailable(wait, errors.New("circuit breaker open"))
	}
	var last *retryable
	for attempt := range c.o.Attempts {
		if attempt > 0 {
			d := c.backoff.Delay(attempt)
			if last.retryAfter > d {
				break // the server asks for longer than a caller can wait
			}
			if err := c.o.Sleep(ctx, d); err != nil {
				return err
			}
		}
		err := c.once(ctx, method, businessID, scopes, route, path, out)
		if !errors.As(err, &last) {
			c.breaker.Record(true)
			return err
		}
		if ctx.Err() != nil {
			break
		}
	}
	c.breaker.Record(false)
	return unavailable(max(last.retryAfter, c.o.BreakerOpen/2), last.err)
}

func (c *Client) once(ctx context.Context, method, businessID string, scopes []string, route, path string, out any) error {
	tok, err := c.o.Token(ctx, businessID, scopes)
	if err != nil {
		return fmt.Errorf("getting a token for the invoicing service: %w", err)
	}
	actx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, method, c.base+path, nil)
	if err != nil {
		return fmt.Errorf("building request: %w", err)
	}
	req.Pattern = route // names the client span without ids
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return &retryable{err: fmt.Errorf("calling invoicing: %w", err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return &retryable{err: fmt.Errorf("reading invoicing response: %w", err)}
	}
	switch {
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNoContent:
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("decoding invoicing response: %w", err)
		}
		return nil
	case resp.StatusCode == http.StatusNotFound:
		return credit.Errorf(credit.ENOTFOUND, "the invoicing service knows no such resource")
	case resp.StatusCode == http.StatusConflict:
		// The invoicing service's problem detail is written for the caller
		// of the business that made the request.
		var p struct {
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(body, &p)
		return credit.Errorf(credit.ECONFLICT, "the invoicing service refused: %s", cmp.Or(p.Detail, "the invoice's state does not allow it"))
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		ra, _ := delivery.ParseRetryAfter(resp.Header.Get("Retry-After"), c.o.Now())
		return &retryable{err: fmt.Errorf("invoicing answered %d", resp.StatusCode), retryAfter: ra}
	}
	// 401, 403, 422: our request or our credentials are wrong; retrying
	// will not help, and the caller must not see our credentials' fault.
	return fmt.Errorf("invoicing answered %d: %s", resp.StatusCode, truncate(body, 300))
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}
