package credit

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/estatehq/estate/services/kit/currency"
)

// Caller is who makes a request, as the edge authenticated it: its subject
// and the business its token names, if any; the service resolves the
// business it acts for from the subject's memberships.
type Caller struct {
	Subject    string
	BusinessID string
	// RequestKey is the Idempotency-Key the request came with, if any. A
	// drawdown made under a key takes an id derived from it, so that a
	// retry after a crash between holding the invoice and saving the
	// drawdown holds it again under the same id, which the invoicing
	// service accepts, instead of a new one it refuses.
	RequestKey string
}

// Options are what a Service is built from.
type Options struct {
	Store     Store
	Invoicing Invoicing
	// Rules decide applications; DefaultRules() when zero.
	Rules Rules
	// Trust names the payments the policy counts, in decisions and
	// repayments; DefaultTrust() when empty.
	Trust Trust
	// DecisionTimeout bounds the history call of a decision; 2 s by default.
	DecisionTimeout time.Duration
	// MaxAdvancePercent bounds a drawdown against the invoice's amount due;
	// 80 by default.
	MaxAdvancePercent int64
	Now               func() time.Time
	NewID             func(prefix string) string
	Logger            *slog.Logger
	// MembershipTTL is how long the memberships the invoicing service
	// answers for a subject are used: a removed member keeps acting for
	// the business at most this long. 30 s by default.
	MembershipTTL time.Duration
	// MembershipCacheSize bounds the subjects whose memberships are
	// remembered; 10,000 by default.
	MembershipCacheSize int
}

// Service carries out the use cases of the credit API.
type Service struct {
	opts    Options
	members *membershipCache
}

// New returns a Service.
func New(opts Options) *Service {
	if opts.Rules == (Rules{}) {
		opts.Rules = DefaultRules()
	}
	if len(opts.Trust) == 0 {
		opts.Trust = DefaultTrust()
	}
	if opts.DecisionTimeout <= 0 {
		opts.DecisionTimeout = 2 * time.Second
	}
	if opts.MaxAdvancePercent <= 0 {
		opts.MaxAdvancePercent = 80
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewID == nil {
		opts.NewID = NewID
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MembershipTTL <= 0 {
		opts.MembershipTTL = 30 * time.Second
	}
	if opts.MembershipCacheSize <= 0 {
		opts.MembershipCacheSize = 10_000
	}
	return &Service{opts: opts, members: &membershipCache{
		ttl: opts.MembershipTTL, size: opts.MembershipCacheSize, entries: map[string]membershipEntry{},
	}}
}

// idAlphabet is the base32 alphabet of ids.
const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// keyedID returns prefix_ followed by 20 base32 characters of the SHA-256
// of the parts (the business, the request's key and what it asks): the
// same for every retry of one request, different across businesses, keys
// and requests.
func keyedID(prefix string, parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	var b [20]byte
	for i := range b {
		b[i] = idAlphabet[sum[i]&31]
	}
	return prefix + "_" + string(b[:])
}

// NewID returns prefix_ followed by 20 random base32 characters.
func NewID(prefix string) string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = idAlphabet[b[i]&31]
	}
	return prefix + "_" + string(b[:])
}

func (s *Service) now() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

// maxAmount bounds amounts as the invoicing service does.
const maxAmount = 999_999_999_999

// Apply decides an application from the business's invoice history,
// counting only the payments the policy trusts. The currency is taken in
// either case and kept in upper case. When the invoicing service cannot
// answer, it returns EUNAVAILABLE and writes nothing: no decision is better
// than a wrong one.
func (s *Service) Apply(ctx context.Context, c Caller, requested int64, cur string) (*Application, error) {
	if requested < 1 || requested > maxAmount {
		return nil, invalid("requested_limit", "must be from 1 to %d minor units", int64(maxAmount))
	}
	code, err := currency.Parse(cur)
	if err != nil {
		return nil, invalid("currency", "%s", err.Error())
	}
	cur = code
	if err := s.resolve(ctx, &c, true); err != nil {
		return nil, err
	}
	if l, err := s.opts.Store.Line(ctx, c.BusinessID); err == nil && !strings.EqualFold(l.Currency, cur) && l.Drawn > 0 {
		return nil, Errorf(ECONFLICT, "the credit line is drawn in %s; repay it before applying in another currency", l.Currency)
	} else if err != nil && ErrorCode(err) != ENOTFOUND {
		return nil, fmt.Errorf("reading line: %w", err)
	}
	hctx, cancel := context.WithTimeout(ctx, s.opts.DecisionTimeout)
	defer cancel()
	h, err := s.opts.Invoicing.History(hctx, c.BusinessID, s.opts.Rules.HistoryDays)
	if err != nil {
		return nil, s.upstream(ctx, err, "reading invoice history")
	}
	status, limit, reasons := s.opts.Rules.Decide(requested, s.opts.Trust.History(h.In(cur)))
	a := &Application{
		ID: s.opts.NewID("capp"), BusinessID: c.BusinessID, RequestedLimit: requested, Currency: cur,
		Status: status, ApprovedLimit: limit, Reasons: reasons, DecidedAt: s.now(),
	}
	if err := s.opts.Store.Decide(ctx, a); err != nil {
		if ErrorCode(err) == ECONFLICT {
			return nil, err
		}
		return nil, fmt.Errorf("saving decision: %w", err)
	}
	return a, nil
}

