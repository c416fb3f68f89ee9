// Package sqlstore is the SQL shared by the credit store's adapters. The
// sqlite and postgres packages own their migrations and connection
// settings; the queries and transactions are written once here, with ?
// placeholders and times that the database's sqldb.Dialect adapts (Unix
// microseconds in SQLite, timestamptz in PostgreSQL).
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/estatehq/estate/internal/sqldb"
	"github.com/estatehq/estate/services/credit"
	"github.com/estatehq/estate/services/kit/idempotency/sqlkeys"
)

// Store implements credit.Store and idempotency.Store.
type Store struct {
	*sqlkeys.Store
	// db.W runs every write, db.R every read outside a transaction.
	db    *sqldb.DB
	d     sqldb.Dialect
	spans sqldb.Spans
}

var _ credit.Store = (*Store)(nil)

// Migrations are the store's migrations in fsys's migrations folder (each
// backend has its own). Releases before per-schema version tables kept
// them in goose's default table.
func Migrations(fsys fs.FS) sqldb.Migrations {
	return sqldb.Migrations{FS: fsys, Dir: "migrations", Schema: "credit", LegacyTable: "goose_db_version"}
}

// New returns a store on db, which the caller has migrated, and prepares
// the statements of the transactions that requests run (a drawdown's);
// tp traces every call (nil traces nothing).
func New(ctx context.Context, db *sqldb.DB, tp trace.TracerProvider) (*Store, error) {
	internal := func(err error) bool { return credit.ErrorCode(err) == credit.EINTERNAL }
	s := &Store{
		Store: sqlkeys.New(db),
		db:    db, d: db.Dialect,
		spans: sqldb.NewSpans(tp, "github.com/estatehq/estate/services/credit/store", db.Dialect, internal),
	}
	if err := errors.Join(s.Store.Prepare(ctx), db.Prepare(ctx, s.lockLineQuery(), insertDrawdown, drawLine)); err != nil {
		return nil, fmt.Errorf("preparing credit statements: %w", err)
	}
	return s, nil
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.Ping(ctx) }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// DB is the underlying handle, for tests.
func (s *Store) DB() *sql.DB { return s.db.R }

// ---- applications and lines

