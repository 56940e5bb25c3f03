CREATE TABLE entities (
    entity_ref TEXT PRIMARY KEY NOT NULL,
    uid TEXT NOT NULL,
    origin TEXT NOT NULL,
    location_key TEXT NOT NULL,
    parent_ref TEXT,
    raw_json TEXT NOT NULL,
    relations_json TEXT NOT NULL,
    errors_json TEXT NOT NULL,
    orphan BOOLEAN NOT NULL DEFAULT 0,
    final_json TEXT NOT NULL,
    etag TEXT NOT NULL,
    seq BIGINT NOT NULL
);
CREATE INDEX entities_seq ON entities (seq);
CREATE TABLE deleted_entities (
    entity_ref TEXT PRIMARY KEY NOT NULL,
    seq BIGINT NOT NULL
);
CREATE INDEX deleted_entities_seq ON deleted_entities (seq);
CREATE TABLE locations (
    id TEXT PRIMARY KEY NOT NULL,
    type TEXT NOT NULL,
    target TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX locations_type_target ON locations (type, target);
