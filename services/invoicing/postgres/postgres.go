// Package postgres is the invoicing store on PostgreSQL through pgx, the
// production backend. An invoice is changed under SELECT ... FOR UPDATE, so
// concurrent payments on one invoice are serialized on its row.
package postgres

import (
	"context"
	"embed"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/trace"

	"github.com/estatehq/estate/services/invoicing/internal/sqlstore"
	"github.com/estatehq/estate/services/kit/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the PostgreSQL invoicing store.
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
	return &Store{sqlstore.New(db, db, dialect, opts.TracerProvider)}, nil
}

// Migrate applies the migrations to the database at dsn and returns.
func Migrate(ctx context.Context, dsn string) error {
	return sqldb.MigratePostgres(ctx, dsn, migrationSet)
}

var migrationSet = sqldb.Migrations{FS: migrations, Dir: "migrations", Name: "invoicing"}

var dialect = sqlstore.Dialect{
	Name:         "postgresql",
	Placeholders: sqldb.Dollar,
	ForUpdate:    " FOR UPDATE",
	Time:         func(t time.Time) any { return t.UTC() },
	IsUnique: func(err error) bool {
		var e *pgconn.PgError
		return errors.As(err, &e) && e.Code == "23505"
	},
}
