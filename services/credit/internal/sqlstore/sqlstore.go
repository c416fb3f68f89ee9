// Package sqlstore is the SQL shared by the credit store's adapters. The
// sqlite and postgres packages own their driver, connection settings and
// migrations and describe their differences in a Dialect; the queries and
// transactions are written once here. Times are stored as Unix microseconds
// in both backends.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/estatehq/estate/services/credit"
	"github.com/estatehq/estate/services/kit/idempotency/sqlkeys"
	"github.com/estatehq/estate/services/kit/sqldb"
)

// Dialect describes a backend.
type Dialect struct {
	// Name is the db.system of spans ("sqlite", "postgresql").
	Name string
	// Rebind turns the ? of a query into the backend's placeholders.
	Rebind func(q string) string
	// ForUpdate is appended to the SELECT that locks a line; SQLite locks
	// the database with BEGIN IMMEDIATE instead.
	ForUpdate string
	// IsUnique reports a uniqueness violation.
	IsUnique func(error) bool
}

// Store implements credit.Store and idempotency.Store.
type Store struct {
	*sqlkeys.Store
	db, wdb *sql.DB
	d       Dialect
	tracer  trace.Tracer
}

var _ credit.Store = (*Store)(nil)

// New returns a store on db (reads) and wdb (writes), which the caller has
// migrated; tp traces every call (nil traces nothing).
func New(db, wdb *sql.DB, d Dialect, tp trace.TracerProvider) *Store {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return &Store{
		Store: sqlkeys.New(sqlkeys.Options{DB: db, WDB: wdb, Rebind: d.Rebind, Time: micros}),
		db:    db, wdb: wdb, d: d,
		tracer: tp.Tracer("github.com/estatehq/estate/services/credit/store"),
	}
}

func micros(t time.Time) any { return t.UTC().UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func (s *Store) span(ctx context.Context, op string) (context.Context, func(*error)) {
	ctx, sp := s.tracer.Start(ctx, "store."+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system", s.d.Name), attribute.String("db.operation", op)))
	return ctx, func(errp *error) {
		if err := *errp; err != nil && credit.ErrorCode(err) == credit.EINTERNAL {
			sp.RecordError(err)
			sp.SetStatus(codes.Error, "store error")
		}
		sp.End()
	}
}

func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return sqldb.InTx(ctx, s.wdb, fn)
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Close closes the database.
func (s *Store) Close() error {
	if s.wdb == s.db {
		return s.db.Close()
	}
	return errors.Join(s.wdb.Close(), s.db.Close())
}

// DB is the underlying handle, for tests.
func (s *Store) DB() *sql.DB { return s.db }

// ---- applications and lines

// Decide implements credit.Store.
func (s *Store) Decide(ctx context.Context, a *credit.Application) (err error) {
	ctx, end := s.span(ctx, "Decide")
	defer end(&err)
	reasons, err := json.Marshal(a.Reasons)
	if err != nil {
		return fmt.Errorf("encoding reasons: %w", err)
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.d.Rebind(`INSERT INTO applications (id, business_id, requested_limit, currency, status, approved_limit, reasons, decided_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`), a.ID, a.BusinessID, a.RequestedLimit, a.Currency, string(a.Status), a.ApprovedLimit, string(reasons), micros(a.DecidedAt)); err != nil {
			return fmt.Errorf("inserting application: %w", err)
		}
		if a.Status != credit.Approved {
			return nil
		}
		l, err := s.lockLine(ctx, tx, a.BusinessID)
		switch credit.ErrorCode(err) {
		case credit.ENOTFOUND:
			_, err = tx.ExecContext(ctx, s.d.Rebind(`INSERT INTO lines (business_id, currency, credit_limit, drawn, updated_at) VALUES (?, ?, ?, 0, ?)`),
				a.BusinessID, a.Currency, a.ApprovedLimit, micros(a.DecidedAt))
			if err != nil {
				return fmt.Errorf("inserting line: %w", err)
			}
			return nil
		case "":
		default:
			return err
		}
		if l.Currency != a.Currency && l.Drawn > 0 {
			return credit.Errorf(credit.ECONFLICT, "the credit line is drawn in %s; repay it before applying in another currency", l.Currency)
		}
		if _, err := tx.ExecContext(ctx, s.d.Rebind(`UPDATE lines SET currency = ?, credit_limit = ?, updated_at = ? WHERE business_id = ?`),
			a.Currency, a.ApprovedLimit, micros(a.DecidedAt), a.BusinessID); err != nil {
			return fmt.Errorf("updating line: %w", err)
		}
		return nil
	})
}

