-- +goose Up
-- Currency codes are kept in upper case, as ISO 4217 writes them.
UPDATE invoices SET currency = UPPER(currency);

-- Who vouches for each payment. Every payment recorded before was recorded
-- by the invoice's issuer.
ALTER TABLE payments ADD COLUMN provenance TEXT NOT NULL DEFAULT 'issuer_recorded'
    CHECK (provenance IN ('issuer_recorded', 'customer_confirmed', 'provider_reported'));
ALTER TABLE payments ADD COLUMN confirmed_at INTEGER;
-- A payment provider's id of the payment it reported, recorded once.
ALTER TABLE payments ADD COLUMN provider_payment_id TEXT;
CREATE UNIQUE INDEX payments_provider ON payments (provider_payment_id) WHERE provider_payment_id IS NOT NULL;

-- The amount paid of an invoice split by provenance; the three sum to
-- amount_paid.
ALTER TABLE invoices ADD COLUMN paid_issuer_recorded INTEGER NOT NULL DEFAULT 0 CHECK (paid_issuer_recorded >= 0);
ALTER TABLE invoices ADD COLUMN paid_customer_confirmed INTEGER NOT NULL DEFAULT 0 CHECK (paid_customer_confirmed >= 0);
ALTER TABLE invoices ADD COLUMN paid_provider_reported INTEGER NOT NULL DEFAULT 0 CHECK (paid_provider_reported >= 0);
UPDATE invoices SET paid_issuer_recorded = amount_paid;

-- The credit drawdown that finances the invoice while it is outstanding.
ALTER TABLE invoices ADD COLUMN financed_by TEXT;

-- +goose Down
ALTER TABLE invoices DROP COLUMN financed_by;
ALTER TABLE invoices DROP COLUMN paid_provider_reported;
ALTER TABLE invoices DROP COLUMN paid_customer_confirmed;
ALTER TABLE invoices DROP COLUMN paid_issuer_recorded;
DROP INDEX payments_provider;
ALTER TABLE payments DROP COLUMN provider_payment_id;
ALTER TABLE payments DROP COLUMN confirmed_at;
ALTER TABLE payments DROP COLUMN provenance;
UPDATE invoices SET currency = LOWER(currency);
