-- Scaffolder tasks: the spec a template produced, its status, and who created it. Secrets are
-- kept only while a task waits or runs (cleared when it ends).
CREATE TABLE scaffolder_tasks (
    id TEXT PRIMARY KEY NOT NULL,
    spec_json TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_heartbeat_at BIGINT,
    created_by TEXT,
    secrets_json TEXT
);
CREATE INDEX scaffolder_tasks_created ON scaffolder_tasks (created_at);
-- Task events; the id is global and increasing, as clients use it as a cursor.
CREATE TABLE scaffolder_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    task_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    body_json TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX scaffolder_events_task ON scaffolder_events (task_id, id);
