-- Leases: with several replicas on one database, the holder of `writer` crawls and processes;
-- the others serve reads from the change sequence.
CREATE TABLE leases (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
