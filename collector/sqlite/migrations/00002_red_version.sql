-- +goose Up
-- RED rollups are kept per version of a service too (the resource's
-- service.version), so a canary's requests can be read apart from the
-- stable version's in the same window. Rows from before have no version:
-- ''. SQLite cannot change a primary key in place, so the table is rebuilt.
CREATE TABLE red_minutes_new (
	minute        INTEGER NOT NULL,
	service       TEXT NOT NULL,
	route         TEXT NOT NULL,
	status_class  TEXT NOT NULL,
	version       TEXT NOT NULL DEFAULT '',
	requests      INTEGER NOT NULL,
	errors        INTEGER NOT NULL,
	duration_sum_ns INTEGER NOT NULL,
	duration_max_ns INTEGER NOT NULL,
	PRIMARY KEY (minute, service, route, status_class, version)
);
INSERT INTO red_minutes_new
	(minute, service, route, status_class, requests, errors, duration_sum_ns, duration_max_ns)
SELECT minute, service, route, status_class, requests, errors, duration_sum_ns, duration_max_ns
FROM red_minutes;
DROP TABLE red_minutes;
ALTER TABLE red_minutes_new RENAME TO red_minutes;

-- +goose Down
-- Back to one row per (minute, service, route, status class): the
-- versions' rows are added up.
CREATE TABLE red_minutes_old (
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
INSERT INTO red_minutes_old
	(minute, service, route, status_class, requests, errors, duration_sum_ns, duration_max_ns)
SELECT minute, service, route, status_class, sum(requests), sum(errors), sum(duration_sum_ns), max(duration_max_ns)
FROM red_minutes GROUP BY minute, service, route, status_class;
DROP TABLE red_minutes;
ALTER TABLE red_minutes_old RENAME TO red_minutes;
