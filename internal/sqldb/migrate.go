package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"regexp"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Migrations are a store's embedded goose migrations.
type Migrations struct {
	// FS holds the .sql files in Dir.
	FS  fs.FS
	Dir string
	// Schema names the store's schema ("invoicing", "metrics"): its
	// version table is Schema_goose_db_version, so stores sharing a
	// database keep their versions apart, and on PostgreSQL the lock
	// serializing its migrations is derived from it (LockID).
	Schema string
	// LegacyTable is the version table an earlier release kept the
	// schema's versions in, renamed to the schema's own when that one does
	// not exist yet; empty when there was none.
	LegacyTable string
	// UpTo stops at that version, for a test that fills a database of an
	// older schema; zero applies every migration.
	UpTo int64
}

// VersionTable is the goose version table of the schema.
func (m Migrations) VersionTable() string { return m.Schema + "_goose_db_version" }

// LockID is the PostgreSQL advisory lock that serializes the migrations of
// the schema: a hash of its name, so that two processes migrating the same
// schema wait for each other while other schemas migrate independently.
func (m Migrations) LockID() int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("estate/" + m.Schema))
	return int64(h.Sum64()) //nolint:gosec // any 64 bits make a lock id
}

var schemaName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Migrate applies m to db: a goose provider of its own (the global
// registry of Go migrations is not read), the schema's version table, and
// on PostgreSQL a session advisory lock held while it runs, so processes
// migrating one database at once take turns and the migrations run once.
// It logs to logger (nil discards). The zero Migrations does nothing.
func Migrate(ctx context.Context, db *sql.DB, d Dialect, m Migrations, logger *slog.Logger) error {
	if m.FS == nil {
		return nil
	}
	if !schemaName.MatchString(m.Schema) {
		return fmt.Errorf("migrations schema %q must be a lowercase identifier", m.Schema)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	gd, err := d.goose()
	if err != nil {
		return err
	}
	sub, err := fs.Sub(m.FS, m.Dir)
	if err != nil {
		return fmt.Errorf("reading %s migrations: %w", m.Schema, err)
	}
	opts := []goose.ProviderOption{
		goose.WithDisableGlobalRegistry(true),
		goose.WithTableName(m.VersionTable()),
		goose.WithSlog(logger.With("schema", m.Schema)),
	}
	if d == Postgres {
		// Retry every second (goose's default is 5s) for up to 5 minutes.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(m.LockID()), lock.WithLockTimeout(1, 300))
		if err != nil {
			return fmt.Errorf("preparing %s migration lock: %w", m.Schema, err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(gd, db, sub, opts...)
	if err != nil {
		return fmt.Errorf("preparing %s migrations: %w", m.Schema, err)
	}
	if m.LegacyTable != "" {
		if err := adoptLegacyTable(ctx, db, d, m); err != nil {
			return fmt.Errorf("adopting %s version table %s: %w", m.Schema, m.LegacyTable, err)
		}
	}
	if t := migrationTraceOf(ctx); t != nil && m.UpTo == 0 {
		if err := upByOne(ctx, p, t); err != nil {
			return fmt.Errorf("migrating %s database: %w", m.Schema, err)
		}
		return nil
	}
	up := p.Up
	if m.UpTo > 0 {
		up = func(ctx context.Context) ([]*goose.MigrationResult, error) { return p.UpTo(ctx, m.UpTo) }
	}
	if _, err := up(ctx); err != nil {
		return fmt.Errorf("migrating %s database: %w", m.Schema, err)
	}
	return nil
}

// MigrationTrace is told how the migrations run under a context that
// carries it (WithMigrationTrace) progress. A context hook, as
// net/http/httptrace's, because the migrations run inside the stores'
// Open, which a command showing progress reaches through a service's
// Migrate(ctx, dsn) and that have no other use for an option of it.
type MigrationTrace struct {
	// Applied is called before the first migration with 0 and after each
	// one with the number applied; total is the number pending when the
	// migrations began.
	Applied func(done, total int)
}

type migrationTraceKey struct{}

// WithMigrationTrace returns a context whose migrations report to t.
func WithMigrationTrace(ctx context.Context, t *MigrationTrace) context.Context {
	return context.WithValue(ctx, migrationTraceKey{}, t)
}

func migrationTraceOf(ctx context.Context) *MigrationTrace {
	t, _ := ctx.Value(migrationTraceKey{}).(*MigrationTrace)
	if t == nil || t.Applied == nil {
		return nil
	}
	return t
}

// upByOne applies the pending migrations one at a time, telling t of each.
// Each holds the lock for itself, so another process may apply one in
// between; goose then finds it applied, and the count stops short.
func upByOne(ctx context.Context, p *goose.Provider, t *MigrationTrace) error {
	status, err := p.Status(ctx)
	if err != nil {
		return err
	}
	total := 0
	for _, s := range status {
		if s.State == goose.StatePending {
			total++
		}
	}
	t.Applied(0, total)
	for done := 1; ; done++ {
		if _, err := p.UpByOne(ctx); err != nil {
			if errors.Is(err, goose.ErrNoNextVersion) {
				return nil
			}
			return err
		}
		t.Applied(min(done, total), total)
	}
}

// adoptLegacyTable renames m.LegacyTable to the schema's version table
// when only the former exists. On PostgreSQL it holds the schema's lock
// for the length of its transaction, so it waits for a migration under way
// and another process adopting at the same moment finds the work done; on
// SQLite the transaction's BEGIN IMMEDIATE does the same.
func adoptLegacyTable(ctx context.Context, db *sql.DB, d Dialect, m Migrations) error {
	if !schemaName.MatchString(m.LegacyTable) {
		return errors.New("the legacy table must be a lowercase identifier")
	}
	exists := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	if d == Postgres {
		exists = `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = $1`
	}
	return InTx(ctx, db, func(tx *sql.Tx) error {
		if d == Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, m.LockID()); err != nil {
				return err
			}
		}
		var legacy, current int
		if err := tx.QueryRowContext(ctx, exists, m.LegacyTable).Scan(&legacy); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, exists, m.VersionTable()).Scan(&current); err != nil {
			return err
		}
		if legacy == 0 || current > 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, `ALTER TABLE `+m.LegacyTable+` RENAME TO `+m.VersionTable())
		return err
	})
}
