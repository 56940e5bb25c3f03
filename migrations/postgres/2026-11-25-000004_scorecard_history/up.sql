-- Every change of an entity's scorecard result (not every evaluation), for trends.
CREATE TABLE scorecard_history (
    id BIGSERIAL PRIMARY KEY,
    scorecard TEXT NOT NULL,
    entity_ref TEXT NOT NULL,
    level TEXT,
    -- the checks whose status changed, as id=status;id=status
    checks TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX scorecard_history_entity ON scorecard_history (entity_ref, scorecard);
