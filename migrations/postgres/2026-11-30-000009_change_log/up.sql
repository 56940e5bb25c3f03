-- One monotonic change log for every write a replica must notice: entity batches, pushed facts,
-- check inputs, exemptions and repositories. Entity rows carry the same sequence numbers.
-- Writers append under a lock, so the order of sequence numbers is the order of commits.
CREATE TABLE change_log (
    seq BIGINT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    entity_ref TEXT,
    at BIGINT NOT NULL
);
-- Carry on from the entities already written.
INSERT INTO change_log (seq, kind, at)
SELECT m, 'entities', 0 FROM (
    SELECT MAX(s) AS m FROM (
        SELECT seq AS s FROM entities UNION ALL SELECT seq AS s FROM deleted_entities
    ) AS all_seqs
) AS top WHERE m IS NOT NULL;
