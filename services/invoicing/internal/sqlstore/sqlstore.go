// Package sqlstore is the SQL shared by the invoicing store's adapters. The
// sqlite and postgres packages own their migrations and connection
// settings; the queries, the transactions and the row mapping are written
// once here, with ? placeholders that the database's sqldb.Dialect adapts,
// so both backends behave alike by construction (and the shared store
// suite checks it).
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/estatehq/estate/internal/sqldb"
	"github.com/estatehq/estate/services/invoicing"
	"github.com/estatehq/estate/services/kit/idempotency"
	"github.com/estatehq/estate/services/kit/idempotency/sqlkeys"
	"github.com/estatehq/estate/services/kit/outbox"
)

// Store implements invoicing.Store, idempotency.Store and outbox.Store. Its
// writes run in the transaction of the request when the context carries
// one (idempotency.Store.Begin).
type Store struct {
	// db.W runs every write, db.R every read outside a transaction; both
	// run their queries prepared (sqldb.DB.Exec).
	db    *sqldb.DB
	d     sqldb.Dialect
	spans sqldb.Spans
	keys  *sqlkeys.Store
}

var (
	_ invoicing.Store   = (*Store)(nil)
	_ idempotency.Store = (*Store)(nil)
	_ outbox.Store      = (*Store)(nil)
)

// Migrations are the store's migrations in fsys's migrations folder (each
// backend has its own). Releases before per-schema version tables kept
// them in goose's default table.
func Migrations(fsys fs.FS) sqldb.Migrations {
	return sqldb.Migrations{FS: fsys, Dir: "migrations", Schema: "invoicing", LegacyTable: "goose_db_version"}
}

// New returns a store on db, which the caller has migrated, and prepares
// the statements its transactions run; tp traces every call (nil traces
// nothing).
func New(ctx context.Context, db *sqldb.DB, tp trace.TracerProvider) (*Store, error) {
	internal := func(err error) bool { return invoicing.ErrorCode(err) == invoicing.EINTERNAL }
	s := &Store{db: db, d: db.Dialect, keys: sqlkeys.New(db),
		spans: sqldb.NewSpans(tp, "github.com/estatehq/estate/services/invoicing/store", db.Dialect, internal)}
	err := errors.Join(s.keys.Prepare(ctx), db.Prepare(ctx, insertBusiness, insertInvoice, s.lockInvoice(), nextNumber, deleteInvoice,
		updateInvoice, insertPayment, confirmPayment, insertEvent))
	if err != nil {
		return nil, fmt.Errorf("preparing invoicing statements: %w", err)
	}
	return s, nil
}

type querier = sqldb.Querier

func (s *Store) exec(ctx context.Context, q querier, query string, args ...any) (sql.Result, error) {
	return s.db.Exec(ctx, q, query, args...)
}

func (s *Store) query(ctx context.Context, q querier, query string, args ...any) (*sql.Rows, error) {
	return s.db.Query(ctx, q, query, args...)
}

func (s *Store) row(ctx context.Context, q querier, query string, args ...any) *sql.Row {
	return s.db.QueryRow(ctx, q, query, args...)
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.Ping(ctx) }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// DB is the underlying handle, for tests.
func (s *Store) DB() *sql.DB { return s.db.R }

func notFound(what string) error { return invoicing.Errorf(invoicing.ENOTFOUND, "no such %s", what) }

// ---- businesses

const businessCols = `id, owner, legal_name, country, registration_number, billing_email, created_at`

const insertBusiness = `INSERT INTO businesses (` + businessCols + `, invoice_seq) VALUES (?, ?, ?, ?, ?, ?, ?, 0)`

// CreateBusiness implements invoicing.Store.
func (s *Store) CreateBusiness(ctx context.Context, b *invoicing.Business) (err error) {
	ctx, end := s.spans.Start(ctx, "CreateBusiness")
	defer end(&err)
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := s.exec(ctx, tx, insertBusiness,
			b.ID, b.Owner, b.LegalName, b.Country, b.RegistrationNumber, b.BillingEmail, s.d.Time(b.CreatedAt))
		if err != nil {
			return err
		}
		_, err = s.exec(ctx, tx, insertMember, b.ID, b.Owner, string(invoicing.MemberOwner), s.d.Time(b.CreatedAt), s.d.Time(b.CreatedAt), 1)
		return err
	})
	if err != nil {
		if s.d.IsUnique(err) {
			return invoicing.Errorf(invoicing.ECONFLICT, "the business already exists")
		}
		return fmt.Errorf("inserting business: %w", err)
	}
	return nil
}

