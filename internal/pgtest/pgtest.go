// Package pgtest gives each test a fresh database of its own on the throwaway
// PostgreSQL cluster that `make test` starts, and drops it afterwards.
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/estatehq/estate/internal/testenv"
)

var seq atomic.Int64

// NewDatabase creates an empty database for t and returns its DSN. Without a
// cluster it skips t, or fails it in strict mode.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := testenv.PostgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		testenv.Missing(t, "PostgreSQL", fmt.Sprintf("cannot connect to %s: %v", testenv.EnvPostgresDSN, err))
		return ""
	}
	defer conn.Close(ctx)

	name := fmt.Sprintf("t_%s_%d_%d", trim(testenv.SanitizeName(t.Name()), 30), time.Now().UnixNano()%1e9, seq.Add(1))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Logf("dropping test database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("dropping test database %s: %v", name, err)
		}
	})

	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parsing %s: %v", testenv.EnvPostgresDSN, err)
	}
	u.Path = "/" + name
	return u.String()
}

func trim(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
