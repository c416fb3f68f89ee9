-- +goose Up
-- Who acts for each business, and with what role. The user who registered
-- a business is its first owner.
CREATE TABLE members (
    business_id TEXT NOT NULL REFERENCES businesses (id),
    subject     TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'finance', 'read_only')),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (business_id, subject)
);
CREATE INDEX members_subject ON members (subject);
INSERT INTO members (business_id, subject, role, created_at, updated_at)
    SELECT id, owner, 'owner', created_at, created_at FROM businesses;

-- +goose Down
DROP TABLE members;