func (s *Store) business(ctx context.Context, where string, arg string) (*invoicing.Business, error) {
	var b invoicing.Business
	err := s.row(ctx, s.db.R, `SELECT `+businessCols+` FROM businesses WHERE `+where+` = ?`, arg).
		Scan(&b.ID, &b.Owner, &b.LegalName, &b.Country, &b.RegistrationNumber, &b.BillingEmail, sqldb.ScanTime(&b.CreatedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("business")
	}
	if err != nil {
		return nil, fmt.Errorf("reading business: %w", err)
	}
	return &b, nil
}

// Business implements invoicing.Store.
func (s *Store) Business(ctx context.Context, id string) (b *invoicing.Business, err error) {
	ctx, end := s.spans.Start(ctx, "Business")
	defer end(&err)
	return s.business(ctx, "id", id)
}

// BusinessByOwner implements invoicing.Store.
func (s *Store) BusinessByOwner(ctx context.Context, owner string) (b *invoicing.Business, err error) {
	ctx, end := s.spans.Start(ctx, "BusinessByOwner")
	defer end(&err)
	return s.business(ctx, "owner", owner)
}

// ---- members

const (
	memberCols   = `business_id, subject, role, created_at, updated_at, version`
	insertMember = `INSERT INTO members (` + memberCols + `) VALUES (?, ?, ?, ?, ?, ?)`
	updateMember = `UPDATE members SET role = ?, updated_at = ?, version = ? WHERE business_id = ? AND subject = ?`
	deleteMember = `DELETE FROM members WHERE business_id = ? AND subject = ?`
)

func scanMember(r scanner) (*invoicing.Member, error) {
	var m invoicing.Member
	var role string
	err := r.Scan(&m.BusinessID, &m.Subject, &role, sqldb.ScanTime(&m.CreatedAt), sqldb.ScanTime(&m.UpdatedAt), &m.Version)
	m.Role = invoicing.MemberRole(role)
	return &m, err
}

// Member implements invoicing.Store.
func (s *Store) Member(ctx context.Context, businessID, subject string) (m *invoicing.Member, err error) {
	ctx, end := s.spans.Start(ctx, "Member")
	defer end(&err)
	m, err = scanMember(s.row(ctx, s.db.R, `SELECT `+memberCols+` FROM members WHERE business_id = ? AND subject = ?`, businessID, subject))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("member")
	}
	if err != nil {
		return nil, fmt.Errorf("reading member: %w", err)
	}
	return m, nil
}

// members reads the members where the column is arg; lock is the clause
// that locks them ("" or the dialect's FOR UPDATE).
func (s *Store) members(ctx context.Context, q querier, where, arg, lock string) ([]*invoicing.Member, error) {
	rows, err := s.query(ctx, q, `SELECT `+memberCols+` FROM members WHERE `+where+` = ? ORDER BY created_at, business_id, subject`+lock, arg)
	if err != nil {
		return nil, fmt.Errorf("reading members: %w", err)
	}
	defer rows.Close()
	var out []*invoicing.Member
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, fmt.Errorf("reading members: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading members: %w", err)
	}
	return out, nil
}

// Members implements invoicing.Store.
func (s *Store) Members(ctx context.Context, businessID string) (out []*invoicing.Member, err error) {
	ctx, end := s.spans.Start(ctx, "Members")
	defer end(&err)
	return s.members(ctx, s.db.R, "business_id", businessID, "")
}

// Memberships implements invoicing.Store.
func (s *Store) Memberships(ctx context.Context, subject string) (out []*invoicing.Member, err error) {
	ctx, end := s.spans.Start(ctx, "Memberships")
	defer end(&err)
	return s.members(ctx, s.db.R, "subject", subject, "")
}

