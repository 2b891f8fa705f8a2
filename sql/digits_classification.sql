-- HDC classification of the scikit-learn digits, entirely in SQL.
--
-- Expects: pixels(id BIGINT, pos BIGINT, value BIGINT, label BIGINT, split VARCHAR):
--   one row per pixel of each 8x8 image (pos 0..63, value 0..16), split 'train' or 'test'.
-- Needs 1024-byte functions: cogtensor.sql.context(widths=[8192, 1024])
--   (CLI: cogtensor sql -f sql/digits_classification.sql --width 1024 --table pixels=...).
--
-- Encoding: image = bundle over its 64 pixels of bind(position_hv, level_hv), 8192-bit
-- hypervectors. Positions are independent random records (hdc_random). Levels must
-- be correlated so that neighbouring intensities look alike: level v is a base record
-- bound to a half-ones mask rotated by 128 * v bits, so levels u and v differ in
-- 256 * |u - v| bits (level 16 is orthogonal to level 0). Train one prototype per
-- class by bundling its training images; classify each test image by the nearest
-- prototype in Hamming distance.
-- Shows: test accuracy (about 0.91 on digits with the split of cogtensor.examples).

-- 64 position hypervectors
CREATE TABLE position_hv AS
SELECT value AS pos, hdc_random_1024(1000 + value) AS hv
FROM range(64);

-- 17 intensity-level hypervectors, 0..16, correlated across neighbouring levels
CREATE TABLE level_hv AS
SELECT value AS level,
       bind_1024(hdc_random_1024(2000),
                 permute_1024(arrow_cast(decode(repeat('ff', 512) || repeat('00', 512), 'hex'),
                                         'FixedSizeBinary(1024)'),
                              128 * value)) AS hv
FROM range(17);

-- each image: the bundle of its 64 bound (position, level) pairs
CREATE TABLE image_hv AS
SELECT px.id, px.label, px.split, bundle_1024(bind_1024(p.hv, l.hv)) AS hv
FROM pixels px
JOIN position_hv p ON px.pos = p.pos
JOIN level_hv l ON px.value = l.level
GROUP BY px.id, px.label, px.split;

-- one prototype per class from the training images
CREATE TABLE digit_prototypes AS
SELECT label, bundle_1024(hv) AS hv, COUNT(*) AS members
FROM image_hv
WHERE split = 'train'
GROUP BY label;

-- each test image takes the label of its nearest prototype
CREATE TABLE digit_predictions AS
SELECT id, label, predicted, distance
FROM (
    SELECT t.id, t.label, p.label AS predicted, hamming_1024(t.hv, p.hv) AS distance,
           row_number() OVER (PARTITION BY t.id ORDER BY hamming_1024(t.hv, p.hv), p.label) AS rank
    FROM image_hv t CROSS JOIN digit_prototypes p
    WHERE t.split = 'test'
)
WHERE rank = 1;

SELECT count(*) AS test_images,
       sum(CASE WHEN predicted = label THEN 1 ELSE 0 END) AS correct,
       avg(CASE WHEN predicted = label THEN 1.0 ELSE 0.0 END) AS accuracy
FROM digit_predictions;
