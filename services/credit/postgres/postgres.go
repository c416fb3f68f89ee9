// Package postgres is the credit store on PostgreSQL through pgx, the
// production backend. A drawdown locks its business's line with SELECT ...
// FOR UPDATE, so concurrent drawdowns never overdraw it.
package postgres

import (
	"context"
	"embed"
	"log/slog"

	"go.opentelemetry.io/otel/trace"

	"github.com/estatehq/estate/internal/sqldb"
	"github.com/estatehq/estate/services/credit/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the PostgreSQL credit store.
type Store struct {
	*sqlstore.Store
}

// Options tune the connection pool.
type Options struct {
	// MaxConns bounds the pool; 10 by default.
	MaxConns int
	// TracerProvider traces every store call; nil traces nothing.
	TracerProvider trace.TracerProvider
	// Logger receives the migration log; nil discards it.
	Logger *slog.Logger
}

// Open connects to dsn and applies the migrations; replicas opening one
// database at once migrate it in turn.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	db, err := sqldb.OpenPostgres(ctx, dsn, sqldb.PostgresOptions{MaxConns: opts.MaxConns,
		Migrations: sqlstore.Migrations(migrations), Logger: opts.Logger})
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

// Migrate applies the migrations to the database at dsn and returns.
func Migrate(ctx context.Context, dsn string) error {
	s, err := Open(ctx, dsn, Options{MaxConns: 1})
	if err != nil {
		return err
	}
	return s.Close()
}
