// Package sqlite keeps the chaos controller's runs and journals in an
// embedded SQLite database, the store of `estate up`. It behaves exactly
// like the postgres package; both pass chaostest.Run.
package sqlite

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

// Store is a chaos.Store in one SQLite file.
type Store struct {
	sqlruns.Store
}

// Open opens (creating if need be) the database at path and brings its
// schema up to date.
func Open(ctx context.Context, path string, logger *slog.Logger) (*Store, error) {
	db, err := sqldb.OpenSQLite(ctx, path, sqldb.SQLiteOptions{
		// FULL: a journal is the record of what was done to production;
		// an acknowledged entry must survive a power cut.
		Synchronous: sqldb.SyncFull,
		ForeignKeys: true,
		Migrations:  sqlruns.Migrations(migrations),
		Logger:      logger,
	})
	if err != nil {
		return nil, fmt.Errorf("opening sqlite chaos store: %w", err)
	}
	return &Store{sqlruns.Store{DB: db}}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.DB.Close() }
