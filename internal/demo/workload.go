package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Business is one business the workload registered.
type Business struct {
	ID    string
	Owner string
	// Finance is the subject of its finance member.
	Finance string
}

// invoiceRef is what the workload remembers of an invoice to act on it
// next: its ETag for If-Match, its parties and what is due.
type invoiceRef struct {
	id, etag        string
	issuer, customr int
	due             int64
}

// paymentRef is a payment the invoice's customer may confirm.
type paymentRef struct {
	invoice, payment string
	customer         int
}

// poolSize bounds each pool of invoices and payments: the oldest go.
const poolSize = 256

// pool is a bounded LIFO of references.
type pool[T any] struct{ items []T }

func (p *pool[T]) push(v T) {
	if len(p.items) == poolSize {
		p.items = p.items[1:]
	}
	p.items = append(p.items, v)
}

func (p *pool[T]) pop() (T, bool) {
	var zero T
	if len(p.items) == 0 {
		return zero, false
	}
	v := p.items[len(p.items)-1]
	p.items = p.items[:len(p.items)-1]
	return v, true
}

func (p *pool[T]) peek(rng *rand.Rand) (T, bool) {
	var zero T
	if len(p.items) == 0 {
		return zero, false
	}
	return p.items[rng.IntN(len(p.items))], true
}

// workload is customer traffic on both services, through their public
// APIs, as the businesses' owners and finance members.
type workload struct {
	o      *Options
	hc     *http.Client
	tokens *tokenCache
	biz    []Business

	mu       sync.Mutex
	rng      *rand.Rand
	drafts   pool[invoiceRef]
	open     pool[invoiceRef]
	paid     pool[invoiceRef]
	payments pool[paymentRef]

	// sent counts requests by status class ("2xx", "4xx", "5xx", "error").
	sent    map[string]int64
	skipped atomic.Int64
}

// op is one kind of customer request, drawn with its weight.
type op struct {
	name   string
	weight int
	do     func(w *workload, ctx context.Context)
}

// ops is the traffic mix: mostly the invoice lifecycle and reads, a few
// slow pages, credit, and about 5% client errors (bad input, not found,
// conflicts).
var ops = []op{
	{"create-invoice", 16, (*workload).createInvoice},
	{"send-invoice", 12, (*workload).sendInvoice},
	{"pay-invoice", 10, (*workload).payInvoice},
	{"confirm-payment", 6, (*workload).confirmPayment},
	{"list-invoices", 12, (*workload).listInvoices},
	{"get-invoice", 12, (*workload).getInvoice},
	{"get-business", 5, (*workload).getBusiness},
	{"list-payments", 4, (*workload).listPayments},
	{"list-invoices-large", 2, (*workload).listInvoicesLarge},
	{"credit-apply", 3, (*workload).creditApply},
	{"credit-line", 6, (*workload).creditLine},
	{"credit-drawdown", 3, (*workload).creditDraw},
	{"credit-list-drawdowns", 4, (*workload).creditList},
	{"bad-invoice", 2, (*workload).badInvoice},
	{"missing-invoice", 2, (*workload).missingInvoice},
	{"second-business", 1, (*workload).secondBusiness},
	{"malformed-body", 1, (*workload).malformedBody},
	{"overpay", 1, (*workload).overpay},
}

var opsWeight = func() int {
	n := 0
	for _, o := range ops {
		n += o.weight
	}
	return n
}()

var legalNames = []string{"Acme Ltd", "Globex SARL", "Initech GmbH", "Umbrella BV", "Hooli SpA", "Stark Industries", "Wayne Enterprises", "Tyrell SA",
	"Soylent AB", "Cyberdyne Oy", "Wonka Ltd", "Gringotts plc"}
var countries = []string{"GB", "FR", "DE", "NL", "IT", "IE", "ES", "BE"}
var goods = []string{"Consulting, day rate", "Cloud hosting, monthly", "Support plan", "Licence seat", "Hardware rental", "Training session", "Audit"}

