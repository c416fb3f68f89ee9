-- +goose Up
-- Chaos runs and their journals. A run's record is its JSON (data); the
-- columns beside it are what runs are listed by. Times are Unix
-- microseconds (sqldb's SQLite dialect).
CREATE TABLE chaos_runs (
    id         TEXT    NOT NULL PRIMARY KEY,
    parent_id  TEXT,
    state      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    data       TEXT    NOT NULL
);
CREATE INDEX chaos_runs_state ON chaos_runs (state, created_at);
CREATE INDEX chaos_runs_parent ON chaos_runs (parent_id, created_at);
CREATE TABLE chaos_journal (
    run_id TEXT    NOT NULL REFERENCES chaos_runs (id),
    seq    INTEGER NOT NULL,
    data   TEXT    NOT NULL,
    PRIMARY KEY (run_id, seq)
);
-- One row: the kill switch.
CREATE TABLE chaos_switch (
    id     INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    halted INTEGER NOT NULL,
    reason TEXT    NOT NULL
);
INSERT INTO chaos_switch (id, halted, reason) VALUES (1, 0, '');

-- +goose Down
DROP TABLE chaos_switch;
DROP TABLE chaos_journal;
DROP TABLE chaos_runs;
