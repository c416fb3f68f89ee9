// Package postgres keeps the metrics event log in PostgreSQL (pgx/v5): the
// production store. It behaves exactly like the sqlite package; both pass
// metricstest.Run.
package postgres

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/estatehq/estate/internal/sqldb"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/internal/sqlevents"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tune Open. The zero value is ready to use.
type Options struct {
	// MaxConns bounds the pool; 10 by default.
	MaxConns int
	// Logger receives the migration log; nil discards it.
	Logger *slog.Logger
}

// Store is a metrics.Store in a PostgreSQL database.
type Store struct {
	pool *pgxpool.Pool
}

var _ metrics.Store = (*Store)(nil)

// Open connects to the database at dsn and brings its schema up to date;
// replicas opening one database at once migrate it in turn.
func Open(ctx context.Context, dsn string, o Options) (*Store, error) {
	pool, err := sqldb.OpenPostgresPool(ctx, dsn, sqldb.PostgresOptions{MaxConns: o.MaxConns,
		Migrations: sqlevents.Migrations(migrations), Logger: o.Logger})
	if err != nil {
		return nil, fmt.Errorf("opening postgres metrics store: %w", err)
	}
	return &Store{pool: pool}, nil
}

// Close closes every connection.
func (s *Store) Close() { s.pool.Close() }

// insert appends a whole batch in one statement. ON CONFLICT DO NOTHING
// skips (source, id) pairs already stored, by this statement too (a repeat
// inside the batch), and waits for a concurrent transaction inserting the
// same pair.
// An event's time is time (timestamptz, to the microsecond) plus
// time_extra_ns, the nanoseconds below the microsecond: exact, as in the
// SQLite store.
const insert = `INSERT INTO metrics_events
	(id, source, type, time, time_extra_ns, service, environment, deployment_id, incident_id, cause_deployment_id, data)
SELECT id, source, type, time, time_extra_ns, NULLIF(service, ''), NULLIF(environment, ''), NULLIF(deployment_id, ''),
       NULLIF(incident_id, ''), NULLIF(cause_deployment_id, ''), data
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::smallint[],
            $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
	AS b(id, source, type, time, time_extra_ns, service, environment, deployment_id, incident_id, cause_deployment_id, data)
ON CONFLICT (source, id) DO NOTHING`

// Append implements metrics.Store.
func (s *Store) Append(ctx context.Context, events []metrics.Event) (int, error) {
	if err := metrics.ValidateAll(events); err != nil {
		return 0, err
	}
	if len(events) == 0 {
		return 0, ctx.Err()
	}
	n := len(events)
	var (
		ids, sources, types            = make([]string, n), make([]string, n), make([]string, n)
		times, extraNs                 = make([]time.Time, n), make([]int16, n)
		services, envs, deps, incs, cs = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		datas                          = make([]string, n)
	)
	for i, e := range events {
		e = e.Normalized()
		data, err := e.DataJSON()
		if err != nil {
			return 0, fmt.Errorf("appending events: %w", err)
		}
		ix := e.Index()
		ids[i], sources[i], types[i] = e.ID, e.Source, string(e.Type())
		times[i], extraNs[i] = sqldb.SplitTime(e.Time)
		services[i], envs[i], deps[i], incs[i], cs[i] = ix.Service, ix.Environment, ix.DeploymentID, ix.IncidentID, ix.CauseDeploymentID
		datas[i] = string(data)
	}
	tag, err := s.pool.Exec(ctx, insert, ids, sources, types, times, extraNs, services, envs, deps, incs, cs, datas)
	if err != nil {
		return 0, fmt.Errorf("appending events: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// columns are what a read scans into an event.
const columns = `id, source, type, time, time_extra_ns, data`

const selectAll = `SELECT ` + columns + ` FROM metrics_events`

// Events implements metrics.Store.
func (s *Store) Events(ctx context.Context, f metrics.Filter) ([]metrics.Event, error) {
	query, args := selectAll, []any(nil)
	if f != (metrics.Filter{}) {
		query, args = sqlevents.Filtered(sqldb.Postgres, columns, f)
	}
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	defer rows.Close()
	events := []metrics.Event{}
	for rows.Next() {
		var (
			e       metrics.Event
			typ     string
			at      time.Time
			extraNs int16
			data    []byte
		)
		if err := rows.Scan(&e.ID, &e.Source, &typ, &at, &extraNs, &data); err != nil {
			return nil, fmt.Errorf("listing events: %w", err)
		}
		e.Time = sqldb.JoinTime(at, extraNs)
		if e.Data, err = metrics.DecodeData(metrics.Type(typ), data); err != nil {
			return nil, fmt.Errorf("listing events: event %q: %w", e.ID, err)
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	metrics.SortEvents(events)
	return events, nil
}