// setup registers the businesses the workload trades between, once: on a
// later start their owners' memberships name them.
func (w *workload) setup(ctx context.Context) error {
	for i := range w.o.Config.Businesses {
		b := Business{Owner: "demo-owner-" + strconv.Itoa(i+1), Finance: "demo-finance-" + strconv.Itoa(i+1)}
		var ms struct {
			Data []struct{ Business, Role string }
		}
		tok, err := w.tokens.get(b.Owner, "")
		if err != nil {
			return err
		}
		if code, _, err := w.call(ctx, http.MethodGet, w.o.InvoicingURL+"/v1/memberships", tok, "", nil, &ms); err != nil || code != http.StatusOK {
			return fmt.Errorf("reading the memberships of %s: %d %w", b.Owner, code, err)
		}
		for _, m := range ms.Data {
			if m.Role == "owner" {
				b.ID = m.Business
				break
			}
		}
		if b.ID == "" {
			var created struct{ ID string }
			body := map[string]any{"legal_name": legalNames[i%len(legalNames)] + suffix(i), "country": countries[i%len(countries)],
				"registration_number": fmt.Sprintf("REG-%06d", 1000+i), "billing_email": fmt.Sprintf("billing+%d@example.com", i+1)}
			if code, _, err := w.call(ctx, http.MethodPost, w.o.InvoicingURL+"/v1/businesses", tok, "", body, &created); err != nil || code != http.StatusCreated {
				return fmt.Errorf("registering the business of %s: %d %w", b.Owner, code, err)
			}
			b.ID = created.ID
		}
		ownerTok, err := w.tokens.get(b.Owner, b.ID)
		if err != nil {
			return err
		}
		code, _, err := w.call(ctx, http.MethodPost, w.o.InvoicingURL+"/v1/businesses/"+b.ID+"/members", ownerTok, "",
			map[string]any{"subject": b.Finance, "role": "finance"}, nil)
		if err != nil || (code != http.StatusCreated && code != http.StatusConflict) {
			return fmt.Errorf("adding the finance member of %s: %d %w", b.ID, code, err)
		}
		w.biz = append(w.biz, b)
	}
	return nil
}

func suffix(i int) string {
	if i < len(legalNames) {
		return ""
	}
	return " " + strconv.Itoa(i/len(legalNames)+1)
}

// run sends requests at the configured rate until ctx ends: open loop,
// so a slow answer does not slow the arrivals; a request due while
// Concurrency are in flight is skipped.
func (w *workload) run(ctx context.Context) {
	interval := time.Duration(float64(time.Second) / w.o.Config.Rate)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	sem := make(chan struct{}, w.o.Config.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case sem <- struct{}{}:
		default:
			w.skipped.Add(1)
			continue
		}
		o := w.draw()
		wg.Go(func() {
			defer func() { <-sem }()
			o.do(w, ctx)
		})
	}
}

func (w *workload) draw() op {
	w.mu.Lock()
	n := w.rng.IntN(opsWeight)
	w.mu.Unlock()
	for _, o := range ops {
		if n < o.weight {
			return o
		}
		n -= o.weight
	}
	return ops[0]
}

// pick draws a number below n.
func (w *workload) pick(n int) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rng.IntN(n)
}

// as is the token of a business's owner (finance false) or finance
// member.
func (w *workload) as(i int, finance bool) string {
	sub := w.biz[i].Owner
	if finance {
		sub = w.biz[i].Finance
	}
	tok, err := w.tokens.get(sub, w.biz[i].ID)
	if err != nil {
		w.o.Logger.Warn("demo: minting a token", "err", err)
	}
	return tok
}

func (w *workload) createInvoice(ctx context.Context) {
	issuer := w.pick(len(w.biz))
	customer := (issuer + 1 + w.pick(len(w.biz)-1)) % len(w.biz)
	var lines []map[string]any
	for range 1 + w.pick(4) {
		lines = append(lines, map[string]any{"description": goods[w.pick(len(goods))], "quantity": 1 + w.pick(10),
			"unit_amount": 1000 * (5 + w.pick(200)), "tax_rate": []string{"20", "0", "5.5", "19"}[w.pick(4)]})
	}
	body := map[string]any{"customer": w.biz[customer].ID, "currency": "EUR",
		"due_date": time.Now().AddDate(0, 0, 14+w.pick(30)).Format(time.DateOnly), "memo": "Thank you for your business", "line_items": lines}
	var inv struct {
		ID        string `json:"id"`
		AmountDue int64  `json:"amount_due"`
	}
	code, etag, err := w.call(ctx, http.MethodPost, w.o.InvoicingURL+"/v1/invoices", w.as(issuer, w.pick(2) == 0), "", body, &inv)
	if err == nil && code == http.StatusCreated {
		w.mu.Lock()
		w.drafts.push(invoiceRef{id: inv.ID, etag: etag, issuer: issuer, customr: customer, due: inv.AmountDue})
		w.mu.Unlock()
	}
}

func (w *workload) take(p *pool[invoiceRef]) (invoiceRef, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return p.pop()
}

func (w *workload) sendInvoice(ctx context.Context) {
	inv, ok := w.take(&w.drafts)
	if !ok {
		w.createInvoice(ctx)
		return
	}
	var out struct {
		AmountDue int64 `json:"amount_due"`
	}
	code, etag, err := w.call(ctx, http.MethodPost, w.o.InvoicingURL+"/v1/invoices/"+inv.id+"/send", w.as(inv.issuer, false), inv.etag, nil, &out)
	if err == nil && code == http.StatusOK {
		inv.etag, inv.due = etag, out.AmountDue
		w.mu.Lock()
		w.open.push(inv)
		w.mu.Unlock()
	}
}

