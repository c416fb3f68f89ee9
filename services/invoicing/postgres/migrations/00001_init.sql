-- +goose Up
-- Money is BIGINT minor units; line items and event data are JSONB.
CREATE TABLE businesses (
    id                  TEXT PRIMARY KEY,
    owner               TEXT NOT NULL UNIQUE,
    legal_name          TEXT NOT NULL,
    country             TEXT NOT NULL,
    registration_number TEXT NOT NULL,
    billing_email       TEXT NOT NULL,
    invoice_seq         BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE invoices (
    seq                     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                      TEXT NOT NULL UNIQUE,
    number                  TEXT,
    issuer_id               TEXT NOT NULL REFERENCES businesses (id),
    customer_id             TEXT NOT NULL REFERENCES businesses (id),
    currency                TEXT NOT NULL,
    due_date                TEXT NOT NULL,
    memo                    TEXT NOT NULL,
    line_items              JSONB NOT NULL,
    subtotal                BIGINT NOT NULL CHECK (subtotal >= 0),
    tax                     BIGINT NOT NULL CHECK (tax >= 0),
    total                   BIGINT NOT NULL CHECK (total >= 0),
    amount_paid             BIGINT NOT NULL CHECK (amount_paid >= 0),
    amount_due              BIGINT NOT NULL CHECK (amount_due >= 0),
    status                  TEXT NOT NULL CHECK (status IN ('draft', 'open', 'paid', 'void', 'uncollectible')),
    finalized_at TIMESTAMPTZ,
    paid_at TIMESTAMPTZ,
    voided_at TIMESTAMPTZ,
    marked_uncollectible_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    version                 BIGINT NOT NULL,
    CHECK (amount_paid + amount_due = total OR status = 'draft')
);
CREATE INDEX invoices_issuer ON invoices (issuer_id, seq);
CREATE INDEX invoices_customer ON invoices (customer_id, seq);
CREATE UNIQUE INDEX invoices_number ON invoices (issuer_id, number) WHERE number IS NOT NULL;

CREATE TABLE payments (
    id         TEXT PRIMARY KEY,
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    amount     BIGINT NOT NULL CHECK (amount > 0),
    method     TEXT NOT NULL,
    reference  TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX payments_invoice ON payments (invoice_id);

CREATE TABLE outbox_events (
    seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id      TEXT NOT NULL UNIQUE,
    type    TEXT NOT NULL,
    source  TEXT NOT NULL,
    subject TEXT NOT NULL,
    time TIMESTAMPTZ NOT NULL,
    data    JSONB NOT NULL
);

CREATE TABLE outbox_deliveries (
    subscriber      TEXT NOT NULL,
    event_id        TEXT NOT NULL REFERENCES outbox_events (id),
    attempts        BIGINT NOT NULL,
    next_attempt_at TIMESTAMPTZ,
    delivered_at TIMESTAMPTZ,
    last_error      TEXT NOT NULL,
    PRIMARY KEY (subscriber, event_id)
);

CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       BIGINT NOT NULL,
    header       TEXT NOT NULL,
    body         BYTEA,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE outbox_deliveries;
DROP TABLE outbox_events;
DROP TABLE payments;
DROP TABLE invoices;
DROP TABLE businesses;
