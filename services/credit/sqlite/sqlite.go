// Package sqlite is the credit store on SQLite (modernc.org/sqlite, pure
// Go), the embedded default of `estate up`. Transactions start with BEGIN
// IMMEDIATE, so a drawdown's check of the available credit and its write are
// serialized by the database's write lock.
package sqlite

import (
	"context"
	"embed"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/estatehq/estate/internal/sqldb"
	"github.com/estatehq/estate/services/credit/internal/sqlstore"
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
	// Logger receives the migration log; nil discards it.
	Logger *slog.Logger
}

// Open opens (creating if needed) the database file at path and applies the
// migrations.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	// NORMAL, as invoicing's store: a power loss may roll back the last
	// commits, never corrupt the file, and production keeps credit in
	// PostgreSQL.
	// Checkpoints run in the background, not in the commit of a request.
	db, err := sqldb.OpenSQLite(ctx, path, sqldb.SQLiteOptions{Synchronous: sqldb.SyncNormal, ForeignKeys: true,
		Readers: 4, CheckpointInterval: 250 * time.Millisecond, Migrations: sqlstore.Migrations(migrations), Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	s, err := sqlstore.New(ctx, db, opts.TracerProvider)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return &Store{s}, nil
}

// Migrate applies the migrations to the database at path and returns.
func Migrate(ctx context.Context, path string) error {
	s, err := Open(ctx, path, Options{})
	if err != nil {
		return err
	}
	return s.Close()
}
