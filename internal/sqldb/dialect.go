package sqldb

import (
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect is what differs between the backends in the SQL a store writes:
// a store's queries are written once, with ? placeholders, and the dialect
// adapts them. SQLite and Postgres are the two dialects.
type Dialect uint8

const (
	// SQLite stores times as Unix microseconds (INTEGER): SQLite has no
	// time type, and an integer compares and indexes as the instant does.
	SQLite Dialect = iota + 1
	// Postgres stores times as timestamptz.
	Postgres
)

// Name is the backend's db.system, for spans: "sqlite" or "postgresql".
func (d Dialect) Name() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgresql"
	}
	return "unknown"
}

// String implements fmt.Stringer.
func (d Dialect) String() string { return d.Name() }

func (d Dialect) goose() (goose.Dialect, error) {
	switch d {
	case SQLite:
		return goose.DialectSQLite3, nil
	case Postgres:
		return goose.DialectPostgres, nil
	}
	return "", fmt.Errorf("unknown dialect %d", d)
}

// Rebind turns the ? placeholders of q into the backend's: PostgreSQL's
// $1, $2...; SQLite takes q as it is. The stores' queries have no ? inside
// a string literal or an operator.
func (d Dialect) Rebind(q string) string {
	if d != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Param is the n-th parameter (from 1) of a query written for the
// backend, for a query that uses one parameter more than once: "?n" on
// SQLite, "$n" on PostgreSQL.
func (d Dialect) Param(n int) string {
	if d == Postgres {
		return "$" + strconv.Itoa(n)
	}
	return "?" + strconv.Itoa(n)
}

// ForUpdate is appended to a SELECT whose rows the transaction goes on to
// change, to lock them: " FOR UPDATE" on PostgreSQL. SQLite has no row
// locks; its transactions start with BEGIN IMMEDIATE and so hold the
// database's write lock already.
func (d Dialect) ForUpdate() string {
	if d == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// Time encodes t for a parameter, at microsecond resolution (the
// resolution of timestamptz), truncated: SQLite gets Unix microseconds,
// PostgreSQL a UTC time.Time. ScanTime reads it back.
func (d Dialect) Time(t time.Time) any {
	if d == Postgres {
		return t.UTC().Truncate(time.Microsecond)
	}
	return t.UnixMicro()
}

// NullTime is Time for a nullable column: nil encodes NULL.
func (d Dialect) NullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return d.Time(*t)
}

// ScanTime returns the destination of a scan that reads a time written by
// Dialect.Time, of either dialect, into *t, in UTC.
func ScanTime(t *time.Time) sql.Scanner { return timeScanner{t} }

// ScanNullTime is ScanTime for a nullable column: NULL reads as nil.
func ScanNullTime(t **time.Time) sql.Scanner { return nullTimeScanner{t} }

// IsUnique reports whether err is a violation of a unique constraint (or
// of SQLite's primary key).
func (d Dialect) IsUnique(err error) bool {
	if d == Postgres {
		var e *pgconn.PgError
		return errors.As(err, &e) && e.Code == "23505" // unique_violation
	}
	var e *sqlite.Error
	return errors.As(err, &e) && (e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

// timeScanner reads a time.Time (PostgreSQL) or Unix microseconds
// (SQLite).
type timeScanner struct{ t *time.Time }

func (s timeScanner) Scan(v any) error {
	switch v := v.(type) {
	case time.Time:
		*s.t = v.UTC()
	case int64:
		*s.t = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("scanning a time from %T", v)
	}
	return nil
}

type nullTimeScanner struct{ t **time.Time }

func (s nullTimeScanner) Scan(v any) error {
	if v == nil {
		*s.t = nil
		return nil
	}
	var t time.Time
	if err := (timeScanner{&t}).Scan(v); err != nil {
		return err
	}
	*s.t = &t
	return nil
}

// SplitTime splits t into the part a timestamptz holds exactly (t
// truncated to the microsecond, in UTC) and the nanoseconds below it, 0 to
// 999, for a store that keeps times exact in PostgreSQL.
func SplitTime(t time.Time) (time.Time, int16) {
	us := t.UTC().Truncate(time.Microsecond)
	return us, int16(t.Sub(us)) //nolint:gosec // t.Sub(us) is in [0, 1µs)
}

// JoinTime is the inverse of SplitTime.
func JoinTime(us time.Time, ns int16) time.Time {
	return us.Add(time.Duration(ns)).UTC()
}
