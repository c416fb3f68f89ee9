-- +goose Up
-- Times become timestamptz, as in every PostgreSQL schema of Estate, so a
-- query by time compares instants. timestamptz holds microseconds; the
-- nanoseconds below them go to time_extra_ns (0 to 999), so the event time
-- stays exact: time + time_extra_ns nanoseconds is the old time_ns.
-- time_ns is split with floor division (a time before 1970 has a negative
-- time_ns and still a remainder from 0 to 999), by integer arithmetic only.
ALTER TABLE metrics_events
    ADD COLUMN time          TIMESTAMPTZ,
    ADD COLUMN time_extra_ns SMALLINT;
UPDATE metrics_events SET
    time          = TIMESTAMPTZ 'epoch' + ((time_ns - ((time_ns % 1000) + 1000) % 1000) / 1000) * INTERVAL '1 microsecond',
    time_extra_ns = ((time_ns % 1000) + 1000) % 1000;
ALTER TABLE metrics_events
    ALTER COLUMN time SET NOT NULL,
    ALTER COLUMN time_extra_ns SET NOT NULL,
    ADD CONSTRAINT metrics_events_time_extra_ns CHECK (time_extra_ns BETWEEN 0 AND 999),
    DROP COLUMN time_ns;

-- +goose Down
ALTER TABLE metrics_events ADD COLUMN time_ns BIGINT;
UPDATE metrics_events SET
    time_ns = (EXTRACT(EPOCH FROM time) * 1000000)::BIGINT * 1000 + time_extra_ns;
ALTER TABLE metrics_events
    ALTER COLUMN time_ns SET NOT NULL,
    DROP COLUMN time,
    DROP COLUMN time_extra_ns;
