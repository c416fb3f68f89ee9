-- +goose Up
-- Times become timestamptz, as in every PostgreSQL schema of Estate. They
-- were Unix microseconds (BIGINT), which timestamptz holds exactly: each
-- value converts by integer arithmetic, with no rounding through seconds.
ALTER TABLE applications
    ALTER COLUMN decided_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + decided_at * INTERVAL '1 microsecond';
ALTER TABLE lines
    ALTER COLUMN updated_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + updated_at * INTERVAL '1 microsecond';
ALTER TABLE drawdowns
    ALTER COLUMN created_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 microsecond',
    ALTER COLUMN settled_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + settled_at * INTERVAL '1 microsecond',
    ALTER COLUMN checked_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + checked_at * INTERVAL '1 microsecond';
ALTER TABLE handled_events
    ALTER COLUMN handled_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + handled_at * INTERVAL '1 microsecond';
ALTER TABLE idempotency_keys
    ALTER COLUMN created_at TYPE TIMESTAMPTZ USING TIMESTAMPTZ 'epoch' + created_at * INTERVAL '1 microsecond';

-- +goose Down
ALTER TABLE idempotency_keys
    ALTER COLUMN created_at TYPE BIGINT USING (EXTRACT(EPOCH FROM created_at) * 1000000)::BIGINT;
ALTER TABLE handled_events
    ALTER COLUMN handled_at TYPE BIGINT USING (EXTRACT(EPOCH FROM handled_at) * 1000000)::BIGINT;
ALTER TABLE drawdowns
    ALTER COLUMN created_at TYPE BIGINT USING (EXTRACT(EPOCH FROM created_at) * 1000000)::BIGINT,
    ALTER COLUMN settled_at TYPE BIGINT USING (EXTRACT(EPOCH FROM settled_at) * 1000000)::BIGINT,
    ALTER COLUMN checked_at TYPE BIGINT USING (EXTRACT(EPOCH FROM checked_at) * 1000000)::BIGINT;
ALTER TABLE lines
    ALTER COLUMN updated_at TYPE BIGINT USING (EXTRACT(EPOCH FROM updated_at) * 1000000)::BIGINT;
ALTER TABLE applications
    ALTER COLUMN decided_at TYPE BIGINT USING (EXTRACT(EPOCH FROM decided_at) * 1000000)::BIGINT;
