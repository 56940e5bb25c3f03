-- Facts pushed by CI for an entity (test coverage, a bias-check result, an SBOM flag, ...).
CREATE TABLE pushed_facts (
    entity_ref TEXT NOT NULL,
    name TEXT NOT NULL,
    value_json TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (entity_ref, name)
);
-- Attestations (a person records pass or fail with a justification) and pushed check results.
CREATE TABLE check_inputs (
    scorecard TEXT NOT NULL,
    entity_ref TEXT NOT NULL,
    check_id TEXT NOT NULL,
    result TEXT NOT NULL,
    justification TEXT NOT NULL,
    author TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (scorecard, entity_ref, check_id)
);
