package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// upConfig holds the options of `estate up` alone.
type upConfig struct {
	// Postgres is the URL of a PostgreSQL server that holds every
	// relational store of `up`, one database each (postgresDatabases).
	Postgres string `yaml:"postgres"`
	// demoOptions are those of --demo, in the builds that have it.
	demoOptions `yaml:",inline"`
}

func (c *upConfig) registerFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Postgres, "postgres", "", "PostgreSQL server URL (postgres://USER:PASSWORD@HOST:PORT/PREFIX) for every relational store, "+
		"each in a database PREFIX_STORE created if missing ("+strings.Join(storeNames(), ", ")+"; PREFIX defaults to estate); "+
		"a store's own *.postgres-dsn wins; empty keeps them in SQLite under --data-dir")
	c.demoOptions.registerFlags(fs)
}

func (c *upConfig) validate() error {
	var errs []error
	if c.Postgres != "" {
		if _, _, err := postgresPrefix(c.Postgres); err != nil {
			errs = append(errs, fmt.Errorf("postgres: %w", err))
		}
	}
	return errors.Join(append(errs, c.demoOptions.validate())...)
}

// relationalStore is one store that `up --postgres` places: its name
// (the suffix of its database) and its DSN option.
type relationalStore struct {
	name string
	dsn  *string
}

// relationalStores lists the stores of the named targets.
func (c *targetConfigs) relationalStores(targetNames []string) []relationalStore {
	var out []relationalStore
	if slices.Contains(targetNames, "invoicing") {
		out = append(out, relationalStore{"invoicing", &c.Invoicing.PostgresDSN})
	}
	if slices.Contains(targetNames, "credit") {
		out = append(out, relationalStore{"credit", &c.Credit.PostgresDSN})
	}
	return append(out, c.platformConfigs.relationalStores(targetNames)...)
}

// storeNames names every store of `up` in this build, for --help.
func storeNames() []string {
	var c targetConfigs
	var out []string
	for _, s := range c.relationalStores(upTargetNames()) {
		out = append(out, "PREFIX_"+s.name)
	}
	return out
}

// upTargetNames lists every target, which `up` runs.
func upTargetNames() []string {
	var out []string
	for _, t := range targets() {
		out = append(out, t.name)
	}
	return out
}

// postgresPrefix reads a --postgres URL: the URL without its database,
// and the prefix of the stores' databases (the database it names, or
// estate).
func postgresPrefix(raw string) (*url.URL, string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return nil, "", fmt.Errorf("must be a URL postgres://USER:PASSWORD@HOST:PORT/PREFIX, not %q", redactURL(raw))
	}
	prefix := strings.Trim(u.Path, "/")
	if prefix == "" {
		prefix = "estate"
	}
	if strings.ContainsAny(prefix, "/\x00") || len(prefix) > 40 {
		return nil, "", fmt.Errorf("the database name %q must be one name of at most 40 bytes: it prefixes each store's database", prefix)
	}
	return u, prefix, nil
}

// redactURL hides a URL's password, for error messages; a keyword DSN
// that may hold one is not shown.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		return u.Redacted()
	}
	if strings.Contains(strings.ToLower(raw), "password") {
		return "(a DSN with a password)"
	}
	return raw
}

// applyPostgres gives every store of targetNames that has no DSN of its
// own a database on the --postgres server, created if missing.
func (c *Config) applyPostgres(ctx context.Context, targetNames []string) error {
	if c.Up.Postgres == "" {
		return nil
	}
	base, prefix, err := postgresPrefix(c.Up.Postgres)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	var missing []relationalStore
	for _, s := range c.relationalStores(targetNames) {
		if *s.dsn == "" {
			missing = append(missing, s)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	dsn := func(name string) string {
		u := *base
		u.Path = "/" + name
		return u.String()
	}
	conn, err := connectMaintenance(ctx, base)
	if err != nil {
		// A user who may not create databases may still have been given
		// them.
		if errExist := databasesExist(ctx, missing, prefix, dsn); errExist != nil {
			return errors.Join(err, errExist)
		}
	} else {
		defer conn.Close(context.WithoutCancel(ctx))
		for _, s := range missing {
			if err := createDatabase(ctx, conn, prefix+"_"+s.name); err != nil {
				return fmt.Errorf("postgres: creating database %s: %w", prefix+"_"+s.name, err)
			}
		}
	}
	for _, s := range missing {
		*s.dsn = dsn(prefix + "_" + s.name)
	}
	return nil
}

// databasesExist checks that each store's database can be connected to.
func databasesExist(ctx context.Context, stores []relationalStore, prefix string, dsn func(string) string) error {
	for _, s := range stores {
		c, err := pgx.Connect(ctx, dsn(prefix+"_"+s.name))
		if err != nil {
			return fmt.Errorf("postgres: database %s: %w", prefix+"_"+s.name, err)
		}
		_ = c.Close(ctx)
	}
	return nil
}

// connectMaintenance connects to the server's maintenance database
// (postgres, else template1), from which databases are created.
func connectMaintenance(ctx context.Context, base *url.URL) (*pgx.Conn, error) {
	var errs []error
	for _, db := range []string{"postgres", "template1"} {
		u := *base
		u.Path = "/" + db
		conn, err := pgx.Connect(ctx, u.String())
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("postgres: connecting to %s: %w", base.Redacted(), errors.Join(errs...))
}

// createDatabase creates the database name unless it exists.
func createDatabase(ctx context.Context, conn *pgx.Conn, name string) error {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: created meanwhile
		return nil
	}
	return err
}
