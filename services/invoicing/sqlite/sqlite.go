// Package sqlite is the invoicing store on SQLite (modernc.org/sqlite, pure
// Go), the embedded default of `estate up`. Every transaction starts with
// BEGIN IMMEDIATE, so read-modify-write changes (payments above all) are
// serialized by the database's write lock.
package sqlite

import (
	"context"
	"embed"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/estatehq/estate/internal/sqldb"
	"github.com/estatehq/estate/services/invoicing/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// checkpointInterval is how often the log is copied into the database
// file: at 2,000 writes a second, a few thousand pages of log each time.
const checkpointInterval = 250 * time.Millisecond

// Store is the SQLite invoicing store.
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
	// NORMAL: SQLite is the store of one machine running `estate up`;
	// production keeps invoices in PostgreSQL. A power loss may roll back
	// the last commits but never corrupts the file, and a crash of the
	// process loses nothing; FULL would put an fsync in every write and cap
	// the write rate far below the API's 2,000 req/s. Checkpoints run in
	// the background, not in the commit of a request.
	db, err := sqldb.OpenSQLite(ctx, path, sqldb.SQLiteOptions{Synchronous: sqldb.SyncNormal, ForeignKeys: true,
		Readers: 8, CheckpointInterval: checkpointInterval, Migrations: sqlstore.Migrations(migrations), Logger: opts.Logger})
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
