// Package sqlite is the invoicing store on SQLite (modernc.org/sqlite, pure
// Go), the embedded default of `estate up`. Every transaction starts with
// BEGIN IMMEDIATE, so read-modify-write changes (payments above all) are
// serialized by the database's write lock.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"time"

	"github.com/pressly/goose/v3"
	"go.opentelemetry.io/otel/trace"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/estatehq/estate/services/invoicing/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the SQLite invoicing store.
type Store struct {
	*sqlstore.Store
}

// Options tune the store.
type Options struct {
	// TracerProvider traces every store call; nil traces nothing.
	TracerProvider trace.TracerProvider
}

// Open opens (creating if needed) the database file at path and applies the
// migrations.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	wdb, err := openDB(path, 1)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, wdb); err != nil {
		_ = wdb.Close()
		return nil, err
	}
	db, err := openDB(path, 8)
	if err != nil {
		_ = wdb.Close()
		return nil, err
	}
	return &Store{sqlstore.New(db, wdb, dialect, opts.TracerProvider)}, nil
}

// Migrate applies the migrations to the database at path and returns.
func Migrate(ctx context.Context, path string) error {
	db, err := openDB(path, 1)
	if err != nil {
		return err
	}
	defer db.Close()
	return migrate(ctx, db)
}

// openDB opens a pool of conns connections.
func openDB(path string, conns int) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening sqlite %s: %w", path, err)
	}
	// The writer pool has one connection; readers run beside it under WAL.
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("reading migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub)
	if err != nil {
		return fmt.Errorf("preparing migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrating invoicing database: %w", err)
	}
	return nil
}

var dialect = sqlstore.Dialect{
	Name:         "sqlite",
	Placeholders: func(q string) string { return q },
	Time:         func(t time.Time) any { return t.UTC().UnixMicro() },
	IsUnique: func(err error) bool {
		var e *sqlite.Error
		return errors.As(err, &e) && (e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
	},
}