// Application implements credit.Store.
func (s *Store) Application(ctx context.Context, id string) (a *credit.Application, err error) {
	ctx, end := s.span(ctx, "Application")
	defer end(&err)
	a = &credit.Application{}
	var status, reasons string
	var decided int64
	err = s.db.QueryRowContext(ctx, s.d.Rebind(`SELECT id, business_id, requested_limit, currency, status, approved_limit, reasons, decided_at
		FROM applications WHERE id = ?`), id).Scan(&a.ID, &a.BusinessID, &a.RequestedLimit, &a.Currency, &status, &a.ApprovedLimit, &reasons, &decided)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, credit.Errorf(credit.ENOTFOUND, "no such application")
	}
	if err != nil {
		return nil, fmt.Errorf("reading application: %w", err)
	}
	a.Status, a.DecidedAt = credit.Decision(status), fromMicros(decided)
	if err := json.Unmarshal([]byte(reasons), &a.Reasons); err != nil {
		return nil, fmt.Errorf("decoding reasons: %w", err)
	}
	return a, nil
}

type rowScanner interface{ Scan(dest ...any) error }

func scanLine(r rowScanner) (*credit.Line, error) {
	l := &credit.Line{}
	var updated int64
	err := r.Scan(&l.BusinessID, &l.Currency, &l.Limit, &l.Drawn, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, credit.Errorf(credit.ENOTFOUND, "no credit line")
	}
	if err != nil {
		return nil, fmt.Errorf("reading line: %w", err)
	}
	l.UpdatedAt = fromMicros(updated)
	return l, nil
}

const lineCols = `business_id, currency, credit_limit, drawn, updated_at`

func (s *Store) lockLine(ctx context.Context, tx *sql.Tx, businessID string) (*credit.Line, error) {
	return scanLine(tx.QueryRowContext(ctx, s.d.Rebind(`SELECT `+lineCols+` FROM lines WHERE business_id = ?`+s.d.ForUpdate), businessID))
}

// Line implements credit.Store.
func (s *Store) Line(ctx context.Context, businessID string) (l *credit.Line, err error) {
	ctx, end := s.span(ctx, "Line")
	defer end(&err)
	return scanLine(s.db.QueryRowContext(ctx, s.d.Rebind(`SELECT `+lineCols+` FROM lines WHERE business_id = ?`), businessID))
}

// ---- drawdowns

const drawdownCols = `id, business_id, invoice_id, amount, currency, status, created_at, settled_at, checked_at`

func scanDrawdown(r rowScanner) (*credit.Drawdown, error) {
	d := &credit.Drawdown{}
	var status string
	var created, checked int64
	var settled sql.NullInt64
	err := r.Scan(&d.ID, &d.BusinessID, &d.InvoiceID, &d.Amount, &d.Currency, &status, &created, &settled, &checked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, credit.Errorf(credit.ENOTFOUND, "no such drawdown")
	}
	if err != nil {
		return nil, fmt.Errorf("reading drawdown: %w", err)
	}
	d.Status, d.CreatedAt, d.CheckedAt = credit.DrawdownStatus(status), fromMicros(created), fromMicros(checked)
	if settled.Valid {
		t := fromMicros(settled.Int64)
		d.SettledAt = &t
	}
	return d, nil
}

