-- The audit trail: append-only, each record carrying the hash of the previous one. Cairn never
-- updates or deletes a row; `cairn audit verify` recomputes the chain.
CREATE TABLE audit_log (
    id BIGINT PRIMARY KEY NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    entity_ref TEXT,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_entity ON audit_log (entity_ref, id);
CREATE INDEX audit_log_at ON audit_log (at);
