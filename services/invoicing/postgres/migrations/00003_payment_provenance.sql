-- +goose Up
-- Currency codes are kept in upper case, as ISO 4217 writes them.
UPDATE invoices SET currency = UPPER(currency);

-- Who vouches for each payment. Every payment recorded before was recorded
-- by the invoice's issuer.
ALTER TABLE payments
    ADD COLUMN provenance TEXT NOT NULL DEFAULT 'issuer_recorded'
        CHECK (provenance IN ('issuer_recorded', 'customer_confirmed', 'provider_reported')),
    ADD COLUMN confirmed_at TIMESTAMPTZ,
    -- A payment provider's id of the payment it reported, recorded once.
    ADD COLUMN provider_payment_id TEXT;
CREATE UNIQUE INDEX payments_provider ON payments (provider_payment_id) WHERE provider_payment_id IS NOT NULL;

-- The amount paid of an invoice split by provenance; the three sum to
-- amount_paid.
ALTER TABLE invoices
    ADD COLUMN paid_issuer_recorded BIGINT NOT NULL DEFAULT 0 CHECK (paid_issuer_recorded >= 0),
    ADD COLUMN paid_customer_confirmed BIGINT NOT NULL DEFAULT 0 CHECK (paid_customer_confirmed >= 0),
    ADD COLUMN paid_provider_reported BIGINT NOT NULL DEFAULT 0 CHECK (paid_provider_reported >= 0),
    -- The credit drawdown that finances the invoice while it is outstanding.
    ADD COLUMN financed_by TEXT;
UPDATE invoices SET paid_issuer_recorded = amount_paid;
ALTER TABLE invoices ADD CONSTRAINT invoices_paid_by_provenance
    CHECK (paid_issuer_recorded + paid_customer_confirmed + paid_provider_reported = amount_paid);

-- +goose Down
ALTER TABLE invoices
    DROP CONSTRAINT invoices_paid_by_provenance,
    DROP COLUMN financed_by,
    DROP COLUMN paid_provider_reported,
    DROP COLUMN paid_customer_confirmed,
    DROP COLUMN paid_issuer_recorded;
DROP INDEX payments_provider;
ALTER TABLE payments
    DROP COLUMN provider_payment_id,
    DROP COLUMN confirmed_at,
    DROP COLUMN provenance;
UPDATE invoices SET currency = LOWER(currency);