func (w *workload) payInvoice(ctx context.Context) {
	inv, ok := w.take(&w.open)
	if !ok {
		w.sendInvoice(ctx)
		return
	}
	amount := inv.due
	partial := w.pick(4) == 0 && amount > 100
	if partial {
		amount /= 2
	}
	var pay struct {
		ID      string `json:"id"`
		Invoice struct {
			AmountDue int64 `json:"amount_due"`
		} `json:"invoice"`
	}
	body := map[string]any{"amount": amount, "method": []string{"bank_transfer", "card", "bank_transfer", "check"}[w.pick(4)], "reference": "TX" + strconv.Itoa(w.pick(1e9))}
	code, etag, err := w.call(ctx, http.MethodPost, w.o.InvoicingURL+"/v1/invoices/"+inv.id+"/payments", w.as(inv.issuer, true), inv.etag, body, &pay)
	if err != nil || code != http.StatusCreated {
		return
	}
	inv.etag, inv.due = etag, pay.Invoice.AmountDue
	w.mu.Lock()
	defer w.mu.Unlock()
	w.payments.push(paymentRef{invoice: inv.id, payment: pay.ID, customer: inv.customr})
	if inv.due > 0 {
		w.open.push(inv)
	} else {
		w.paid.push(inv)
	}
}

func (w *workload) confirmPayment(ctx context.Context) {
	w.mu.Lock()
	p, ok := w.payments.pop()
	w.mu.Unlock()
	if !ok {
		w.payInvoice(ctx)
		return
	}
	w.call(ctx, http.MethodPost, w.o.InvoicingURL+"/v1/invoices/"+p.invoice+"/payments/"+p.payment+"/confirm", w.as(p.customer, true), "", nil, nil) //nolint:errcheck // counted in sent
}

func (w *workload) listInvoices(ctx context.Context) {
	w.call(ctx, http.MethodGet, w.o.InvoicingURL+"/v1/invoices?limit=20", w.as(w.pick(len(w.biz)), true), "", nil, nil) //nolint:errcheck // counted in sent
}

// listInvoicesLarge is one of the slow routes: the largest page.
func (w *workload) listInvoicesLarge(ctx context.Context) {
	w.call(ctx, http.MethodGet, w.o.InvoicingURL+"/v1/invoices?limit=100", w.as(w.pick(len(w.biz)), false), "", nil, nil) //nolint:errcheck // counted in sent
}

// known is an invoice of the pools, as its issuer or its customer reads
// it.
func (w *workload) known() (invoiceRef, int, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range []*pool[invoiceRef]{&w.paid, &w.open} {
		if inv, ok := p.peek(w.rng); ok {
			if w.rng.IntN(2) == 0 {
				return inv, inv.customr, true
			}
			return inv, inv.issuer, true
		}
	}
	return invoiceRef{}, 0, false
}

func (w *workload) getInvoice(ctx context.Context) {
	inv, who, ok := w.known()
	if !ok {
		w.listInvoices(ctx)
		return
	}
	w.call(ctx, http.MethodGet, w.o.InvoicingURL+"/v1/invoices/"+inv.id, w.as(who, false), "", nil, nil) //nolint:errcheck // counted in sent
}

func (w *workload) listPayments(ctx context.Context) {
	inv, who, ok := w.known()
	if !ok {
		w.listInvoices(ctx)
		return
	}
	w.call(ctx, http.MethodGet, w.o.InvoicingURL+"/v1/invoices/"+inv.id+"/payments", w.as(who, true), "", nil, nil) //nolint:errcheck // counted in sent
}

func (w *workload) getBusiness(ctx context.Context) {
	w.call(ctx, http.MethodGet, w.o.InvoicingURL+"/v1/businesses/"+w.biz[w.pick(len(w.biz))].ID, w.as(w.pick(len(w.biz)), false), "", nil, nil) //nolint:errcheck // counted in sent
}

// creditApply is the other slow route: the decision reads the business's
// history at the invoicing service.
func (w *workload) creditApply(ctx context.Context) {
	body := map[string]any{"requested_limit": 100000 * (1 + w.pick(50)), "currency": "EUR"}
	w.call(ctx, http.MethodPost, w.o.CreditURL+"/v1/credit/applications", w.as(w.pick(len(w.biz)), false), "", body, nil) //nolint:errcheck // counted in sent
}

func (w *workload) creditLine(ctx context.Context) {
	w.call(ctx, http.MethodGet, w.o.CreditURL+"/v1/credit/line", w.as(w.pick(len(w.biz)), true), "", nil, nil) //nolint:errcheck // counted in sent
}

