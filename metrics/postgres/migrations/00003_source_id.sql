-- +goose Up
-- Events are identified by source and id together, as CloudEvents says:
-- two senders may use the same id for different events. Sources compare
-- byte by byte, as ids do.
ALTER TABLE metrics_events
    ALTER COLUMN source TYPE TEXT COLLATE "C",
    DROP CONSTRAINT metrics_events_pkey,
    ADD PRIMARY KEY (source, id);

-- +goose Down
-- Back to one event per id: of the events sharing an id, the first stored
-- is kept.
DELETE FROM metrics_events a USING metrics_events b
WHERE a.id = b.id AND a.ctid > b.ctid;
ALTER TABLE metrics_events
    DROP CONSTRAINT metrics_events_pkey,
    ADD PRIMARY KEY (id),
    ALTER COLUMN source TYPE TEXT;
