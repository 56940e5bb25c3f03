-- What a Backstage frontend stores per user through the user-settings API (starred entities,
-- theme, …): a JSON value per (user, bucket, key).
CREATE TABLE user_settings (
    user_ref TEXT NOT NULL,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (user_ref, bucket, key)
);
