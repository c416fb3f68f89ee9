package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgresOptions are how a store connects to PostgreSQL.
type PostgresOptions struct {
	// MaxConns bounds the pool; 10 when not positive.
	MaxConns int
	// Migrations are applied before the pool is returned; the zero
	// Migrations applies none.
	Migrations Migrations
	// Logger receives the migration log; nil discards it.
	Logger *slog.Logger
}

func (o PostgresOptions) maxConns() int {
	if o.MaxConns <= 0 {
		return 10
	}
	return o.MaxConns
}

// The two ways to reach PostgreSQL serve two kinds of store, and each keeps
// the behaviour and speed it was measured with:
//
//   - OpenPostgres gives database/sql over pgx's stdlib driver with
//     database/sql's own pool, for the stores whose SQL is shared with
//     SQLite (invoicing, credit). database/sql keeps its idle connections,
//     and with them the statements prepared on each: the invoicing store
//     prepares its queries once per connection. (A *sql.DB over a pgxpool,
//     stdlib.OpenDBFromPool, keeps no idle connection, so every query would
//     prepare its statement again.)
//   - OpenPostgresPool gives a pgxpool.Pool, for a store written for
//     PostgreSQL alone (metrics): pgx's native interface sends a whole batch
//     as arrays in one statement (unnest) and scans without database/sql's
//     conversions.
//
// Both parse the DSN with pgxpool.ParseConfig, size the pool from
// MaxConns, check the server answers and migrate through the same locked
// migrator.

// OpenPostgres connects to dsn and applies o.Migrations; the pool is closed
// again on any failure.
func OpenPostgres(ctx context.Context, dsn string, o PostgresOptions) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parsing postgres dsn: %w", err)
	}
	db := stdlib.OpenDB(*cfg.ConnConfig)
	db.SetMaxOpenConns(o.maxConns())
	db.SetMaxIdleConns(o.maxConns())
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := pingAndMigrate(ctx, db, o); err != nil {
		_ = db.Close()
		return nil, err
	}
	return &DB{R: db, W: db, Dialect: Postgres}, nil
}

// OpenPostgresPool connects a pgxpool to dsn and applies o.Migrations; the
// pool is closed again on any failure.
func OpenPostgresPool(ctx context.Context, dsn string, o PostgresOptions) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parsing postgres dsn: %w", err)
	}
	cfg.MaxConns = int32(o.maxConns()) //nolint:gosec // a pool size
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to postgres: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	err = pingAndMigrate(ctx, db, o)
	err = errors.Join(err, db.Close()) // does not close the pool
	if err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

func pingAndMigrate(ctx context.Context, db *sql.DB, o PostgresOptions) error {
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("connecting to postgres: %w", err)
	}
	return Migrate(ctx, db, Postgres, o.Migrations, o.Logger)
}