// Decide implements credit.Store.
func (s *Store) Decide(ctx context.Context, a *credit.Application) (err error) {
	ctx, end := s.spans.Start(ctx, "Decide")
	defer end(&err)
	reasons, err := json.Marshal(a.Reasons)
	if err != nil {
		return fmt.Errorf("encoding reasons: %w", err)
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.db.Exec(ctx, tx, `INSERT INTO applications (id, business_id, requested_limit, currency, status, approved_limit, reasons, decided_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, a.ID, a.BusinessID, a.RequestedLimit, a.Currency, string(a.Status), a.ApprovedLimit, string(reasons), s.d.Time(a.DecidedAt)); err != nil {
			return fmt.Errorf("inserting application: %w", err)
		}
		if a.Status != credit.Approved {
			return nil
		}
		l, err := s.lockLine(ctx, tx, a.BusinessID)
		switch credit.ErrorCode(err) {
		case credit.ENOTFOUND:
			_, err = s.db.Exec(ctx, tx, `INSERT INTO lines (business_id, currency, credit_limit, drawn, updated_at) VALUES (?, ?, ?, 0, ?)`,
				a.BusinessID, a.Currency, a.ApprovedLimit, s.d.Time(a.DecidedAt))
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
		if _, err := s.db.Exec(ctx, tx, `UPDATE lines SET currency = ?, credit_limit = ?, updated_at = ? WHERE business_id = ?`,
			a.Currency, a.ApprovedLimit, s.d.Time(a.DecidedAt), a.BusinessID); err != nil {
			return fmt.Errorf("updating line: %w", err)
		}
		return nil
	})
}

// Application implements credit.Store.
func (s *Store) Application(ctx context.Context, id string) (a *credit.Application, err error) {
	ctx, end := s.spans.Start(ctx, "Application")
	defer end(&err)
	a = &credit.Application{}
	var status, reasons string
	err = s.db.QueryRow(ctx, s.db.R, `SELECT id, business_id, requested_limit, currency, status, approved_limit, reasons, decided_at
		FROM applications WHERE id = ?`, id).Scan(&a.ID, &a.BusinessID, &a.RequestedLimit, &a.Currency, &status, &a.ApprovedLimit, &reasons, sqldb.ScanTime(&a.DecidedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, credit.Errorf(credit.ENOTFOUND, "no such application")
	}
	if err != nil {
		return nil, fmt.Errorf("reading application: %w", err)
	}
	a.Status = credit.Decision(status)
	if err := json.Unmarshal([]byte(reasons), &a.Reasons); err != nil {
		return nil, fmt.Errorf("decoding reasons: %w", err)
	}
	return a, nil
}

type rowScanner interface{ Scan(dest ...any) error }

func scanLine(r rowScanner) (*credit.Line, error) {
	l := &credit.Line{}
	err := r.Scan(&l.BusinessID, &l.Currency, &l.Limit, &l.Drawn, sqldb.ScanTime(&l.UpdatedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, credit.Errorf(credit.ENOTFOUND, "no credit line")
	}
	if err != nil {
		return nil, fmt.Errorf("reading line: %w", err)
	}
	return l, nil
}

const lineCols = `business_id, currency, credit_limit, drawn, updated_at`

// lockLineQuery reads a line to change it, locking its row.
func (s *Store) lockLineQuery() string {
	return `SELECT ` + lineCols + ` FROM lines WHERE business_id = ?` + s.d.ForUpdate()
}

func (s *Store) lockLine(ctx context.Context, tx *sql.Tx, businessID string) (*credit.Line, error) {
	return scanLine(s.db.QueryRow(ctx, tx, s.lockLineQuery(), businessID))
}

// Line implements credit.Store.
func (s *Store) Line(ctx context.Context, businessID string) (l *credit.Line, err error) {
	ctx, end := s.spans.Start(ctx, "Line")
	defer end(&err)
	return scanLine(s.db.QueryRow(ctx, s.db.R, `SELECT `+lineCols+` FROM lines WHERE business_id = ?`, businessID))
}

// ---- drawdowns

const drawdownCols = `id, business_id, invoice_id, amount, currency, status, created_at, settled_at, checked_at`

func scanDrawdown(r rowScanner) (*credit.Drawdown, error) {
	d := &credit.Drawdown{}
	var status string
	err := r.Scan(&d.ID, &d.BusinessID, &d.InvoiceID, &d.Amount, &d.Currency, &status,
		sqldb.ScanTime(&d.CreatedAt), sqldb.ScanNullTime(&d.SettledAt), sqldb.ScanTime(&d.CheckedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, credit.Errorf(credit.ENOTFOUND, "no such drawdown")
	}
	if err != nil {
		return nil, fmt.Errorf("reading drawdown: %w", err)
	}
	d.Status = credit.DrawdownStatus(status)
	return d, nil
}

// The statements of Draw's transaction, besides lockLineQuery.
const (
	insertDrawdown = `INSERT INTO drawdowns (` + drawdownCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?)`
	drawLine       = `UPDATE lines SET drawn = drawn + ?, updated_at = ? WHERE business_id = ?`
)

// Draw implements credit.Store.
func (s *Store) Draw(ctx context.Context, d *credit.Drawdown, check func(l *credit.Line) error) (err error) {
	ctx, end := s.spans.Start(ctx, "Draw")
	defer end(&err)
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		l, err := s.lockLine(ctx, tx, d.BusinessID)
		if err != nil {
			return err
		}
		if err := check(l); err != nil {
			return err
		}
		_, err = s.db.Exec(ctx, tx, insertDrawdown,
			d.ID, d.BusinessID, d.InvoiceID, d.Amount, d.Currency, string(d.Status), s.d.Time(d.CreatedAt), s.d.Time(d.CheckedAt))
		if err != nil && s.d.IsUnique(err) {
			return credit.Errorf(credit.ECONFLICT, "this invoice is already financed")
		}
		if err != nil {
			return fmt.Errorf("inserting drawdown: %w", err)
		}
		if _, err := s.db.Exec(ctx, tx, drawLine,
			d.Amount, s.d.Time(d.CreatedAt), d.BusinessID); err != nil {
			return fmt.Errorf("updating line: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.d.Rebind(`DELETE FROM releases WHERE drawdown_id = ?`), d.ID); err != nil {
			return fmt.Errorf("forgetting release: %w", err)
		}
		return nil
	})
}

// Drawdown implements credit.Store.
func (s *Store) Drawdown(ctx context.Context, id string) (d *credit.Drawdown, err error) {
	ctx, end := s.spans.Start(ctx, "Drawdown")
	defer end(&err)
	return scanDrawdown(s.db.QueryRow(ctx, s.db.R, `SELECT `+drawdownCols+` FROM drawdowns WHERE id = ?`, id))
}

// ActiveDrawdown implements credit.Store.
func (s *Store) ActiveDrawdown(ctx context.Context, invoiceID string) (d *credit.Drawdown, err error) {
	ctx, end := s.spans.Start(ctx, "ActiveDrawdown")
	defer end(&err)
	return scanDrawdown(s.db.QueryRow(ctx, s.db.R, `SELECT `+drawdownCols+` FROM drawdowns WHERE invoice_id = ? AND status = 'active'`, invoiceID))
}

// Drawdowns implements credit.Store. Pages follow (created_at, id)
// descending.
func (s *Store) Drawdowns(ctx context.Context, businessID string, p credit.Page) (out []*credit.Drawdown, more bool, err error) {
	ctx, end := s.spans.Start(ctx, "Drawdowns")
	defer end(&err)
	q := `SELECT ` + drawdownCols + ` FROM drawdowns WHERE business_id = ?`
	args := []any{businessID}
	if p.StartingAfter != "" {
		after, err := s.Drawdown(ctx, p.StartingAfter)
		if err != nil || after.BusinessID != businessID {
			return nil, false, credit.Errorf(credit.ENOTFOUND, "starting_after names no drawdown of this business")
		}
		q += ` AND (created_at < ? OR (created_at = ? AND id < ?))`
		args = append(args, s.d.Time(after.CreatedAt), s.d.Time(after.CreatedAt), after.ID)
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, p.Limit+1)
	rows, err := s.db.Query(ctx, s.db.R, q, args...)
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
	ctx, end := s.spans.Start(ctx, "Settle")
	defer end(&err)
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := s.db.Exec(ctx, tx, `INSERT INTO handled_events (id, handled_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`, eventID, s.d.Time(at))
		if err != nil {
			return fmt.Errorf("recording event: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // handled before
		}
		d, err := scanDrawdown(s.db.QueryRow(ctx, tx, `SELECT `+drawdownCols+` FROM drawdowns WHERE invoice_id = ? AND status = 'active'`+s.d.ForUpdate(), invoiceID))
		if credit.ErrorCode(err) == credit.ENOTFOUND {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := s.db.Exec(ctx, tx, `UPDATE drawdowns SET status = 'settled', settled_at = ? WHERE id = ?`, s.d.Time(at), d.ID); err != nil {
			return fmt.Errorf("settling drawdown: %w", err)
		}
		if _, err := s.db.Exec(ctx, tx, `UPDATE lines SET drawn = drawn - ?, updated_at = ? WHERE business_id = ?`, d.Amount, s.d.Time(at), d.BusinessID); err != nil {
			return fmt.Errorf("restoring line: %w", err)
		}
		if err := s.oweRelease(ctx, tx, credit.Release{DrawdownID: d.ID, BusinessID: d.BusinessID, InvoiceID: d.InvoiceID, CreatedAt: at}); err != nil {
			return err
		}
		d.Status, d.SettledAt = credit.DrawdownSettled, &at
		out = d
		return nil
	})
	return out, err
}

// Unchecked implements credit.Store.
func (s *Store) Unchecked(ctx context.Context, before time.Time, limit int) (out []*credit.Drawdown, err error) {
	ctx, end := s.spans.Start(ctx, "Unchecked")
	defer end(&err)
	rows, err := s.db.Query(ctx, s.db.R, `SELECT `+drawdownCols+` FROM drawdowns WHERE status = 'active' AND checked_at < ?
		ORDER BY checked_at, id LIMIT ?`, s.d.Time(before), limit)
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
	ctx, end := s.spans.Start(ctx, "MarkChecked")
	defer end(&err)
	err = s.db.OnWriter(ctx, func(q sqldb.Querier) error {
		_, err := s.db.Exec(ctx, q, `UPDATE drawdowns SET checked_at = ? WHERE id = ?`, s.d.Time(at), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("marking drawdown checked: %w", err)
	}
	return nil
}

// ---- financing releases owed

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (s *Store) oweRelease(ctx context.Context, q execer, r credit.Release) error {
	_, err := q.ExecContext(ctx, s.d.Rebind(`INSERT INTO releases (drawdown_id, business_id, invoice_id, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (drawdown_id) DO NOTHING`), r.DrawdownID, r.BusinessID, r.InvoiceID, s.d.Time(r.CreatedAt))
	if err != nil {
		return fmt.Errorf("owing release: %w", err)
	}
	return nil
}

// OweRelease implements credit.Store.
func (s *Store) OweRelease(ctx context.Context, r credit.Release) (err error) {
	ctx, end := s.spans.Start(ctx, "OweRelease")
	defer end(&err)
	return s.db.OnWriter(ctx, func(q sqldb.Querier) error { return s.oweRelease(ctx, q, r) })
}

// OwedReleases implements credit.Store.
func (s *Store) OwedReleases(ctx context.Context, before time.Time, limit int) (out []credit.Release, err error) {
	ctx, end := s.spans.Start(ctx, "OwedReleases")
	defer end(&err)
	rows, err := s.db.R.QueryContext(ctx, s.d.Rebind(`SELECT drawdown_id, business_id, invoice_id, created_at FROM releases
		WHERE created_at < ? ORDER BY created_at, drawdown_id LIMIT ?`), s.d.Time(before), limit)
	if err != nil {
		return nil, fmt.Errorf("listing owed releases: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r credit.Release
		if err := rows.Scan(&r.DrawdownID, &r.BusinessID, &r.InvoiceID, sqldb.ScanTime(&r.CreatedAt)); err != nil {
			return nil, fmt.Errorf("listing owed releases: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Released implements credit.Store.
func (s *Store) Released(ctx context.Context, drawdownID string) (err error) {
	ctx, end := s.spans.Start(ctx, "Released")
	defer end(&err)
	err = s.db.OnWriter(ctx, func(q sqldb.Querier) error {
		_, err := q.ExecContext(ctx, s.d.Rebind(`DELETE FROM releases WHERE drawdown_id = ?`), drawdownID)
		return err
	})
	if err != nil {
		return fmt.Errorf("forgetting release: %w", err)
	}
	return nil
}
