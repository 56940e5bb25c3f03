-- Every change of a scorecard check's result (not every evaluation), for trends.
CREATE TABLE scorecard_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    scorecard TEXT NOT NULL,
    entity_ref TEXT NOT NULL,
    check_id TEXT NOT NULL,
    status TEXT NOT NULL,
    level TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX scorecard_history_entity ON scorecard_history (entity_ref, scorecard);