// AddMember implements invoicing.Store.
func (s *Store) AddMember(ctx context.Context, m *invoicing.Member) (err error) {
	ctx, end := s.spans.Start(ctx, "AddMember")
	defer end(&err)
	err = s.db.Write(ctx, func(q sqldb.Querier) error {
		_, err := s.exec(ctx, q, insertMember, m.BusinessID, m.Subject, string(m.Role), s.d.Time(m.CreatedAt), s.d.Time(m.UpdatedAt), m.Version)
		return err
	})
	if err != nil {
		if s.d.IsUnique(err) {
			return invoicing.Errorf(invoicing.ECONFLICT, "the subject is already a member")
		}
		return fmt.Errorf("inserting member: %w", err)
	}
	return nil
}

// UpdateMember implements invoicing.Store. It locks every member row of
// the business, so that two owners demoting each other at once cannot
// leave the business without one.
func (s *Store) UpdateMember(ctx context.Context, businessID, subject string, fn func(m *invoicing.Member, owners int) (invoicing.MemberChange, error)) (out *invoicing.Member, err error) {
	ctx, end := s.spans.Start(ctx, "UpdateMember")
	defer end(&err)
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		all, err := s.members(ctx, tx, "business_id", businessID, s.d.ForUpdate())
		if err != nil {
			return err
		}
		owners := 0
		for _, m := range all {
			if m.Role == invoicing.MemberOwner {
				owners++
			}
			if m.Subject == subject {
				out = m
			}
		}
		if out == nil {
			return notFound("member")
		}
		ch, err := fn(out, owners)
		if err != nil {
			return err
		}
		if ch.Remove {
			if _, err := s.exec(ctx, tx, deleteMember, businessID, subject); err != nil {
				return fmt.Errorf("deleting member: %w", err)
			}
			return nil
		}
		out.Version++
		if _, err := s.exec(ctx, tx, updateMember, string(out.Role), s.d.Time(out.UpdatedAt), out.Version, businessID, subject); err != nil {
			return fmt.Errorf("updating member: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ---- invoices

const invoiceCols = `seq, id, number, issuer_id, customer_id, currency, due_date, memo, line_items,
	subtotal, tax, total, amount_paid, amount_due, status,
	finalized_at, paid_at, voided_at, marked_uncollectible_at, created_at, updated_at, version,
	paid_issuer_recorded, paid_customer_confirmed, paid_provider_reported, financed_by`

type lineItemJSON struct {
	Description string `json:"description"`
	Quantity    int64  `json:"quantity"`
	UnitAmount  int64  `json:"unit_amount"`
	TaxRate     string `json:"tax_rate,omitempty"`
	Amount      int64  `json:"amount"`
	Tax         int64  `json:"tax"`
}

func encodeLines(items []invoicing.LineItem) (string, error) {
	out := make([]lineItemJSON, len(items))
	for i, li := range items {
		out[i] = lineItemJSON(li)
	}
	b, err := json.Marshal(out)
	return string(b), err
}

type scanner interface{ Scan(dest ...any) error }

func scanInvoice(r scanner) (*invoicing.Invoice, int64, error) {
	var inv invoicing.Invoice
	var seq int64
	var number, financedBy sql.NullString
	var lines []byte
	var status string
	t := &inv.Transitions
	err := r.Scan(&seq, &inv.ID, &number, &inv.IssuerID, &inv.CustomerID, &inv.Currency, &inv.DueDate, &inv.Memo, &lines,
		&inv.Subtotal, &inv.Tax, &inv.Total, &inv.AmountPaid, &inv.AmountDue, &status,
		sqldb.ScanNullTime(&t.FinalizedAt), sqldb.ScanNullTime(&t.PaidAt), sqldb.ScanNullTime(&t.VoidedAt), sqldb.ScanNullTime(&t.MarkedUncollectibleAt),
		sqldb.ScanTime(&inv.CreatedAt), sqldb.ScanTime(&inv.UpdatedAt), &inv.Version,
		&inv.PaidBy.IssuerRecorded, &inv.PaidBy.CustomerConfirmed, &inv.PaidBy.ProviderReported, &financedBy)
	if err != nil {
		return nil, 0, err
	}
	inv.Number, inv.FinancedBy = number.String, financedBy.String
	inv.Status = invoicing.Status(status)
	var items []lineItemJSON
	if err := json.Unmarshal(lines, &items); err != nil {
		return nil, 0, fmt.Errorf("decoding line items of %s: %w", inv.ID, err)
	}
	inv.LineItems = make([]invoicing.LineItem, len(items))
	for i, li := range items {
		inv.LineItems[i] = invoicing.LineItem(li)
	}
	return &inv, seq, nil
}

func (s *Store) invoiceArgs(inv *invoicing.Invoice) ([]any, error) {
	lines, err := encodeLines(inv.LineItems)
	if err != nil {
		return nil, fmt.Errorf("encoding line items: %w", err)
	}
	t := inv.Transitions
	return []any{nullString(inv.Number), inv.IssuerID, inv.CustomerID, inv.Currency, inv.DueDate, inv.Memo, lines,
		inv.Subtotal, inv.Tax, inv.Total, inv.AmountPaid, inv.AmountDue, string(inv.Status),
		s.d.NullTime(t.FinalizedAt), s.d.NullTime(t.PaidAt), s.d.NullTime(t.VoidedAt), s.d.NullTime(t.MarkedUncollectibleAt),
		s.d.Time(inv.CreatedAt), s.d.Time(inv.UpdatedAt), inv.Version,
		inv.PaidBy.IssuerRecorded, inv.PaidBy.CustomerConfirmed, inv.PaidBy.ProviderReported, nullString(inv.FinancedBy)}, nil
}

// nullString writes "" as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

const insertInvoice = `INSERT INTO invoices (id, number, issuer_id, customer_id, currency, due_date, memo, line_items,
	subtotal, tax, total, amount_paid, amount_due, status,
	finalized_at, paid_at, voided_at, marked_uncollectible_at, created_at, updated_at, version,
	paid_issuer_recorded, paid_customer_confirmed, paid_provider_reported, financed_by)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// CreateInvoice implements invoicing.Store.
func (s *Store) CreateInvoice(ctx context.Context, inv *invoicing.Invoice) (err error) {
	ctx, end := s.spans.Start(ctx, "CreateInvoice")
	defer end(&err)
	args, err := s.invoiceArgs(inv)
	if err != nil {
		return err
	}
	err = s.db.Write(ctx, func(q sqldb.Querier) error {
		_, err := s.exec(ctx, q, insertInvoice, append([]any{inv.ID}, args...)...)
		return err
	})
	if err != nil {
		if s.d.IsUnique(err) {
			return invoicing.Errorf(invoicing.ECONFLICT, "the invoice already exists")
		}
		return fmt.Errorf("inserting invoice: %w", err)
	}
	return nil
}

// Invoice implements invoicing.Store.
func (s *Store) Invoice(ctx context.Context, id string) (inv *invoicing.Invoice, err error) {
	ctx, end := s.spans.Start(ctx, "Invoice")
	defer end(&err)
	inv, _, err = scanInvoice(s.row(ctx, s.db.R, `SELECT `+invoiceCols+` FROM invoices WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("invoice")
	}
	if err != nil {
		return nil, fmt.Errorf("reading invoice: %w", err)
	}
	return inv, nil
}

const nextNumber = `UPDATE businesses SET invoice_seq = invoice_seq + 1 WHERE id = ? RETURNING invoice_seq`

// invoiceTx is what an update's function may do in its transaction, on the
// invoice it locked.
type invoiceTx struct {
	s         *Store
	tx        *sql.Tx
	invoiceID string
}

func (t invoiceTx) NextNumber(ctx context.Context, issuerID string) (int64, error) {
	var n int64
	err := t.s.row(ctx, t.tx, nextNumber, issuerID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("incrementing invoice sequence: %w", err)
	}
	return n, nil
}

func (t invoiceTx) Payment(ctx context.Context, id string) (*invoicing.Payment, error) {
	return scanPayment(t.s.row(ctx, t.tx, `SELECT `+paymentCols+` FROM payments WHERE id = ? AND invoice_id = ?`, id, t.invoiceID))
}

func (t invoiceTx) ProviderPayment(ctx context.Context, providerPaymentID string) (*invoicing.Payment, error) {
	return scanPayment(t.s.row(ctx, t.tx, `SELECT `+paymentCols+` FROM payments WHERE provider_payment_id = ?`, providerPaymentID))
}

// The statements of UpdateInvoice's transaction.
const (
	deleteInvoice = `DELETE FROM invoices WHERE id = ?`
	updateInvoice = `UPDATE invoices SET number = ?, issuer_id = ?, customer_id = ?, currency = ?, due_date = ?, memo = ?,
		line_items = ?, subtotal = ?, tax = ?, total = ?, amount_paid = ?, amount_due = ?, status = ?,
		finalized_at = ?, paid_at = ?, voided_at = ?, marked_uncollectible_at = ?, created_at = ?, updated_at = ?, version = ?,
		paid_issuer_recorded = ?, paid_customer_confirmed = ?, paid_provider_reported = ?, financed_by = ?
		WHERE id = ?`
	insertPayment  = `INSERT INTO payments (` + paymentCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	confirmPayment = `UPDATE payments SET provenance = ?, confirmed_at = ? WHERE id = ? AND invoice_id = ?`
	insertEvent    = `INSERT INTO outbox_events (id, type, source, subject, time, data) VALUES (?, ?, ?, ?, ?, ?)`
)

// lockInvoice reads an invoice to change it, locking its row.
func (s *Store) lockInvoice() string {
	return `SELECT ` + invoiceCols + ` FROM invoices WHERE id = ?` + s.d.ForUpdate()
}

// UpdateInvoice implements invoicing.Store.
func (s *Store) UpdateInvoice(ctx context.Context, id string, fn func(tx invoicing.InvoiceTx, inv *invoicing.Invoice) (invoicing.Change, error)) (out *invoicing.Invoice, err error) {
	ctx, end := s.spans.Start(ctx, "UpdateInvoice")
	defer end(&err)
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		inv, _, err := scanInvoice(s.row(ctx, tx, s.lockInvoice(), id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("invoice")
		}
		if err != nil {
			return fmt.Errorf("locking invoice: %w", err)
		}
		ch, err := fn(invoiceTx{s, tx, id}, inv)
		if err != nil {
			return err
		}
		if ch.Keep {
			out = inv
			return nil
		}
		if ch.Delete {
			if _, err := s.exec(ctx, tx, deleteInvoice, id); err != nil {
				return fmt.Errorf("deleting invoice: %w", err)
			}
			out = inv
			return nil
		}
		inv.Version++
		args, err := s.invoiceArgs(inv)
		if err != nil {
			return err
		}
		_, err = s.exec(ctx, tx, updateInvoice, append(args, id)...)
		if err != nil {
			return fmt.Errorf("updating invoice: %w", err)
		}
		if p := ch.Payment; p != nil {
			_, err := s.exec(ctx, tx, insertPayment,
				p.ID, p.InvoiceID, p.Amount, p.Method, p.Reference, s.d.Time(p.CreatedAt),
				string(p.Provenance), s.d.NullTime(p.ConfirmedAt), nullString(p.ProviderPaymentID))
			if err != nil && s.d.IsUnique(err) && p.ProviderPaymentID != "" {
				return invoicing.Errorf(invoicing.ECONFLICT, "the provider reported this payment id before")
			}
			if err != nil {
				return fmt.Errorf("inserting payment: %w", err)
			}
		}
		if p := ch.Confirmed; p != nil {
			_, err := s.exec(ctx, tx, confirmPayment,
				string(p.Provenance), s.d.NullTime(p.ConfirmedAt), p.ID, id)
			if err != nil {
				return fmt.Errorf("confirming payment: %w", err)
			}
		}
		for _, e := range ch.Events {
			_, err := s.exec(ctx, tx, insertEvent,
				e.ID, e.Type, e.Source, e.Subject, s.d.Time(e.Time), string(e.Data))
			if err != nil {
				return fmt.Errorf("inserting outbox event: %w", err)
			}
		}
		out = inv
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListInvoices implements invoicing.Store. Pages follow the insertion
// sequence, newest first, so rows inserted while a client pages through
// never shift the pages it has yet to read.
func (s *Store) ListInvoices(ctx context.Context, f invoicing.InvoiceFilter) (out []*invoicing.Invoice, more bool, err error) {
	ctx, end := s.spans.Start(ctx, "ListInvoices")
	defer end(&err)
	var where []string
	var args []any
	switch f.Role {
	case invoicing.RoleReceived:
		where = append(where, `customer_id = ?`, `status <> 'draft'`)
	default:
		where = append(where, `issuer_id = ?`)
	}
	args = append(args, f.BusinessID)
	switch f.Status {
	case "":
	case "overdue":
		where = append(where, `status = 'open'`, `due_date < ?`)
		args = append(args, f.Today)
	default:
		where = append(where, `status = ?`)
		args = append(args, f.Status)
	}
	if f.CustomerID != "" {
		where = append(where, `customer_id = ?`)
		args = append(args, f.CustomerID)
	}
	if f.DueBefore != "" {
		where = append(where, `due_date < ?`)
		args = append(args, f.DueBefore)
	}
	if f.StartingAfter != "" {
		where = append(where, `seq < (SELECT seq FROM invoices WHERE id = ?)`)
		args = append(args, f.StartingAfter)
	}
	args = append(args, f.Limit+1)
	rows, err := s.query(ctx, s.db.R, `SELECT `+invoiceCols+` FROM invoices WHERE `+strings.Join(where, " AND ")+` ORDER BY seq DESC LIMIT ?`, args...)
	if err != nil {
		return nil, false, fmt.Errorf("listing invoices: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		inv, _, err := scanInvoice(rows)
		if err != nil {
			return nil, false, fmt.Errorf("listing invoices: %w", err)
		}
		out = append(out, inv)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("listing invoices: %w", err)
	}
	if len(out) > f.Limit {
		return out[:f.Limit], true, nil
	}
	return out, false, nil
}

// IssuedInvoices implements invoicing.Store.
func (s *Store) IssuedInvoices(ctx context.Context, issuerID string, since time.Time) (out []*invoicing.Invoice, err error) {
	ctx, end := s.spans.Start(ctx, "IssuedInvoices")
	defer end(&err)
	rows, err := s.query(ctx, s.db.R, `SELECT `+invoiceCols+` FROM invoices WHERE issuer_id = ? AND status <> 'draft'
		AND (finalized_at >= ? OR status IN ('open', 'uncollectible')) ORDER BY seq`, issuerID, s.d.Time(since))
	if err != nil {
		return nil, fmt.Errorf("reading issued invoices: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		inv, _, err := scanInvoice(rows)
		if err != nil {
			return nil, fmt.Errorf("reading issued invoices: %w", err)
		}
		out = append(out, inv)
	}
	return out, rows.Err()
}

// Payments implements invoicing.Store.
func (s *Store) Payments(ctx context.Context, invoiceID string) (out []*invoicing.Payment, err error) {
	ctx, end := s.spans.Start(ctx, "Payments")
	defer end(&err)
	rows, err := s.query(ctx, s.db.R, `SELECT `+paymentCols+` FROM payments WHERE invoice_id = ? ORDER BY created_at, id`, invoiceID)
	if err != nil {
		return nil, fmt.Errorf("reading payments: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		p, err := scanPayment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

const paymentCols = `id, invoice_id, amount, method, reference, created_at, provenance, confirmed_at, provider_payment_id`

func scanPayment(r scanner) (*invoicing.Payment, error) {
	var p invoicing.Payment
	var provenance string
	var providerID sql.NullString
	err := r.Scan(&p.ID, &p.InvoiceID, &p.Amount, &p.Method, &p.Reference, sqldb.ScanTime(&p.CreatedAt),
		&provenance, sqldb.ScanNullTime(&p.ConfirmedAt), &providerID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("payment")
	}
	if err != nil {
		return nil, fmt.Errorf("reading payment: %w", err)
	}
	p.Provenance, p.ProviderPaymentID = invoicing.Provenance(provenance), providerID.String
	return &p, nil
}

// ---- idempotency keys (the SQL is the kit's, shared with the credit store)

// Begin implements idempotency.Store: the request's writes join the
// returned context's transaction (through db.InTx and db.Write).
func (s *Store) Begin(ctx context.Context) (context.Context, idempotency.Txn) {
	ctx, txn := s.keys.Begin(ctx)
	return ctx, tracedTxn{txn, s.spans}
}

// tracedTxn traces the commit of a request's transaction.
type tracedTxn struct {
	idempotency.Txn
	spans sqldb.Spans
}

func (t tracedTxn) Commit(ctx context.Context, c idempotency.Claim, rec idempotency.Record) (o idempotency.Outcome, got *idempotency.Record, err error) {
	ctx, end := t.spans.Start(ctx, "IdempotencyCommit")
	defer end(&err)
	return t.Txn.Commit(ctx, c, rec)
}

// PurgeIdempotencyKeys deletes keys created before t.
func (s *Store) PurgeIdempotencyKeys(ctx context.Context, before time.Time) (n int64, err error) {
	ctx, end := s.spans.Start(ctx, "IdempotencyPurge")
	defer end(&err)
	return s.keys.PurgeIdempotencyKeys(ctx, before)
}

// ---- outbox

// Pending implements outbox.Store.
func (s *Store) Pending(ctx context.Context, subscriber string, now time.Time, limit int) (out []outbox.Event, err error) {
	ctx, end := s.spans.Start(ctx, "OutboxPending")
	defer end(&err)
	rows, err := s.query(ctx, s.db.R, `SELECT e.id, e.type, e.source, e.subject, e.time, e.data, COALESCE(d.attempts, 0)
		FROM outbox_events e LEFT JOIN outbox_deliveries d ON d.event_id = e.id AND d.subscriber = ?
		WHERE d.delivered_at IS NULL AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= ?)
		ORDER BY e.seq LIMIT ?`, subscriber, s.d.Time(now), limit)
	if err != nil {
		return nil, fmt.Errorf("reading outbox: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e outbox.Event
		var data []byte
		if err := rows.Scan(&e.ID, &e.Type, &e.Source, &e.Subject, sqldb.ScanTime(&e.Time), &data, &e.Attempts); err != nil {
			return nil, fmt.Errorf("reading outbox: %w", err)
		}
		e.Data = data
		out = append(out, e)
	}
	return out, rows.Err()
}

// MarkDelivered implements outbox.Store.
func (s *Store) MarkDelivered(ctx context.Context, subscriber, eventID string, at time.Time) (err error) {
	ctx, end := s.spans.Start(ctx, "OutboxDelivered")
	defer end(&err)
	err = s.db.OnWriter(ctx, func(q sqldb.Querier) error {
		_, err := s.exec(ctx, q, `INSERT INTO outbox_deliveries (subscriber, event_id, attempts, next_attempt_at, delivered_at, last_error)
			VALUES (?, ?, 0, NULL, ?, '')
			ON CONFLICT (subscriber, event_id) DO UPDATE SET delivered_at = excluded.delivered_at, next_attempt_at = NULL`,
			subscriber, eventID, s.d.Time(at))
		return err
	})
	if err != nil {
		return fmt.Errorf("marking event delivered: %w", err)
	}
	return nil
}

// MarkFailed implements outbox.Store.
func (s *Store) MarkFailed(ctx context.Context, subscriber, eventID string, attempts int, next time.Time, reason string) (err error) {
	ctx, end := s.spans.Start(ctx, "OutboxFailed")
	defer end(&err)
	if len(reason) > 500 {
		reason = reason[:500]
	}
	err = s.db.OnWriter(ctx, func(q sqldb.Querier) error {
		_, err := s.exec(ctx, q, `INSERT INTO outbox_deliveries (subscriber, event_id, attempts, next_attempt_at, delivered_at, last_error)
			VALUES (?, ?, ?, ?, NULL, ?)
			ON CONFLICT (subscriber, event_id) DO UPDATE SET attempts = excluded.attempts, next_attempt_at = excluded.next_attempt_at, last_error = excluded.last_error`,
			subscriber, eventID, attempts, s.d.Time(next), reason)
		return err
	})
	if err != nil {
		return fmt.Errorf("marking event failed: %w", err)
	}
	return nil
}
