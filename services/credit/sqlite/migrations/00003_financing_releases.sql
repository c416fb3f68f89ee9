-- +goose Up
-- Currency codes are kept in upper case, as ISO 4217 writes them.
UPDATE applications SET currency = UPPER(currency);
UPDATE lines SET currency = UPPER(currency);
UPDATE drawdowns SET currency = UPPER(currency);

-- The financing holds the credit service owes the invoicing service to
-- release: owed before a hold is asked for (forgotten in the transaction
-- that writes its drawdown) and when a drawdown is settled; forgotten once
-- the invoicing service confirms the release.
CREATE TABLE releases (
    drawdown_id TEXT PRIMARY KEY,
    business_id TEXT NOT NULL,
    invoice_id  TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX releases_created ON releases (created_at);

-- +goose Down
DROP TABLE releases;
UPDATE drawdowns SET currency = LOWER(currency);
UPDATE lines SET currency = LOWER(currency);
UPDATE applications SET currency = LOWER(currency);
