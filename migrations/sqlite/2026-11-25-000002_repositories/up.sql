-- The last good crawl of each Git repository: what it saw, for incremental crawls and for
-- repository facts (files present, last commit) that scorecards read.
CREATE TABLE repositories (
    origin TEXT PRIMARY KEY NOT NULL,
    source_id TEXT NOT NULL,
    url TEXT NOT NULL,
    branch TEXT NOT NULL,
    commit_id TEXT NOT NULL,
    committed_at BIGINT NOT NULL,
    author TEXT NOT NULL,
    files_json TEXT NOT NULL,
    crawled_at BIGINT NOT NULL
);
