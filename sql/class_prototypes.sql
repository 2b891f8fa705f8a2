-- Class prototypes with GROUP BY label + bundle, and classification by nearest prototype.
--
-- Expects: cogs(id BIGINT, label BIGINT, split VARCHAR, rec FixedSizeBinary(8192), ...).
-- Shows: per class, how many training records were bundled into its prototype, how many
--   test records carry that label and how many of them the nearest prototype gets right.

-- bundle = bitwise majority: the record most similar to all members of the class
CREATE TABLE prototypes AS
SELECT label, bundle(rec) AS proto, count(*) AS members
FROM cogs
WHERE split = 'train'
GROUP BY label;

-- each test record takes the label of the prototype at the smallest Hamming distance
CREATE TABLE predictions AS
SELECT id, label, predicted
FROM (
    SELECT c.id, c.label, p.label AS predicted,
           row_number() OVER (PARTITION BY c.id ORDER BY hamming(c.rec, p.proto), p.label) AS rank
    FROM cogs c CROSS JOIN prototypes p
    WHERE c.split = 'test'
)
WHERE rank = 1;

SELECT p.label, p.members, count(r.id) AS tested,
       sum(CASE WHEN r.predicted = r.label THEN 1 ELSE 0 END) AS correct
FROM prototypes p
LEFT JOIN predictions r ON r.label = p.label
GROUP BY p.label, p.members
ORDER BY p.label;