// upstream turns an invoicing error into what the caller sees: a business
// the invoicing service does not know is forbidden to apply; a timeout is
// unavailability.
func (s *Service) upstream(ctx context.Context, err error, what string) error {
	switch ErrorCode(err) {
	case EUNAVAILABLE, ENOTFOUND, EFORBIDDEN:
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return &Error{Code: EUNAVAILABLE, Message: "the invoicing service did not answer in time", RetryAfter: 5 * time.Second, Err: err}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Application returns one of the caller's applications.
func (s *Service) Application(ctx context.Context, c Caller, id string) (*Application, error) {
	if err := s.resolve(ctx, &c, false); err != nil {
		return nil, err
	}
	a, err := s.opts.Store.Application(ctx, id)
	if err != nil {
		return nil, err
	}
	if a.BusinessID != c.BusinessID {
		return nil, Errorf(ENOTFOUND, "no such application")
	}
	return a, nil
}

// Line returns the caller's credit line.
func (s *Service) Line(ctx context.Context, c Caller) (*Line, error) {
	if err := s.resolve(ctx, &c, false); err != nil {
		return nil, err
	}
	return s.line(ctx, c)
}

// line returns the credit line of the business c acts for, resolved.
func (s *Service) line(ctx context.Context, c Caller) (*Line, error) {
	l, err := s.opts.Store.Line(ctx, c.BusinessID)
	if ErrorCode(err) == ENOTFOUND {
		return nil, Errorf(ENOTFOUND, "this business has no credit line; apply with POST /v1/credit/applications")
	}
	return l, err
}

// Draw advances money against an open invoice the caller issued: at most
// MaxAdvancePercent of its amount due and at most the available credit, once
// per invoice. The invoice is checked with the invoicing service; when it
// cannot answer, the drawdown fails closed (EUNAVAILABLE, nothing written).
//
// Before the drawdown is written, the invoicing service is asked to hold
// the invoice as financed by it: from then on the invoice cannot be voided
// or marked uncollectible, and a void that came first makes the hold, hence
// the drawdown, fail. The release of the hold is owed before it is asked
// for, and forgotten in the transaction that writes the drawdown, so a hold
// whose drawdown is never written (refused, or the process stopped) is
// released, at once or by the reconciler.
func (s *Service) Draw(ctx context.Context, c Caller, invoiceID string, amount int64) (*Drawdown, error) {
	if invoiceID == "" || len(invoiceID) > 64 {
		return nil, invalid("invoice_id", "must be an invoice id")
	}
	if amount < 1 || amount > maxAmount {
		return nil, invalid("amount", "must be from 1 to %d minor units", int64(maxAmount))
	}
	if err := s.resolve(ctx, &c, true); err != nil {
		return nil, err
	}
	line, err := s.line(ctx, c)
	if err != nil {
		return nil, err
	}
	inv, err := s.opts.Invoicing.Invoice(ctx, c.BusinessID, invoiceID)
	if ErrorCode(err) == ENOTFOUND {
		return nil, Errorf(ENOTFOUND, "no such invoice")
	}
	if err != nil {
		return nil, s.upstream(ctx, err, "reading invoice")
	}
	switch {
	case inv.Issuer != c.BusinessID:
		return nil, Errorf(EFORBIDDEN, "only the issuer of an invoice may draw against it")
	case inv.Status != "open":
		return nil, Errorf(ECONFLICT, "the invoice is %s; only an open invoice can be financed", inv.Status)
	case !strings.EqualFold(inv.Currency, line.Currency):
		return nil, invalid("invoice_id", "the invoice is in %s and the credit line in %s", inv.Currency, line.Currency)
	case amount*100 > inv.AmountDue*s.opts.MaxAdvancePercent:
		return nil, invalid("amount", "at most %d%% of the amount due (%d) may be advanced: %d", s.opts.MaxAdvancePercent, inv.AmountDue, inv.AmountDue*s.opts.MaxAdvancePercent/100)
	}
	available := func(l *Line) error {
		if amount > l.Available() {
			return Errorf(ECONFLICT, "the amount exceeds the available credit (%d)", l.Available())
		}
		return nil
	}
	// Refuse what is known to fail before holding the invoice.
	if err := available(line); err != nil {
		return nil, err
	}
	switch _, err := s.opts.Store.ActiveDrawdown(ctx, inv.ID); ErrorCode(err) {
	case "":
		return nil, Errorf(ECONFLICT, "this invoice is already financed")
	case ENOTFOUND:
	default:
		return nil, fmt.Errorf("finding drawdown: %w", err)
	}
	now := s.now()
	id := s.opts.NewID("dd")
	if c.RequestKey != "" {
		id = keyedID("dd", c.BusinessID, c.RequestKey, inv.ID, strconv.FormatInt(amount, 10))
	}
	d := &Drawdown{
		ID: id, BusinessID: c.BusinessID, InvoiceID: inv.ID, Amount: amount, Currency: line.Currency,
		Status: DrawdownActive, CreatedAt: now, CheckedAt: now,
	}
	hold := Release{DrawdownID: d.ID, BusinessID: d.BusinessID, InvoiceID: d.InvoiceID, CreatedAt: now}
	if err := s.opts.Store.OweRelease(ctx, hold); err != nil {
		return nil, fmt.Errorf("owing the release of the financing hold: %w", err)
	}
	if err := s.opts.Invoicing.Finance(ctx, c.BusinessID, inv.ID, d.ID); err != nil {
		if ErrorCode(err) == EUNAVAILABLE {
			// Perhaps held: the release stays owed.
			return nil, err
		}
		// The invoicing service answered, and refused: nothing is held.
		if err := s.opts.Store.Released(ctx, d.ID); err != nil {
			s.opts.Logger.WarnContext(ctx, "forgetting a release not owed", "drawdown_id", d.ID, "err", err)
		}
		return nil, s.upstream(ctx, err, "holding the invoice as financed")
	}
	err = s.opts.Store.Draw(ctx, d, available)
	if err == nil {
		return d, nil
	}
	s.release(ctx, hold)
	switch ErrorCode(err) {
	case ECONFLICT, ENOTFOUND:
		return nil, err
	}
	return nil, fmt.Errorf("saving drawdown: %w", err)
}

// release asks the invoicing service to end a financing hold that is owed,
// and forgets it once done (or once the invoice is gone); on failure it
// stays owed, for the reconciler.
func (s *Service) release(ctx context.Context, r Release) {
	err := s.opts.Invoicing.ReleaseFinancing(ctx, r.BusinessID, r.InvoiceID, r.DrawdownID)
	if err != nil && ErrorCode(err) != ENOTFOUND {
		s.opts.Logger.WarnContext(ctx, "releasing a financing hold; the reconciler will try again", "drawdown_id", r.DrawdownID, "invoice_id", r.InvoiceID, "err", err)
		return
	}
	if err := s.opts.Store.Released(ctx, r.DrawdownID); err != nil {
		s.opts.Logger.WarnContext(ctx, "forgetting a release made", "drawdown_id", r.DrawdownID, "err", err)
	}
}

// Drawdowns lists the caller's drawdowns.
func (s *Service) Drawdowns(ctx context.Context, c Caller, p Page) ([]*Drawdown, bool, error) {
	if err := s.resolve(ctx, &c, false); err != nil {
		return nil, false, err
	}
	if p.Limit < 1 || p.Limit > 100 {
		return nil, false, invalid("limit", "must be from 1 to 100")
	}
	return s.opts.Store.Drawdowns(ctx, c.BusinessID, p)
}

// Paid is an event of the invoicing service's outbox that may mean a
// financed invoice is repaid: invoice.paid, or invoice.payment_confirmed.
type Paid struct {
	EventID   string
	InvoiceID string
	Issuer    string
}

// HandlePaid settles the drawdown on a repaid invoice, once per event id.
// The event is not trusted on its own: the invoice is read back from the
// invoicing service, and only an invoice paid with payments the policy
// trusts settles. EUNAVAILABLE asks the sender to retry.
func (s *Service) HandlePaid(ctx context.Context, p Paid) (*Drawdown, error) {
	if p.EventID == "" || p.InvoiceID == "" {
		return nil, invalid("data.invoice_id", "the event names no invoice")
	}
	d, err := s.opts.Store.ActiveDrawdown(ctx, p.InvoiceID)
	switch ErrorCode(err) {
	case "":
	case ENOTFOUND:
		return nil, nil // not financed, or settled already
	default:
		return nil, fmt.Errorf("finding drawdown: %w", err)
	}
	return s.settleIfPaid(ctx, p.EventID, d)
}

func (s *Service) settleIfPaid(ctx context.Context, eventID string, d *Drawdown) (*Drawdown, error) {
	inv, err := s.opts.Invoicing.Invoice(ctx, d.BusinessID, d.InvoiceID)
	if ErrorCode(err) == ENOTFOUND {
		// The invoicing service no longer shows the invoice to its issuer:
		// nothing proves it paid, and asking again will not change that.
		s.opts.Logger.WarnContext(ctx, "financed invoice not found at the invoicing service", "drawdown_id", d.ID, "invoice_id", d.InvoiceID)
		return nil, nil
	}
	if err != nil {
		return nil, s.upstream(ctx, err, "reading invoice")
	}
	if !s.opts.Trust.Repaid(inv) {
		if inv.Status == "open" && !inv.Financed {
			// A drawdown written before invoices were held as financed:
			// hold its invoice now.
			if err := s.opts.Invoicing.Finance(ctx, d.BusinessID, d.InvoiceID, d.ID); err != nil {
				s.opts.Logger.WarnContext(ctx, "holding a financed invoice", "drawdown_id", d.ID, "invoice_id", d.InvoiceID, "err", err)
			}
		}
		if inv.Status == "paid" {
			s.opts.Logger.InfoContext(ctx, "financed invoice paid with payments the policy does not trust; the drawdown stays active",
				"drawdown_id", d.ID, "invoice_id", d.InvoiceID)
		}
		return nil, nil
	}
	at := s.now()
	if inv.PaidAt != nil {
		at = inv.PaidAt.UTC()
	}
	settled, err := s.opts.Store.Settle(ctx, eventID, d.InvoiceID, at)
	if err != nil {
		return nil, fmt.Errorf("settling drawdown: %w", err)
	}
	if settled != nil {
		s.opts.Logger.InfoContext(ctx, "drawdown settled", "drawdown_id", settled.ID, "invoice_id", settled.InvoiceID, "event_id", eventID)
		s.release(ctx, Release{DrawdownID: settled.ID, BusinessID: settled.BusinessID, InvoiceID: settled.InvoiceID})
	}
	return settled, nil
}

// Reconcile asks the invoicing service about the invoices of active
// drawdowns not checked since before staleBefore, and settles those repaid:
// a lost invoice.paid delivery is caught here. It then makes the releases
// of financing holds owed since before staleBefore. It returns how many
// drawdowns it settled.
func (s *Service) Reconcile(ctx context.Context, staleBefore time.Time, batch int) (int, error) {
	n, err := s.settleUnchecked(ctx, staleBefore, batch)
	if ErrorCode(err) == EUNAVAILABLE {
		return n, err
	}
	rs, rerr := s.opts.Store.OwedReleases(ctx, staleBefore, batch)
	if rerr != nil {
		return n, errors.Join(err, fmt.Errorf("listing owed releases: %w", rerr))
	}
	for _, r := range rs {
		s.release(ctx, r)
	}
	return n, err
}

func (s *Service) settleUnchecked(ctx context.Context, staleBefore time.Time, batch int) (int, error) {
	ds, err := s.opts.Store.Unchecked(ctx, staleBefore, batch)
	if err != nil {
		return 0, fmt.Errorf("listing unchecked drawdowns: %w", err)
	}
	n := 0
	var errs []error
	for _, d := range ds {
		settled, err := s.settleIfPaid(ctx, "reconcile:"+d.ID, d)
		if err != nil {
			errs = append(errs, fmt.Errorf("drawdown %s: %w", d.ID, err))
			if ErrorCode(err) == EUNAVAILABLE {
				break
			}
			continue
		}
		if settled != nil {
			n++
			continue
		}
		if err := s.opts.Store.MarkChecked(ctx, d.ID, s.now()); err != nil {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}
