-- Exemptions granted through the API (those written in a scorecard's YAML live with it).
CREATE TABLE exemptions (
    id TEXT PRIMARY KEY NOT NULL,
    scorecard TEXT NOT NULL,
    entity_ref TEXT NOT NULL,
    checks_json TEXT NOT NULL,
    reason TEXT NOT NULL,
    approver TEXT NOT NULL,
    expires TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