func (w *workload) creditList(ctx context.Context) {
	w.call(ctx, http.MethodGet, w.o.CreditURL+"/v1/credit/drawdowns?limit=20", w.as(w.pick(len(w.biz)), true), "", nil, nil) //nolint:errcheck // counted in sent
}

// creditDraw draws against an open invoice; the issuer's line may not
// allow it (404 without a line, 422 beyond it), as for a customer.
func (w *workload) creditDraw(ctx context.Context) {
	inv, ok := w.take(&w.open)
	if !ok {
		w.creditLine(ctx)
		return
	}
	body := map[string]any{"invoice_id": inv.id, "amount": max(inv.due/2, 1)}
	code, _, err := w.call(ctx, http.MethodPost, w.o.CreditURL+"/v1/credit/drawdowns", w.as(inv.issuer, false), "", body, nil)
	if err == nil && code != http.StatusCreated {
		// Not financed: still open, its ETag unchanged.
		w.mu.Lock()
		w.open.push(inv)
		w.mu.Unlock()
	}
}

// badInvoice is bad input: a currency that is no ISO 4217 code (422).
func (w *workload) badInvoice(ctx context.Context) {
	i := w.pick(len(w.biz))
	body := map[string]any{"customer": w.biz[(i+1)%len(w.biz)].ID, "currency": "EURO", "due_date": "2026-13-40",
		"line_items": []map[string]any{{"description": "", "quantity": 0, "unit_amount": -5}}}
	w.call(ctx, http.MethodPost, w.o.InvoicingURL+"/v1/invoices", w.as(i, false), "", body, nil) //nolint:errcheck // counted in sent
}

func (w *workload) missingInvoice(ctx context.Context) {
	w.call(ctx, http.MethodGet, w.o.InvoicingURL+"/v1/invoices/in_doesnotexist"+strconv.Itoa(w.pick(1000)), w.as(w.pick(len(w.biz)), false), "", nil, nil) //nolint:errcheck // counted in sent
}

// secondBusiness is a conflict: an owner registers a second business.
func (w *workload) secondBusiness(ctx context.Context) {
	i := w.pick(len(w.biz))
	tok, err := w.tokens.get(w.biz[i].Owner, "")
	if err != nil {
		return
	}
	body := map[string]any{"legal_name": "Second Co", "country": "FR", "registration_number": "DUP-1", "billing_email": "dup@example.com"}
	w.call(ctx, http.MethodPost, w.o.InvoicingURL+"/v1/businesses", tok, "", body, nil) //nolint:errcheck // counted in sent
}

// malformedBody is JSON cut short (400).
func (w *workload) malformedBody(ctx context.Context) {
	w.call(ctx, http.MethodPost, w.o.InvoicingURL+"/v1/invoices", w.as(w.pick(len(w.biz)), false), "", json.RawMessage(`{"customer": "`), nil) //nolint:errcheck // counted in sent
}

// overpay pays more than is due (409), or an invoice already paid.
func (w *workload) overpay(ctx context.Context) {
	w.mu.Lock()
	inv, ok := w.paid.peek(w.rng)
	w.mu.Unlock()
	if !ok {
		w.missingInvoice(ctx)
		return
	}
	body := map[string]any{"amount": 1000, "method": "card"}
	w.call(ctx, http.MethodPost, w.o.InvoicingURL+"/v1/invoices/"+inv.id+"/payments", w.as(inv.issuer, false), inv.etag, body, nil) //nolint:errcheck // counted in sent
}

// call sends one request and decodes a 2xx answer into out; it returns
// the status and the ETag. A json.RawMessage body is sent as it is.
func (w *workload) call(ctx context.Context, method, url, token, ifMatch string, body, out any) (int, string, error) {
	var rd io.Reader
	if body != nil {
		b, ok := body.(json.RawMessage)
		if !ok {
			var err error
			if b, err = json.Marshal(body); err != nil {
				return 0, "", err
			}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, "", err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("User-Agent", "estate-demo")
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	resp, err := w.hc.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			w.count("error")
			w.o.Logger.Debug("demo request failed", "method", method, "url", url, "err", err)
		}
		return 0, "", err
	}
	defer resp.Body.Close()
	w.count(strconv.Itoa(resp.StatusCode/100) + "xx")
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return resp.StatusCode, "", err
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, "", fmt.Errorf("decoding %s %s: %w", method, url, err)
		}
	}
	if resp.StatusCode >= 500 {
		w.o.Logger.Debug("demo request answered a server error", "method", method, "url", url, "status", resp.StatusCode, "body", strings.TrimSpace(string(b)))
	}
	return resp.StatusCode, resp.Header.Get("ETag"), nil
}

func (w *workload) count(class string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sent[class]++
}

// Sent counts the requests sent, by status class.
func (w *workload) Sent() map[string]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.sent)
}

var errNoIssuer = errors.New("the demo needs the development issuer (auth.dev)")
