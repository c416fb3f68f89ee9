// Package postgres keeps the chaos controller's runs and journals in
// PostgreSQL, when the chaos target is given a DSN. It behaves exactly
// like the sqlite package; both pass chaostest.Run.
package postgres

import (
	"context"
	"embed"
	"fmt"
	"log/slog"

	"github.com/estatehq/estate/chaos/internal/sqlruns"
	"github.com/estatehq/estate/internal/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a chaos.Store in PostgreSQL.
type Store struct {
	sqlruns.Store
}

// Open connects to dsn and brings the schema up to date.
func Open(ctx context.Context, dsn string, logger *slog.Logger) (*Store, error) {
	db, err := sqldb.OpenPostgres(ctx, dsn, sqldb.PostgresOptions{MaxConns: 4, Migrations: sqlruns.Migrations(migrations), Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("opening postgres chaos store: %w", err)
	}
	return &Store{sqlruns.Store{DB: db}}, nil
}

// Close closes the pool.
func (s *Store) Close() error { return s.DB.Close() }
