-- Quantized-embedding search: int8 cosine over quantize()d vectors vs float cosine.
--
-- Expects: cogs(id BIGINT, label BIGINT, split VARCHAR, pixels FixedSizeList<float32, 64>, ...).
-- Needs 64-d functions: cogtensor.sql.context(dims=[1024, 64]) (CLI: --dim 64).
-- Shows: for every test image, the nearest training image by int8 cosine (quantize_64,
--   one int8 scale per vector, then int8_cosine_64) and by float cosine (DataFusion's
--   cosine_distance): how often the two agree on the nearest neighbour, and the
--   1-nearest-neighbour label accuracy of each.

CREATE TABLE embeddings AS
SELECT id, label, split, pixels, quantize_64(pixels) AS q
FROM cogs;

CREATE TABLE int8_nearest AS
SELECT query, neighbour, same_label
FROM (
    SELECT t.id AS query, r.id AS neighbour, t.label = r.label AS same_label,
           row_number() OVER (PARTITION BY t.id ORDER BY int8_cosine_64(t.q, r.q) DESC, r.id) AS rank
    FROM embeddings t CROSS JOIN embeddings r
    WHERE t.split = 'test' AND r.split = 'train'
)
WHERE rank = 1;

CREATE TABLE float_nearest AS
SELECT query, neighbour, same_label
FROM (
    SELECT t.id AS query, r.id AS neighbour, t.label = r.label AS same_label,
           row_number() OVER (PARTITION BY t.id ORDER BY cosine_distance(t.pixels, r.pixels), r.id) AS rank
    FROM embeddings t CROSS JOIN embeddings r
    WHERE t.split = 'test' AND r.split = 'train'
)
WHERE rank = 1;

SELECT count(*) AS queries,
       avg(CASE WHEN i.neighbour = f.neighbour THEN 1.0 ELSE 0.0 END) AS top1_agreement,
       avg(CASE WHEN i.same_label THEN 1.0 ELSE 0.0 END) AS int8_accuracy,
       avg(CASE WHEN f.same_label THEN 1.0 ELSE 0.0 END) AS float_accuracy
FROM int8_nearest i
JOIN float_nearest f ON i.query = f.query;
