// Package postgres is the credit store on PostgreSQL through pgx, the
// production backend. A drawdown locks its business's line with SELECT ...
// FOR UPDATE, so concurrent drawdowns never overdraw it.
package postgres

import (
	"context"
	"embed"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/trace"

	"github.com/estatehq/estate/services/credit/internal/sqlstore"
	"github.com/estatehq/estate/services/kit/sqldb"
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
}

// Open connects to dsn and applies the migrations.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	db, err := sqldb.OpenMigratedPostgres(ctx, dsn, opts.MaxConns, migrationSet)
	if err != nil {
		return nil, err
	}
	return &Store{sqlstore.New(db, db, dialect(), opts.TracerProvider)}, nil
}

// Migrate applies the migrations to the database at dsn and returns.
func Migrate(ctx context.Context, dsn string) error {
	return sqldb.MigratePostgres(ctx, dsn, migrationSet)
}

var migrationSet = sqldb.Migrations{FS: migrations, Dir: "migrations", Name: "credit"}

func dialect() sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:      "postgresql",
		Rebind:    sqldb.Dollar,
		ForUpdate: " FOR UPDATE",
		IsUnique: func(err error) bool {
			var e *pgconn.PgError
			return errors.As(err, &e) && e.Code == "23505"
		},
	}
}
