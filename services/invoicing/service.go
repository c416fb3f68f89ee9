package invoicing

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/text/language"

	"github.com/estatehq/estate/services/kit/currency"
)

// Caller is who makes a request, as the edge authenticated it.
type Caller struct {
	// Subject is the user (or client) the token was issued to.
	Subject string
	// BusinessID is the business the token names, when it names one;
	// otherwise the subject acts for the one business it is a member of.
	BusinessID string
	// Machine is a machine client the service is configured to trust: it
	// acts for the business its token names without being a member (the
	// credit service reading and holding invoices).
	Machine bool
}

// Options are what a Service is built from.
type Options struct {
	Store Store
	// Now is the clock; time.Now by default.
	Now func() time.Time
	// NewID returns a unique id with the prefix; random by default.
	NewID func(prefix string) string
	// EventSource is the CloudEvents source of the events; "/estate/invoicing"
	// by default.
	EventSource string
}

// Service carries out the use cases of the invoicing API: it checks input and
// permissions, applies the lifecycle rules and keeps the money maths.
type Service struct {
	store  Store
	now    func() time.Time
	newID  func(string) string
	source string

	// businesses caches business rows by id: they never change once
	// registered, and nearly every request reads the caller's.
	mu         sync.Mutex
	businesses map[string]*Business
}

// businessCacheSize bounds the business cache.
const businessCacheSize = 10_000

// New returns a Service.
func New(opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewID == nil {
		opts.NewID = NewID
	}
	if opts.EventSource == "" {
		opts.EventSource = "/estate/invoicing"
	}
	return &Service{store: opts.Store, now: opts.Now, newID: opts.NewID, source: opts.EventSource, businesses: map[string]*Business{}}
}

// business reads a business through the cache.
func (s *Service) business(ctx context.Context, id string) (*Business, error) {
	s.mu.Lock()
	b, ok := s.businesses[id]
	s.mu.Unlock()
	if ok {
		return b, nil
	}
	b, err := s.store.Business(ctx, id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.businesses) >= businessCacheSize {
		clear(s.businesses)
	}
	s.businesses[id] = b
	s.mu.Unlock()
	return b, nil
}

// NewID returns prefix_ followed by 20 random base32 characters.
func NewID(prefix string) string {
	const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	var b [20]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[b[i]&31]
	}
	return prefix + "_" + string(b[:])
}

// FormatNumber is the invoice number of the issuer's n-th invoice.
func FormatNumber(n int64) string { return fmt.Sprintf("INV-%06d", n) }

// BusinessInput registers a business.
type BusinessInput struct {
	LegalName          string
	Country            string
	RegistrationNumber string
	BillingEmail       string
}

