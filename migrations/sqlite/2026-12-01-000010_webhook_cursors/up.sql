-- Where each configured webhook has delivered the change feed up to (an audit record id), so a
-- restart or another replica carries on from there and delivers nothing twice.
CREATE TABLE webhook_cursors (
    name TEXT PRIMARY KEY NOT NULL,
    last_id BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
