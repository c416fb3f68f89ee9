-- +goose Up
CREATE TABLE applications (
    id              TEXT PRIMARY KEY,
    business_id     TEXT NOT NULL,
    requested_limit INTEGER NOT NULL,
    currency        TEXT NOT NULL,
    status          TEXT NOT NULL,
    approved_limit  INTEGER NOT NULL,
    reasons         TEXT NOT NULL,
    decided_at      INTEGER NOT NULL
);
CREATE INDEX applications_business ON applications (business_id, decided_at);

CREATE TABLE lines (
    business_id  TEXT PRIMARY KEY,
    currency     TEXT NOT NULL,
    credit_limit INTEGER NOT NULL,
    drawn        INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE TABLE drawdowns (
    id          TEXT PRIMARY KEY,
    business_id TEXT NOT NULL REFERENCES lines (business_id),
    -- One drawdown per invoice, ever: an invoice is financed once.
    invoice_id  TEXT NOT NULL UNIQUE,
    amount      INTEGER NOT NULL,
    currency    TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    settled_at  INTEGER,
    checked_at  INTEGER NOT NULL
);
CREATE INDEX drawdowns_business ON drawdowns (business_id, created_at, id);
CREATE INDEX drawdowns_active_checked ON drawdowns (status, checked_at);

-- Ids of the events already handled (invoice.paid deliveries and reconcile
-- passes), so a delivery repeated changes nothing.
CREATE TABLE handled_events (
    id         TEXT PRIMARY KEY,
    handled_at INTEGER NOT NULL
);

CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL,
    header       TEXT NOT NULL,
    body         BLOB,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE handled_events;
DROP TABLE drawdowns;
DROP TABLE lines;
DROP TABLE applications;