// RegisterBusiness registers the caller's business; a subject registers one
// business at most (ECONFLICT).
func (s *Service) RegisterBusiness(ctx context.Context, c Caller, in BusinessInput) (*Business, error) {
	var fe fieldErrors
	in.LegalName = strings.TrimSpace(in.LegalName)
	in.RegistrationNumber = strings.TrimSpace(in.RegistrationNumber)
	checkText(&fe, "legal_name", in.LegalName, 1, 200)
	checkText(&fe, "registration_number", in.RegistrationNumber, 1, 64)
	if !validCountry(in.Country) {
		fe.add("country", "must be an ISO 3166-1 alpha-2 country code, like FR or US", in.Country)
	}
	if a, err := mail.ParseAddress(in.BillingEmail); err != nil || a.Address != in.BillingEmail || len(in.BillingEmail) > 254 {
		fe.add("billing_email", "must be an email address", in.BillingEmail)
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	if c.Subject == "" {
		return nil, Errorf(EFORBIDDEN, "the token names no subject")
	}
	if c.BusinessID != "" {
		// The claim is checked on every request, this one included.
		if _, _, err := s.resolve(ctx, c); err != nil {
			return nil, err
		}
	}
	b := &Business{
		ID:                 s.newID("bus"),
		Owner:              c.Subject,
		LegalName:          in.LegalName,
		Country:            in.Country,
		RegistrationNumber: in.RegistrationNumber,
		BillingEmail:       in.BillingEmail,
		CreatedAt:          s.now().UTC().Truncate(time.Microsecond),
	}
	if err := s.store.CreateBusiness(ctx, b); err != nil {
		if ErrorCode(err) == ECONFLICT {
			return nil, Errorf(ECONFLICT, "this user has already registered a business")
		}
		return nil, fmt.Errorf("creating business: %w", err)
	}
	return b, nil
}

// Business returns a business and whether it is the caller's own; callers
// show only the public profile (name, country) of another business. A
// token that names a business its subject is not a member of is refused
// (EFORBIDDEN); a token of a user with no business yet reads public
// profiles.
func (s *Service) Business(ctx context.Context, c Caller, id string) (*Business, bool, error) {
	me, err := s.acting(ctx, c, PermRead)
	if err != nil && (c.BusinessID != "" || ErrorCode(err) != EFORBIDDEN) {
		return nil, false, err
	}
	b, err := s.business(ctx, id)
	if err != nil {
		return nil, false, err
	}
	return b, me != nil && me.ID == b.ID, nil
}

// Acting returns the business the caller acts for, with at least the
// permission to read: the token's, when its subject is a member of it, or
// the one its subject is a member of. EFORBIDDEN otherwise.
func (s *Service) Acting(ctx context.Context, c Caller) (*Business, error) {
	return s.acting(ctx, c, PermRead)
}

// LineItemInput is a line as the client sends it.
type LineItemInput struct {
	Description string
	Quantity    int64
	UnitAmount  int64
	TaxRate     string
}

// InvoiceInput creates a draft.
type InvoiceInput struct {
	Customer  string
	Currency  string
	DueDate   string
	Memo      string
	LineItems []LineItemInput
}

// InvoicePatch changes a draft; nil fields are left as they are, and line
// items are replaced as a whole.
type InvoicePatch struct {
	Customer  *string
	Currency  *string
	DueDate   *string
	Memo      *string
	LineItems *[]LineItemInput
}

// CreateInvoice creates a draft issued by the caller's business.
func (s *Service) CreateInvoice(ctx context.Context, c Caller, in InvoiceInput) (*Invoice, error) {
	me, err := s.acting(ctx, c, PermInvoices)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	inv := &Invoice{
		ID:        s.newID("in"),
		IssuerID:  me.ID,
		Status:    StatusDraft,
		CreatedAt: now,
		UpdatedAt: now,
		Version:   1,
	}
	fe := applyInput(inv, in.Customer, in.Currency, in.DueDate, in.Memo, in.LineItems, true)
	if err := fe.err(); err != nil {
		return nil, err
	}
	if err := s.checkCustomer(ctx, me, inv.CustomerID); err != nil {
		return nil, err
	}
	if err := s.store.CreateInvoice(ctx, inv); err != nil {
		return nil, fmt.Errorf("creating invoice: %w", err)
	}
	return inv, nil
}

func (s *Service) checkCustomer(ctx context.Context, me *Business, id string) error {
	if id == me.ID {
		return &Error{Code: EINVALID, Message: "a business cannot invoice itself",
			Fields: []FieldError{{Field: "customer", Message: "must be another business", Value: id}}}
	}
	_, err := s.business(ctx, id)
	switch ErrorCode(err) {
	case "":
		return nil
	case ENOTFOUND:
		return &Error{Code: EINVALID, Message: "the customer is not a registered business",
			Fields: []FieldError{{Field: "customer", Message: "no registered business has this id", Value: id}}}
	}
	return fmt.Errorf("finding customer: %w", err)
}

// applyInput validates and copies the fields into inv and recomputes the
// totals. With full, every required field must be present.
func applyInput(inv *Invoice, customer, cur, due, memo string, items []LineItemInput, full bool) fieldErrors {
	var fe fieldErrors
	if full || customer != inv.CustomerID {
		if customer == "" {
			fe.add("customer", "is required", nil)
		}
		inv.CustomerID = customer
	}
	code, err := currency.Parse(cur)
	if err != nil {
		fe.add("currency", err.Error(), cur)
		code = cur
	}
	inv.Currency = code
	if d, err := time.Parse(DateLayout, due); err != nil {
		fe.add("due_date", "must be a date, YYYY-MM-DD", due)
	} else if d.Before(minDueDate) || d.After(maxDueDate) {
		fe.add("due_date", fmt.Sprintf("must be from %s to %s", minDueDate.Format(DateLayout), maxDueDate.Format(DateLayout)), due)
	}
	inv.DueDate = due
	if utf8.RuneCountInString(memo) > 5000 || !utf8.ValidString(memo) {
		fe.add("memo", "must be valid text of at most 5000 characters", nil)
	}
	inv.Memo = memo
	switch {
	case len(items) == 0:
		fe.add("line_items", "must have at least one line", nil)
	case len(items) > MaxLineItems:
		fe.add("line_items", fmt.Sprintf("must have at most %d lines", MaxLineItems), len(items))
	}
	inv.LineItems = make([]LineItem, 0, len(items))
	for i, li := range items {
		p := fmt.Sprintf("line_items[%d].", i)
		checkText(&fe, p+"description", strings.TrimSpace(li.Description), 1, 500)
		if li.Quantity < 1 || li.Quantity > MaxQuantity {
			fe.add(p+"quantity", fmt.Sprintf("must be from 1 to %d", MaxQuantity), li.Quantity)
		}
		if li.UnitAmount < 0 || li.UnitAmount > MaxAmount {
			fe.add(p+"unit_amount", fmt.Sprintf("must be from 0 to %d minor units", MaxAmount), li.UnitAmount)
		}
		inv.LineItems = append(inv.LineItems, LineItem{
			Description: strings.TrimSpace(li.Description), Quantity: li.Quantity,
			UnitAmount: li.UnitAmount, TaxRate: li.TaxRate,
		})
	}
	if len(fe) > 0 {
		return fe
	}
	return computeTotals(inv)
}

func checkText(fe *fieldErrors, field, v string, minLen, maxLen int) {
	n := utf8.RuneCountInString(v)
	switch {
	case !utf8.ValidString(v):
		fe.add(field, "must be valid UTF-8", nil)
	case n < minLen:
		fe.add(field, "is required", nil)
	case n > maxLen:
		fe.add(field, fmt.Sprintf("must be at most %d characters", maxLen), nil)
	}
}

// reservedRegions are codes x/text knows as regions that ISO 3166-1 only
// reserves (UK, EU, UN...), not assigned countries.
const reservedRegions = " AC CP DG EA EU EZ IC QO TA UK UN "

func validCountry(s string) bool {
	if len(s) != 2 || strings.ToUpper(s) != s || strings.Contains(reservedRegions, " "+s+" ") {
		return false
	}
	r, err := language.ParseRegion(s)
	return err == nil && r.IsCountry() && r.String() == s
}

// The range of due dates: a date outside it is a typing mistake (0000-01-01,
// 20266-01-01), not a term anybody agreed to.
var (
	minDueDate = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	maxDueDate = time.Date(2999, 12, 31, 0, 0, 0, 0, time.UTC)
)

// Invoice returns an invoice the caller issued, or received once sent;
// ENOTFOUND otherwise, so that existence does not leak.
func (s *Service) Invoice(ctx context.Context, c Caller, id string) (*Invoice, error) {
	me, err := s.Acting(ctx, c)
	if err != nil {
		return nil, err
	}
	inv, err := s.store.Invoice(ctx, id)
	if err != nil {
		return nil, err
	}
	if !visible(inv, me.ID) {
		return nil, Errorf(ENOTFOUND, "no such invoice")
	}
	return inv, nil
}

func visible(inv *Invoice, business string) bool {
	return inv.IssuerID == business || (inv.CustomerID == business && inv.Status != StatusDraft)
}

// ListInvoices lists the caller's invoices by role.
func (s *Service) ListInvoices(ctx context.Context, c Caller, f InvoiceFilter) ([]*Invoice, bool, error) {
	me, err := s.Acting(ctx, c)
	if err != nil {
		return nil, false, err
	}
	var fe fieldErrors
	switch f.Role {
	case "":
		f.Role = RoleIssued
	case RoleIssued, RoleReceived:
	default:
		fe.add("role", "must be issued or received", f.Role)
	}
	if f.Status != "" && f.Status != "overdue" && !Status(f.Status).Valid() {
		fe.add("status", "must be draft, open, paid, void, uncollectible or overdue", f.Status)
	}
	if f.DueBefore != "" {
		if _, err := time.Parse(DateLayout, f.DueBefore); err != nil {
			fe.add("due_before", "must be a date, YYYY-MM-DD", f.DueBefore)
		}
	}
	switch {
	case f.Limit == 0:
		f.Limit = 20
	case f.Limit < 1 || f.Limit > 100:
		fe.add("limit", "must be from 1 to 100", f.Limit)
	}
	if err := fe.err(); err != nil {
		return nil, false, err
	}
	if f.StartingAfter != "" {
		cur, err := s.store.Invoice(ctx, f.StartingAfter)
		if err != nil || !visible(cur, me.ID) {
			return nil, false, &Error{Code: EINVALID, Message: "starting_after names no invoice of yours",
				Fields: []FieldError{{Field: "starting_after", Message: "no such invoice", Value: f.StartingAfter}}}
		}
	}
	f.BusinessID = me.ID
	f.Today = s.now().UTC().Format(DateLayout)
	return s.store.ListInvoices(ctx, f)
}

// Precondition is the versions the caller accepts (from If-Match): the
// change goes ahead when the current version is any of them (RFC 9110
// §13.1.1). nil accepts any version; an empty one accepts none.
type Precondition []int64

// Matches reports whether the version satisfies the precondition.
func (p Precondition) Matches(version int64) bool {
	return p == nil || slices.Contains(p, version)
}

// update runs fn on the invoice the caller issued, under the store's lock,
// after checking visibility and the precondition.
func (s *Service) update(ctx context.Context, c Caller, id string, want Precondition, fn func(tx InvoiceTx, inv *Invoice, now time.Time) (Change, error)) (*Invoice, error) {
	me, err := s.acting(ctx, c, PermInvoices)
	if err != nil {
		return nil, err
	}
	return s.store.UpdateInvoice(ctx, id, func(tx InvoiceTx, inv *Invoice) (Change, error) {
		if !visible(inv, me.ID) {
			return Change{}, Errorf(ENOTFOUND, "no such invoice")
		}
		if inv.IssuerID != me.ID {
			return Change{}, Errorf(EFORBIDDEN, "only the issuer can change an invoice")
		}
		if !want.Matches(inv.Version) {
			return Change{}, Errorf(EPRECONDITION, "the invoice has changed since it was read: it is at version %d, which If-Match does not name", inv.Version)
		}
		now := s.now().UTC().Truncate(time.Microsecond)
		ch, err := fn(tx, inv, now)
		if err != nil {
			return Change{}, err
		}
		if !ch.Keep {
			inv.UpdatedAt = now
		}
		return ch, nil
	})
}

func conflictf(inv *Invoice, action string) error {
	return Errorf(ECONFLICT, "cannot %s an invoice whose status is %s", action, inv.Status)
}

// UpdateInvoice changes a draft.
func (s *Service) UpdateInvoice(ctx context.Context, c Caller, id string, p InvoicePatch, want Precondition) (*Invoice, error) {
	me, err := s.acting(ctx, c, PermInvoices)
	if err != nil {
		return nil, err
	}
	if p.Customer != nil {
		if err := s.checkCustomer(ctx, me, *p.Customer); err != nil {
			return nil, err
		}
	}
	return s.update(ctx, c, id, want, func(_ InvoiceTx, inv *Invoice, _ time.Time) (Change, error) {
		if inv.Status != StatusDraft {
			return Change{}, conflictf(inv, "change")
		}
		customer, cur, due, memo := inv.CustomerID, inv.Currency, inv.DueDate, inv.Memo
		items := make([]LineItemInput, len(inv.LineItems))
		for i, li := range inv.LineItems {
			items[i] = LineItemInput{Description: li.Description, Quantity: li.Quantity, UnitAmount: li.UnitAmount, TaxRate: li.TaxRate}
		}
		if p.Customer != nil {
			customer = *p.Customer
		}
		if p.Currency != nil {
			cur = *p.Currency
		}
		if p.DueDate != nil {
			due = *p.DueDate
		}
		if p.Memo != nil {
			memo = *p.Memo
		}
		if p.LineItems != nil {
			items = *p.LineItems
		}
		if err := applyInput(inv, customer, cur, due, memo, items, false).err(); err != nil {
			return Change{}, err
		}
		return Change{}, nil
	})
}

// DeleteInvoice deletes a draft.
func (s *Service) DeleteInvoice(ctx context.Context, c Caller, id string, want Precondition) error {
	_, err := s.update(ctx, c, id, want, func(_ InvoiceTx, inv *Invoice, _ time.Time) (Change, error) {
		if inv.Status != StatusDraft {
			return Change{}, Errorf(ECONFLICT, "only drafts can be deleted; this invoice is %s (void it instead)", inv.Status)
		}
		return Change{Delete: true}, nil
	})
	return err
}

// SendInvoice finalizes a draft: it gets its number, becomes open, and the
// customer can see it. A zero-total invoice is paid at once, as Stripe does.
func (s *Service) SendInvoice(ctx context.Context, c Caller, id string, want Precondition) (*Invoice, error) {
	return s.update(ctx, c, id, want, func(tx InvoiceTx, inv *Invoice, now time.Time) (Change, error) {
		if inv.Status != StatusDraft {
			return Change{}, conflictf(inv, "send")
		}
		n, err := tx.NextNumber(ctx, inv.IssuerID)
		if err != nil {
			return Change{}, fmt.Errorf("numbering invoice: %w", err)
		}
		inv.Number = FormatNumber(n)
		inv.Status = StatusOpen
		inv.Transitions.FinalizedAt = &now
		events := []Event{s.event(EventInvoiceSent, inv, now)}
		if inv.AmountDue == 0 {
			inv.Status = StatusPaid
			inv.Transitions.PaidAt = &now
			events = append(events, s.event(EventInvoicePaid, inv, now))
		}
		return Change{Events: events}, nil
	})
}

// PayInvoice records a payment the issuer says it received against an open
// or uncollectible invoice: it is issuer-recorded, until the customer
// confirms it. The invoice is paid when nothing is left due. Paying more
// than is due is refused (ECONFLICT), also when two payments race.
func (s *Service) PayInvoice(ctx context.Context, c Caller, id string, in PaymentInput, want Precondition) (*Invoice, *Payment, error) {
	var fe fieldErrors
	in.check(&fe)
	if err := fe.err(); err != nil {
		return nil, nil, err
	}
	var pay *Payment
	inv, err := s.update(ctx, c, id, want, func(_ InvoiceTx, inv *Invoice, now time.Time) (Change, error) {
		ch, p, err := s.pay(inv, in, ProvenanceIssuerRecorded, now)
		pay = p
		return ch, err
	})
	if err != nil {
		return nil, nil, err
	}
	return inv, pay, nil
}

// VoidInvoice voids an open or uncollectible invoice. An invoice with
// payments cannot be voided (its amount paid would be left with nothing to
// pay), nor a financed one (ECONFLICT).
func (s *Service) VoidInvoice(ctx context.Context, c Caller, id string, want Precondition) (*Invoice, error) {
	return s.update(ctx, c, id, want, func(_ InvoiceTx, inv *Invoice, now time.Time) (Change, error) {
		if inv.Status != StatusOpen && inv.Status != StatusUncollectible {
			return Change{}, conflictf(inv, "void")
		}
		if err := refuseIfFinanced(inv, "void"); err != nil {
			return Change{}, err
		}
		if inv.AmountPaid > 0 {
			return Change{}, Errorf(ECONFLICT, "cannot void an invoice with payments: %d of %d is paid", inv.AmountPaid, inv.Total)
		}
		inv.Status = StatusVoid
		inv.Transitions.VoidedAt = &now
		return Change{Events: []Event{s.event(EventInvoiceVoided, inv, now)}}, nil
	})
}

// MarkUncollectible marks an open invoice as unlikely to be paid; not a
// financed one (ECONFLICT).
func (s *Service) MarkUncollectible(ctx context.Context, c Caller, id string, want Precondition) (*Invoice, error) {
	return s.update(ctx, c, id, want, func(_ InvoiceTx, inv *Invoice, now time.Time) (Change, error) {
		if inv.Status != StatusOpen {
			return Change{}, conflictf(inv, "mark uncollectible")
		}
		if err := refuseIfFinanced(inv, "mark uncollectible"); err != nil {
			return Change{}, err
		}
		inv.Status = StatusUncollectible
		inv.Transitions.MarkedUncollectibleAt = &now
		return Change{}, nil
	})
}

// Payments lists the payments of an invoice the caller can see.
func (s *Service) Payments(ctx context.Context, c Caller, id string) ([]*Payment, error) {
	if _, err := s.Invoice(ctx, c, id); err != nil {
		return nil, err
	}
	return s.store.Payments(ctx, id)
}

// event builds the outbox event of inv at now.
func (s *Service) event(typ string, inv *Invoice, now time.Time) Event {
	data, _ := json.Marshal(NewEventData(inv))
	return Event{ID: s.newID("evt"), Type: typ, Source: s.source, Subject: inv.ID, Time: now, Data: data}
}

// NewEventData is the payload of an event about inv.
func NewEventData(inv *Invoice) EventData {
	return EventData{
		InvoiceID: inv.ID, Number: inv.Number, Issuer: inv.IssuerID, Customer: inv.CustomerID,
		Currency: inv.Currency, Total: inv.Total, AmountPaid: inv.AmountPaid, AmountDue: inv.AmountDue,
		Status: inv.Status, DueDate: inv.DueDate, PaidAt: inv.Transitions.PaidAt, VoidedAt: inv.Transitions.VoidedAt,
	}
}
