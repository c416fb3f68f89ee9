-- +goose Up
-- The schema the store created before it had versioned migrations, kept
-- to the letter. IF NOT EXISTS lets a database created then adopt this
-- version: the migration finds its tables and indexes, creates nothing, and
-- is recorded as applied.
CREATE TABLE IF NOT EXISTS logs (
	id          TEXT PRIMARY KEY,
	ts          INTEGER NOT NULL,
	service     TEXT NOT NULL,
	level       INTEGER NOT NULL,
	severity    INTEGER NOT NULL,
	body        TEXT NOT NULL,
	trace_id    TEXT NOT NULL,
	span_id     TEXT NOT NULL,
	attributes  TEXT NOT NULL,
	resource    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_ts ON logs(ts);
CREATE INDEX IF NOT EXISTS logs_service_ts ON logs(service, ts);
CREATE INDEX IF NOT EXISTS logs_trace ON logs(trace_id) WHERE trace_id != '';
CREATE TABLE IF NOT EXISTS spans (
	trace_id        TEXT NOT NULL,
	span_id         TEXT NOT NULL,
	parent_span_id  TEXT NOT NULL,
	service         TEXT NOT NULL,
	name            TEXT NOT NULL,
	kind            TEXT NOT NULL,
	start           INTEGER NOT NULL,
	end             INTEGER NOT NULL,
	status_code     TEXT NOT NULL,
	status_message  TEXT NOT NULL,
	attributes      TEXT NOT NULL,
	resource        TEXT NOT NULL,
	events          TEXT NOT NULL,
	PRIMARY KEY (trace_id, span_id)
);
CREATE INDEX IF NOT EXISTS spans_start ON spans(start);
CREATE INDEX IF NOT EXISTS spans_service_start ON spans(service, start);
CREATE TABLE IF NOT EXISTS red_spans (
	trace_id  TEXT NOT NULL,
	span_id   TEXT NOT NULL,
	end       INTEGER NOT NULL,
	PRIMARY KEY (trace_id, span_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS red_spans_end ON red_spans(end);
CREATE TABLE IF NOT EXISTS red_minutes (
	minute        INTEGER NOT NULL,
	service       TEXT NOT NULL,
	route         TEXT NOT NULL,
	status_class  TEXT NOT NULL,
	requests      INTEGER NOT NULL,
	errors        INTEGER NOT NULL,
	duration_sum_ns INTEGER NOT NULL,
	duration_max_ns INTEGER NOT NULL,
	PRIMARY KEY (minute, service, route, status_class)
);

-- +goose Down
DROP TABLE red_minutes;
DROP TABLE red_spans;
DROP TABLE spans;
DROP TABLE logs;
