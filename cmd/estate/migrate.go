package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/estatehq/estate/internal/progress"
	"github.com/estatehq/estate/internal/sqldb"
)

// migrator applies one service's migrations to PostgreSQL or SQLite.
type migrator struct {
	target   string
	dsn      func(*Config) string
	file     string // SQLite file under the data dir
	postgres func(ctx context.Context, dsn string) error
	sqlite   func(ctx context.Context, path string) error
}

// command is `estate TARGET migrate`: the database the target's options
// name (PostgreSQL when its DSN is set, SQLite under --data-dir otherwise).
func (m migrator) command() command {
	return command{name: "migrate", summary: "apply the " + m.target + " database migrations and exit", run: m.run}
}

func (m migrator) run(ctx context.Context, env *environ, args []string) error {
	name := m.target + " migrate"
	cfg, rest, err := parseConfig(env, name, []string{m.target}, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%s: unexpected argument %q", name, rest[0])
	}
	// The migrations report on stderr as they apply; stdout keeps its one
	// line.
	var p *progress.Reporter
	ctx = sqldb.WithMigrationTrace(ctx, &sqldb.MigrationTrace{Applied: func(done, total int) {
		if p == nil {
			p = progress.New(env.stderr, progress.Options{Description: "migrating " + m.target, Total: int64(total), Unit: "migrations"})
		}
		p.Set(int64(done))
	}})
	defer func() { p.Finish() }()
	if dsn := m.dsn(cfg); dsn != "" {
		if err := m.postgres(ctx, dsn); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "%s database migrated (postgres)\n", m.target)
		return nil
	}
	if err := mkdirData(cfg.DataDir); err != nil {
		return err
	}
	path := filepath.Join(cfg.DataDir, m.file)
	if err := m.sqlite(ctx, path); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "%s database migrated (%s)\n", m.target, path)
	return nil
}
