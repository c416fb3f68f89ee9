// Package sqlite is the credit store on SQLite (modernc.org/sqlite, pure
// Go), the embedded default of `estate up`. Transactions start with BEGIN
// IMMEDIATE, so a drawdown's check of the available credit and its write are
// serialized by the database's write lock.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"

	"github.com/pressly/goose/v3"
	"go.opentelemetry.io/otel/trace"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/estatehq/estate/services/credit/internal/sqlstore"
	"github.com/estatehq/estate/services/kit/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the SQLite credit store.
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
	db, err := openDB(path, 4)
	if err != nil {
		_ = wdb.Close()
		return nil, err
	}
	return &Store{sqlstore.New(db, wdb, dialect(), opts.TracerProvider)}, nil
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

func openDB(path string, conns int) (*sql.DB, error) { return sqldb.OpenSQLite(path, conns) }

func migrate(ctx context.Context, db *sql.DB) error {
	return sqldb.Migrate(ctx, db, goose.DialectSQLite3, migrations, "migrations", "credit")
}

func dialect() sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:   "sqlite",
		Rebind: func(q string) string { return q },
		IsUnique: func(err error) bool {
			var e *sqlite.Error
			return errors.As(err, &e) && (e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
		},
	}
}
