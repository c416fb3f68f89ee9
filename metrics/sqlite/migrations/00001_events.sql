-- +goose Up
-- The event log. Times are Unix nanoseconds: exact, and the same in every
-- backend. data is the canonical JSON of the event's data. The other
-- columns are copied out of data so that a filtered read can find every
-- event of a service's deployments and incidents.
CREATE TABLE metrics_events (
    id                  TEXT    NOT NULL PRIMARY KEY,
    source              TEXT    NOT NULL,
    type                TEXT    NOT NULL,
    time_ns             INTEGER NOT NULL,
    service             TEXT,
    environment         TEXT,
    deployment_id       TEXT,
    incident_id         TEXT,
    cause_deployment_id TEXT,
    data                TEXT    NOT NULL
);
-- Indexes serve the filtered read (metrics.Store.Events with a service or
-- environment) and nothing else: every one costs each append, and a full
-- read sorts faster than it would maintain a time index.
CREATE INDEX metrics_events_pair ON metrics_events (service, environment) WHERE service IS NOT NULL;
CREATE INDEX metrics_events_deployment ON metrics_events (deployment_id) WHERE deployment_id IS NOT NULL;
CREATE INDEX metrics_events_incident ON metrics_events (incident_id) WHERE incident_id IS NOT NULL;
CREATE INDEX metrics_events_cause ON metrics_events (cause_deployment_id) WHERE cause_deployment_id IS NOT NULL;

-- +goose Down
DROP TABLE metrics_events;
