// Package sqldb opens and migrates the database/sql handles of the services'
// stores: SQLite (modernc.org/sqlite, pure Go) for the embedded default and
// PostgreSQL through pgx for production, with goose migrations embedded in
// each store's adapter.
package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// OpenSQLite opens a pool of conns connections to the database file at
// path (created if missing) in WAL mode, with foreign keys on and every
// transaction started with BEGIN IMMEDIATE, so read-modify-write changes are
// serialized by the database's write lock.
func OpenSQLite(path string, conns int) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening sqlite %s: %w", path, err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

// OpenPostgres opens a pool of at most maxConns connections to dsn; it does
// not connect until used.
func OpenPostgres(dsn string, maxConns int) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parsing postgres dsn: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

// Migrations are a service's embedded migrations.
type Migrations struct {
	FS   fs.FS
	Dir  string // folder of fsys holding the .sql files
	Name string // which database, for errors
}

// OpenMigratedPostgres connects to dsn with a pool of at most maxConns
// connections (10 when not positive), checks that the server answers and
// applies m; the pool is closed again on any failure.
func OpenMigratedPostgres(ctx context.Context, dsn string, maxConns int, m Migrations) (*sql.DB, error) {
	if maxConns <= 0 {
		maxConns = 10
	}
	db, err := OpenPostgres(dsn, maxConns)
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connecting to postgres: %w", err)
	}
	if err := Migrate(ctx, db, goose.DialectPostgres, m.FS, m.Dir, m.Name); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// MigratePostgres applies m to the database at dsn and returns.
func MigratePostgres(ctx context.Context, dsn string, m Migrations) error {
	db, err := OpenMigratedPostgres(ctx, dsn, 1, m)
	if err != nil {
		return err
	}
	return db.Close()
}

// Migrate applies the migrations under dir of fsys to db; name says which
// database, for errors.
func Migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect, fsys fs.FS, dir, name string) error {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		return fmt.Errorf("reading migrations: %w", err)
	}
	p, err := goose.NewProvider(dialect, db, sub)
	if err != nil {
		return fmt.Errorf("preparing migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrating %s database: %w", name, err)
	}
	return nil
}

// Dollar rewrites the ? placeholders of a query as PostgreSQL's $1, $2...;
// the services' queries have no ? inside a string literal.
func Dollar(q string) string {
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// InTx runs fn in a transaction of db, committed when fn returns nil and
// rolled back otherwise; fn's error is returned as is.
func InTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}
