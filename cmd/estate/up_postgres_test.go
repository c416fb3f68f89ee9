package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/pgtest"
	"github.com/estatehq/estate/internal/testenv"
)

// TestUpPostgres runs `estate up --postgres URL` on the test cluster:
// each store without a DSN of its own gets a database PREFIX_STORE,
// created, migrated and written to; a store given its own DSN keeps it.
func TestUpPostgres(t *testing.T) {
	admin := testenv.PostgresDSN(t)
	u, err := url.Parse(admin)
	require.NoError(t, err)
	prefix := fmt.Sprintf("t_up_%d", time.Now().UnixNano()%1e12)
	u.Path = "/" + prefix
	var derived []string
	for _, s := range (&targetConfigs{}).relationalStores(upTargetNames()) {
		derived = append(derived, prefix+"_"+s.name)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		testenv.Missing(t, "PostgreSQL", fmt.Sprintf("cannot connect to %s: %v", testenv.EnvPostgresDSN, err))
	}
	t.Cleanup(func() {
		defer conn.Close(ctx)
		for _, db := range derived {
			if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)"); err != nil {
				t.Logf("dropping %s: %v", db, err)
			}
		}
	})

	// credit keeps the DSN it is given.
	e := startUp(t, "--postgres="+u.String(), "--credit.postgres-dsn="+pgtest.NewDatabase(t))
	tok := e.token(t, "--sub", "pg-owner")
	code, body := e.do(t, http.MethodPost, e.urls["invoicing"]+"/v1/businesses", tok, nil,
		map[string]any{"legal_name": "Postgres Ltd", "country": "GB", "registration_number": "PG1", "billing_email": "pg@example.com"})
	require.Equal(t, http.StatusCreated, code, string(body))

	exists := func(db string) bool {
		var ok bool
		require.NoError(t, conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", db).Scan(&ok))
		return ok
	}
	for _, db := range derived {
		if db == prefix+"_credit" {
			require.False(t, exists(db), "credit has a DSN of its own")
			continue
		}
		require.True(t, exists(db), "no database %s", db)
		dsn := *u
		dsn.Path = "/" + db
		c, err := pgx.Connect(ctx, dsn.String())
		require.NoError(t, err)
		var tables int
		require.NoError(t, c.QueryRow(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')").Scan(&tables))
		require.NoError(t, c.Close(ctx))
		require.Positive(t, tables, "%s is not migrated", db)
	}
}

func TestPostgresPrefix(t *testing.T) {
	tests := []struct {
		url, prefix, err string
	}{
		{url: "postgres://u:p@db:5432/", prefix: "estate"},
		{url: "postgres://u:p@db:5432", prefix: "estate"},
		{url: "postgresql://u@db/acme?sslmode=disable", prefix: "acme"},
		{url: "host=db user=u", err: `must be a URL postgres://USER:PASSWORD@HOST:PORT/PREFIX, not "host=db user=u"`},
		{url: "host=db password=secret", err: `must be a URL postgres://USER:PASSWORD@HOST:PORT/PREFIX, not "(a DSN with a password)"`},
		{url: "postgres:///x", err: `must be a URL postgres://USER:PASSWORD@HOST:PORT/PREFIX, not "postgres:///x"`},
		{url: "postgres://u:secret@db/a/b", err: `the database name "a/b" must be one name of at most 40 bytes: it prefixes each store's database`},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, prefix, err := postgresPrefix(tt.url)
			if tt.err != "" {
				require.EqualError(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.prefix, prefix)
		})
	}
}

// TestUpPostgresUnreachable: a server that does not answer stops `up`
// before any target starts, with the URL without its password.
func TestUpPostgresUnreachable(t *testing.T) {
	_, _, err := runCmd(t, "up", "--data-dir", t.TempDir(), "--postgres", "postgres://u:secret@127.0.0.1:1/acme?connect_timeout=2")
	require.ErrorContains(t, err, "postgres: database acme_invoicing: ")
	require.ErrorContains(t, err, "postgres: connecting to postgres://u:xxxxx@127.0.0.1:1/acme?connect_timeout=2")
	require.NotContains(t, err.Error(), "secret")
}
