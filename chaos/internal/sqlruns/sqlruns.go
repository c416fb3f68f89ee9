// Package sqlruns is the chaos run store in SQL, written once for both
// backends (chaos/sqlite and chaos/postgres open the database and embed
// their own migrations): each query is written with ? placeholders, which
// the backend's sqldb.Dialect adapts.
package sqlruns

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/estatehq/estate/chaos"
	"github.com/estatehq/estate/internal/sqldb"
)

// Migrations are a store's migrations in fsys's migrations folder,
// versioned in chaos_goose_db_version.
func Migrations(fsys fs.FS) sqldb.Migrations {
	return sqldb.Migrations{FS: fsys, Dir: "migrations", Schema: "chaos"}
}

// Store is a chaos.Store over a sqldb.DB.
type Store struct {
	DB *sqldb.DB
}

var _ chaos.Store = (*Store)(nil)

func (s *Store) q(query string) string { return s.DB.Dialect.Rebind(query) }

func nullString(v string) sql.NullString { return sql.NullString{String: v, Valid: v != ""} }

// CreateRun implements chaos.Store.
func (s *Store) CreateRun(ctx context.Context, r chaos.Run) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding run: %w", err)
	}
	_, err = s.DB.W.ExecContext(ctx, s.q(`INSERT INTO chaos_runs (id, parent_id, state, created_at, data) VALUES (?, ?, ?, ?, ?)`),
		r.ID, nullString(r.ParentID), string(r.State), s.DB.Dialect.Time(r.CreatedAt), string(data))
	if s.DB.Dialect.IsUnique(err) {
		return chaos.Errorf(chaos.ECONFLICT, "a run with the id %s exists", r.ID)
	}
	if err != nil {
		return fmt.Errorf("creating run: %w", err)
	}
	return nil
}

// UpdateRun implements chaos.Store.
func (s *Store) UpdateRun(ctx context.Context, r chaos.Run) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding run: %w", err)
	}
	res, err := s.DB.W.ExecContext(ctx, s.q(`UPDATE chaos_runs SET state = ?, data = ? WHERE id = ?`), string(r.State), string(data), r.ID)
	if err != nil {
		return fmt.Errorf("updating run: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("updating run: %w", err)
	} else if n == 0 {
		return chaos.ErrNotFound
	}
	return nil
}

// Run implements chaos.Store.
func (s *Store) Run(ctx context.Context, id string) (chaos.Run, error) {
	var data string
	err := s.DB.R.QueryRowContext(ctx, s.q(`SELECT data FROM chaos_runs WHERE id = ?`), id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return chaos.Run{}, chaos.ErrNotFound
	}
	if err != nil {
		return chaos.Run{}, fmt.Errorf("reading run: %w", err)
	}
	return decodeRun(data)
}

func decodeRun(data string) (chaos.Run, error) {
	var r chaos.Run
	if err := json.Unmarshal([]byte(data), &r); err != nil {
		return chaos.Run{}, fmt.Errorf("decoding run: %w", err)
	}
	return r, nil
}

// Runs implements chaos.Store.
func (s *Store) Runs(ctx context.Context, f chaos.RunFilter) ([]chaos.Run, error) {
	var (
		where []string
		args  []any
	)
	if len(f.States) > 0 {
		where = append(where, "state IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(f.States)), ", ")+")")
		for _, st := range f.States {
			args = append(args, string(st))
		}
	}
	if f.ParentID != "" {
		where = append(where, "parent_id = ?")
		args = append(args, f.ParentID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	query := `SELECT data FROM chaos_runs`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += fmt.Sprintf(" ORDER BY created_at DESC, id DESC LIMIT %d", limit)
	rows, err := s.DB.R.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("listing runs: %w", err)
	}
	defer rows.Close()
	out := []chaos.Run{}
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, fmt.Errorf("listing runs: %w", err)
		}
		r, err := decodeRun(data)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing runs: %w", err)
	}
	return out, nil
}

// Append implements chaos.Store. The run's row is locked first, so that
// two appends to one run never take the same number.
func (s *Store) Append(ctx context.Context, runID string, e chaos.Entry) (int, error) {
	var seq int
	err := s.DB.InTx(ctx, func(tx *sql.Tx) error {
		var id string
		err := tx.QueryRowContext(ctx, s.q(`SELECT id FROM chaos_runs WHERE id = ?`+s.DB.Dialect.ForUpdate()), runID).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return chaos.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("journaling: %w", err)
		}
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COALESCE(MAX(seq), 0) + 1 FROM chaos_journal WHERE run_id = ?`), runID).Scan(&seq); err != nil {
			return fmt.Errorf("journaling: %w", err)
		}
		e.Seq = seq
		data, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encoding entry: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO chaos_journal (run_id, seq, data) VALUES (?, ?, ?)`), runID, seq, string(data)); err != nil {
			return fmt.Errorf("journaling: %w", err)
		}
		return nil
	})
	return seq, err
}

// Journal implements chaos.Store.
func (s *Store) Journal(ctx context.Context, runID string, after int) ([]chaos.Entry, error) {
	rows, err := s.DB.R.QueryContext(ctx, s.q(`SELECT data FROM chaos_journal WHERE run_id = ? AND seq > ? ORDER BY seq`), runID, after)
	if err != nil {
		return nil, fmt.Errorf("reading journal: %w", err)
	}
	defer rows.Close()
	out := []chaos.Entry{}
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, fmt.Errorf("reading journal: %w", err)
		}
		var e chaos.Entry
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			return nil, fmt.Errorf("decoding entry: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading journal: %w", err)
	}
	return out, nil
}

// SetHalted implements chaos.Store.
func (s *Store) SetHalted(ctx context.Context, halted bool, reason string) error {
	h := 0
	if halted {
		h = 1
	}
	if _, err := s.DB.W.ExecContext(ctx, s.q(`UPDATE chaos_switch SET halted = ?, reason = ? WHERE id = 1`), h, reason); err != nil {
		return fmt.Errorf("setting the kill switch: %w", err)
	}
	return nil
}

// Halted implements chaos.Store.
func (s *Store) Halted(ctx context.Context) (bool, string, error) {
	var (
		h      int
		reason string
	)
	if err := s.DB.R.QueryRowContext(ctx, `SELECT halted, reason FROM chaos_switch WHERE id = 1`).Scan(&h, &reason); err != nil {
		return false, "", fmt.Errorf("reading the kill switch: %w", err)
	}
	return h == 1, reason, nil
}
