// Package sqlite keeps the metrics event log in an embedded SQLite database
// (modernc.org/sqlite, pure Go): the store of `estate up` on a machine with
// no PostgreSQL. It behaves exactly like the postgres package; both pass
// metricstest.Run.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/estatehq/estate/internal/sqldb"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/internal/sqlevents"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tune Open. The zero value is ready to use.
type Options struct {
	// Logger receives the migration log; nil discards it.
	Logger *slog.Logger
	// BusyTimeout is how long a writer waits for another process's lock;
	// default 10s.
	BusyTimeout time.Duration
}

// readers bounds the read connections: a full read runs side by side on
// up to this many.
const readers = 4

// Store is a metrics.Store in one SQLite file.
type Store struct {
	db *sqldb.DB
}

var _ metrics.Store = (*Store)(nil)

// Open opens (creating if need be) the SQLite database at path and brings
// its schema up to date. The database runs in WAL mode, so readers never
// wait for the writer, and appends queue on one writer connection.
func Open(ctx context.Context, path string, o Options) (*Store, error) {
	db, err := sqldb.OpenSQLite(ctx, path, sqldb.SQLiteOptions{
		// FULL: an append is acknowledged to the sender, which then forgets
		// the event; it must survive a power cut.
		Synchronous: sqldb.SyncFull,
		Readers:     readers,
		BusyTimeout: o.BusyTimeout,
		// A full read of a year of events reads every page.
		MmapSize:   256 << 20,
		Migrations: sqlevents.Migrations(migrations),
		Logger:     o.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("opening sqlite metrics store: %w", err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing sqlite metrics store: %w", err)
	}
	return nil
}

// Append implements metrics.Store.
func (s *Store) Append(ctx context.Context, events []metrics.Event) (int, error) {
	if err := metrics.ValidateAll(events); err != nil {
		return 0, err
	}
	if len(events) == 0 {
		return 0, ctx.Err()
	}
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("appending events: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO metrics_events
		(id, source, type, time_ns, service, environment, deployment_id, incident_id, cause_deployment_id, data)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source, id) DO NOTHING`)
	if err != nil {
		return 0, fmt.Errorf("appending events: %w", err)
	}
	defer stmt.Close()
	added := 0
	for _, e := range events {
		e = e.Normalized()
		data, err := e.DataJSON()
		if err != nil {
			return 0, fmt.Errorf("appending events: %w", err)
		}
		ix := e.Index()
		res, err := stmt.ExecContext(ctx, e.ID, e.Source, string(e.Type()), e.Time.UnixNano(),
			null(ix.Service), null(ix.Environment), null(ix.DeploymentID), null(ix.IncidentID), null(ix.CauseDeploymentID), string(data))
		if err != nil {
			return 0, fmt.Errorf("appending events: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("appending events: %w", err)
		}
		added += int(n)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("appending events: %w", err)
	}
	return added, nil
}

func null(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// knownType returns the Type constant spelt by b without allocating, or b
// as a Type when it is no known type (DecodeData then rejects it).
func knownType(b []byte) metrics.Type {
	for _, t := range metrics.Types() {
		if string(b) == string(t) {
			return t
		}
	}
	return metrics.Type(b)
}

// columns are what a read scans into an event.
const columns = `id, source, type, time_ns, data`

// selectAll lists the whole log. Reads are sorted in Go (metrics.SortEvents):
// sorting a year of rows in the database would spill to temporary files.
const selectAll = `SELECT ` + columns + ` FROM metrics_events`

// Events implements metrics.Store.
func (s *Store) Events(ctx context.Context, f metrics.Filter) ([]metrics.Event, error) {
	var (
		events []metrics.Event
		err    error
	)
	if f == (metrics.Filter{}) {
		events, err = s.all(ctx)
	} else {
		query, args := sqlevents.Filtered(sqldb.SQLite, columns, f)
		events, err = s.query(ctx, query, args...)
	}
	if err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	metrics.SortEvents(events)
	return events, nil
}

// parallelRows is the size of log from which a full read is split.
const parallelRows = 20000

// all reads the whole log, in rowid ranges read side by side on as many
// connections as there are CPUs: decoding a year of events takes several
// hundred milliseconds of CPU, the query itself little. The ranges come
// from one snapshot: rows are only ever appended, with growing rowids, so
// every rowid up to the maximum read first belongs to that snapshot and no
// later row is in any range.
func (s *Store) all(ctx context.Context) ([]metrics.Event, error) {
	var lo, hi sql.NullInt64
	if err := s.db.R.QueryRowContext(ctx, `SELECT min(rowid), max(rowid) FROM metrics_events`).Scan(&lo, &hi); err != nil {
		return nil, err
	}
	if !lo.Valid {
		return []metrics.Event{}, nil
	}
	n := hi.Int64 - lo.Int64 + 1
	parts := int64(min(runtime.GOMAXPROCS(0), readers))
	if n < parallelRows || parts < 2 {
		parts = 1
	}
	results := make([][]metrics.Event, parts)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for p := range parts {
		wg.Go(func() {
			from, to := lo.Int64+n*p/parts, lo.Int64+n*(p+1)/parts
			results[p], errs[p] = s.query(ctx, selectAll+` WHERE rowid >= ? AND rowid < ?`, from, to)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	events := make([]metrics.Event, 0, n)
	for _, r := range results {
		events = append(events, r...)
	}
	return events, nil
}

// query runs a listing query and decodes its rows.
func (s *Store) query(ctx context.Context, query string, args ...any) ([]metrics.Event, error) {
	rows, err := s.db.R.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	events := []metrics.Event{}
	for rows.Next() {
		var (
			e      metrics.Event
			typ    sql.RawBytes
			timeNs int64
			data   sql.RawBytes // decoded before the next row: no copy
		)
		if err := rows.Scan(&e.ID, &e.Source, &typ, &timeNs, &data); err != nil {
			return nil, err
		}
		e.Time = time.Unix(0, timeNs).UTC()
		if e.Data, err = metrics.DecodeData(knownType(typ), data); err != nil {
			return nil, fmt.Errorf("event %q: %w", e.ID, err)
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return events, ctx.Err()
}