// Draw implements credit.Store.
func (s *Store) Draw(ctx context.Context, d *credit.Drawdown, check func(l *credit.Line) error) (err error) {
	ctx, end := s.span(ctx, "Draw")
	defer end(&err)
	return s.inTx(ctx, func(tx *sql.Tx) error {
		l, err := s.lockLine(ctx, tx, d.BusinessID)
		if err != nil {
			return err
		}
		if err := check(l); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.d.Rebind(`INSERT INTO drawdowns (`+drawdownCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?)`),
			d.ID, d.BusinessID, d.InvoiceID, d.Amount, d.Currency, string(d.Status), micros(d.CreatedAt), micros(d.CheckedAt))
		if err != nil && s.d.IsUnique(err) {
			return credit.Errorf(credit.ECONFLICT, "this invoice is already financed")
		}
		if err != nil {
			return fmt.Errorf("inserting drawdown: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.d.Rebind(`UPDATE lines SET drawn = drawn + ?, updated_at = ? WHERE business_id = ?`),
			d.Amount, micros(d.CreatedAt), d.BusinessID); err != nil {
			return fmt.Errorf("updating line: %w", err)
		}
		return nil
	})
}

// Drawdown implements credit.Store.
func (s *Store) Drawdown(ctx context.Context, id string) (d *credit.Drawdown, err error) {
	ctx, end := s.span(ctx, "Drawdown")
	defer end(&err)
	return scanDrawdown(s.db.QueryRowContext(ctx, s.d.Rebind(`SELECT `+drawdownCols+` FROM drawdowns WHERE id = ?`), id))
}

// ActiveDrawdown implements credit.Store.
func (s *Store) ActiveDrawdown(ctx context.Context, invoiceID string) (d *credit.Drawdown, err error) {
	ctx, end := s.span(ctx, "ActiveDrawdown")
	defer end(&err)
	return scanDrawdown(s.db.QueryRowContext(ctx, s.d.Rebind(`SELECT `+drawdownCols+` FROM drawdowns WHERE invoice_id = ? AND status = 'active'`), invoiceID))
}

// Drawdowns implements credit.Store. Pages follow (created_at, id)
// descending.
func (s *Store) Drawdowns(ctx context.Context, businessID string, p credit.Page) (out []*credit.Drawdown, more bool, err error) {
	ctx, end := s.span(ctx, "Drawdowns")
	defer end(&err)
	q := `SELECT ` + drawdownCols + ` FROM drawdowns WHERE business_id = ?`
	args := []any{businessID}
	if p.StartingAfter != "" {
		after, err := s.Drawdown(ctx, p.StartingAfter)
		if err != nil || after.BusinessID != businessID {
			return nil, false, credit.Errorf(credit.ENOTFOUND, "starting_after names no drawdown of this business")
		}
		q += ` AND (created_at < ? OR (created_at = ? AND id < ?))`
		args = append(args, micros(after.CreatedAt), micros(after.CreatedAt), after.ID)
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, p.Limit+1)
	rows, err := s.db.QueryContext(ctx, s.d.Rebind(q), args...)
	if err != nil {
		return nil, false, fmt.Errorf("listing drawdowns: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		d, err := scanDrawdown(rows)
		if err != nil {
			return nil, false, err
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("listing drawdowns: %w", err)
	}
	if len(out) > p.Limit {
		return out[:p.Limit], true, nil
	}
	return out, false, nil
}

// Settle implements credit.Store.
func (s *Store) Settle(ctx context.Context, eventID, invoiceID string, at time.Time) (out *credit.Drawdown, err error) {
	ctx, end := s.span(ctx, "Settle")
	defer end(&err)
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.d.Rebind(`INSERT INTO handled_events (id, handled_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`), eventID, micros(at))
		if err != nil {
			return fmt.Errorf("recording event: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // handled before
		}
		d, err := scanDrawdown(tx.QueryRowContext(ctx, s.d.Rebind(`SELECT `+drawdownCols+` FROM drawdowns WHERE invoice_id = ? AND status = 'active'`+s.d.ForUpdate), invoiceID))
		if credit.ErrorCode(err) == credit.ENOTFOUND {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.d.Rebind(`UPDATE drawdowns SET status = 'settled', settled_at = ? WHERE id = ?`), micros(at), d.ID); err != nil {
			return fmt.Errorf("settling drawdown: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.d.Rebind(`UPDATE lines SET drawn = drawn - ?, updated_at = ? WHERE business_id = ?`), d.Amount, micros(at), d.BusinessID); err != nil {
			return fmt.Errorf("restoring line: %w", err)
		}
		d.Status, d.SettledAt = credit.DrawdownSettled, &at
		out = d
		return nil
	})
	return out, err
}

// Unchecked implements credit.Store.
func (s *Store) Unchecked(ctx context.Context, before time.Time, limit int) (out []*credit.Drawdown, err error) {
	ctx, end := s.span(ctx, "Unchecked")
	defer end(&err)
	rows, err := s.db.QueryContext(ctx, s.d.Rebind(`SELECT `+drawdownCols+` FROM drawdowns WHERE status = 'active' AND checked_at < ?
		ORDER BY checked_at, id LIMIT ?`), micros(before), limit)
	if err != nil {
		return nil, fmt.Errorf("listing unchecked drawdowns: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		d, err := scanDrawdown(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// MarkChecked implements credit.Store.
func (s *Store) MarkChecked(ctx context.Context, id string, at time.Time) (err error) {
	ctx, end := s.span(ctx, "MarkChecked")
	defer end(&err)
	if _, err := s.wdb.ExecContext(ctx, s.d.Rebind(`UPDATE drawdowns SET checked_at = ? WHERE id = ?`), micros(at), id); err != nil {
		return fmt.Errorf("marking drawdown checked: %w", err)
	}
	return nil
}
