//go:build !servicesonly

package main

import (
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/chaos/local"
)

func TestProxiedDSN(t *testing.T) {
	for name, tc := range map[string]struct {
		dsn     string
		proxied bool
	}{
		"url":                   {"postgres://estate:secret@db.internal:6543/estate?sslmode=disable", true},
		"url with tls required": {"postgresql://estate@db.internal/estate?sslmode=require", true},
		"keyword form":          {"host=db.internal port=6543 user=estate dbname=estate sslmode=disable", true},
		"several hosts":         {"postgres://estate@db1.internal:5432,db2.internal:5432/estate", false},
		"a unix socket":         {"host=/var/run/postgresql dbname=estate", false},
		"tls checks the name":   {"postgres://estate@db.internal/estate?sslmode=verify-full", false},
	} {
		t.Run(name, func(t *testing.T) {
			proxies := local.NewProxies()
			defer proxies.Close()
			a := &app{logger: slog.New(slog.DiscardHandler), platformApp: platformApp{proxies: proxies}}
			got, err := a.proxiedDSN("invoicing", tc.dsn)
			require.NoError(t, err)
			if !tc.proxied {
				require.Equal(t, tc.dsn, got)
				require.Empty(t, proxies.Names())
				return
			}
			require.Equal(t, []string{"invoicing/postgres"}, proxies.Names())
			before, err := pgconn.ParseConfig(tc.dsn)
			require.NoError(t, err)
			after, err := pgconn.ParseConfig(got)
			require.NoError(t, err)
			require.Equal(t, "127.0.0.1", after.Host, "dialled through the proxy")
			require.NotEqual(t, before.Port, after.Port)
			require.Equal(t, before.User, after.User)
			require.Equal(t, before.Password, after.Password)
			require.Equal(t, before.Database, after.Database)
			require.Equal(t, before.TLSConfig == nil, after.TLSConfig == nil, "the same TLS")
		})
	}

	a := &app{logger: slog.New(slog.DiscardHandler)}
	got, err := a.proxiedDSN("invoicing", "postgres://db.internal/estate")
	require.NoError(t, err)
	require.Equal(t, "postgres://db.internal/estate", got, "without chaos in the process, nothing is proxied")
}
