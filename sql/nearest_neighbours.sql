-- Nearest-neighbour search over CogRecords by Hamming distance.
--
-- Expects: cogs(id BIGINT, label BIGINT, split VARCHAR, rec FixedSizeBinary(8192), ...):
--   one CogRecord per image (cogtensor.examples.sample_tables builds it from the digits).
-- Shows: the 5 training records nearest to test record 0 (a "0"), nearest first; their
--   labels should mostly be 0. The query record comes from a scalar subquery; for large
--   tables the fast paths are cogtensor.sql.bind_query and hamming_topk (docs/sql.md).

SELECT id, label, hamming(rec, (SELECT rec FROM cogs WHERE id = 0)) AS distance
FROM cogs
WHERE split = 'train'
ORDER BY distance, id
LIMIT 5;
