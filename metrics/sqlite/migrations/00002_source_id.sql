-- +goose Up
-- Events are identified by source and id together, as CloudEvents says:
-- two senders may use the same id for different events. SQLite cannot
-- change a primary key in place, so the table is rebuilt, in rowid order
-- (a full read splits the log by rowid).
CREATE TABLE metrics_events_new (
    id                  TEXT    NOT NULL,
    source              TEXT    NOT NULL,
    type                TEXT    NOT NULL,
    time_ns             INTEGER NOT NULL,
    service             TEXT,
    environment         TEXT,
    deployment_id       TEXT,
    incident_id         TEXT,
    cause_deployment_id TEXT,
    data                TEXT    NOT NULL,
    PRIMARY KEY (source, id)
);
INSERT INTO metrics_events_new
    (rowid, id, source, type, time_ns, service, environment, deployment_id, incident_id, cause_deployment_id, data)
SELECT rowid, id, source, type, time_ns, service, environment, deployment_id, incident_id, cause_deployment_id, data
FROM metrics_events ORDER BY rowid;
DROP TABLE metrics_events;
ALTER TABLE metrics_events_new RENAME TO metrics_events;
CREATE INDEX metrics_events_pair ON metrics_events (service, environment) WHERE service IS NOT NULL;
CREATE INDEX metrics_events_deployment ON metrics_events (deployment_id) WHERE deployment_id IS NOT NULL;
CREATE INDEX metrics_events_incident ON metrics_events (incident_id) WHERE incident_id IS NOT NULL;
CREATE INDEX metrics_events_cause ON metrics_events (cause_deployment_id) WHERE cause_deployment_id IS NOT NULL;

-- +goose Down
-- Back to one event per id: of the events sharing an id, the first stored
-- is kept.
CREATE TABLE metrics_events_old (
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
INSERT OR IGNORE INTO metrics_events_old
    (rowid, id, source, type, time_ns, service, environment, deployment_id, incident_id, cause_deployment_id, data)
SELECT rowid, id, source, type, time_ns, service, environment, deployment_id, incident_id, cause_deployment_id, data
FROM metrics_events ORDER BY rowid;
DROP TABLE metrics_events;
ALTER TABLE metrics_events_old RENAME TO metrics_events;
CREATE INDEX metrics_events_pair ON metrics_events (service, environment) WHERE service IS NOT NULL;
CREATE INDEX metrics_events_deployment ON metrics_events (deployment_id) WHERE deployment_id IS NOT NULL;
CREATE INDEX metrics_events_incident ON metrics_events (incident_id) WHERE incident_id IS NOT NULL;
CREATE INDEX metrics_events_cause ON metrics_events (cause_deployment_id) WHERE cause_deployment_id IS NOT NULL;
