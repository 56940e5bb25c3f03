-- Backstage notifications, one row per recipient: scorecard level drops, obligations falling
-- due, finished scaffolder tasks. `seq` orders them for the signals push across replicas.
CREATE TABLE notifications (
    seq INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    user_ref TEXT NOT NULL,
    origin TEXT NOT NULL,
    -- The payload as JSON: title, description, link, severity, topic, scope.
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    read_at BIGINT,
    saved_at BIGINT,
    updated_at BIGINT
);
CREATE INDEX notifications_user ON notifications (user_ref, created_at);
