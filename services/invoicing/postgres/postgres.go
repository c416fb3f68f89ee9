// Package postgres is the invoicing store on PostgreSQL through pgx, the
// production backend. An invoice is changed under SELECT ... FOR UPDATE, so
// concurrent payments on one invoice are serialized on its row.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
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
	db, err := openDB(dsn, opts)
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connecting to postgres: %w", err)
	}
	if err := migrate(ctx, db); err != nil {
		_ = db.Close()
		return nil, err
	}
	return &Store{sqlstore.New(db, db, dialect, opts.TracerProvider)}, nil
}

// Migrate applies the migrations to the database at dsn and returns.
func Migrate(ctx context.Context, dsn string) error {
	db, err := openDB(dsn, Options{MaxConns: 1})
	if err != nil {
		return err
	}
	defer db.Close()
	return migrate(ctx, db)
}

func openDB(dsn string, opts Options) (*sql.DB, error) {
	if opts.MaxConns <= 0 {
		opts.MaxConns = 10
	}
	return sqldb.OpenPostgres(dsn, opts.MaxConns)
}

func migrate(ctx context.Context, db *sql.DB) error {
	return sqldb.Migrate(ctx, db, goose.DialectPostgres, migrations, "migrations", "invoicing")
}

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
