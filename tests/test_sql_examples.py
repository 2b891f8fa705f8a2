"""Each sql/ example runs on the digits sample and gives what numpy + cogtensor.hdc give."""

from pathlib import Path

import numpy as np
import pytest

from cogtensor import examples, hdc, quant
from cogtensor.arrow import to_numpy

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data():
    return examples.digits()


@pytest.fixture(scope="module")
def tables(data):
    return examples.sample_tables(data)


def records(ctx, sql: str) -> np.ndarray:
    return to_numpy(ctx.sql(sql).to_arrow_table().column(0).combine_chunks())


def column(ctx, sql: str, i: int = 0) -> np.ndarray:
    return ctx.sql(sql).to_arrow_table().column(i).to_numpy()


def test_every_sql_file_is_a_documented_example():
    files = sorted(p.stem for p in (ROOT / "sql").glob("*.sql"))
    assert files == sorted(examples.example_names())
    for name in files:
        text = examples.example_path(name).read_text()
        assert text == (ROOT / "sql" / f"{name}.sql").read_text()
        header = text.split("\n\n")[0]
        assert header.startswith("-- ") and "Expects:" in text and "Shows:" in text, name


@pytest.mark.parametrize(("text", "statements"), [
    ("SELECT 1", ["SELECT 1"]),
    ("SELECT 1;\n\n;SELECT 2;", ["SELECT 1", "SELECT 2"]),
    ("SELECT ';' AS s; SELECT 'it''s;' -- a; comment\n; SELECT \"a;b\" FROM t",
     ["SELECT ';' AS s", "SELECT 'it''s;'", 'SELECT "a;b" FROM t']),
    ("/* one; */ SELECT 1 /* two; */; -- only a comment;", ["SELECT 1"]),
    ("-- nothing\n  ;  ", []),
])
def test_split_statements(text, statements):
    assert examples.split_statements(text) == statements


def test_run_script_needs_a_statement():
    with pytest.raises(ValueError, match="no SQL statement"):
        examples.run_script(examples.sample_context({}), "-- only a comment")


def test_nearest_neighbours_are_hdc_topk(tables):
    _, result = examples.run_example("nearest_neighbours", examples.sample_context(tables))
    cogs = tables["cogs"]
    recs = to_numpy(cogs.column("rec").combine_chunks())
    train = np.flatnonzero(cogs.column("split").to_numpy(zero_copy_only=False) == "train")
    expected = hdc.topk(recs[0], recs[train], 5)
    assert result.column("id").to_pylist() == train[expected.indices].tolist()
    assert result.column("distance").to_pylist() == expected.distances.tolist()
    labels = cogs.column("label").to_numpy()
    assert result.column("label").to_pylist() == labels[train[expected.indices]].tolist()


@pytest.mark.parametrize("partitions", [1, 4])
def test_class_prototypes_are_hdc_bundle(tables, partitions):
    ctx, result = examples.run_example("class_prototypes", examples.sample_context(tables, target_partitions=partitions))
    cogs = tables["cogs"]
    recs = to_numpy(cogs.column("rec").combine_chunks())
    labels = cogs.column("label").to_numpy()
    split = cogs.column("split").to_numpy(zero_copy_only=False)
    protos = np.stack([hdc.bundle(recs[(split == "train") & (labels == c)]) for c in range(10)])
    np.testing.assert_array_equal(records(ctx, "SELECT proto FROM prototypes ORDER BY label"), protos)
    np.testing.assert_array_equal(column(ctx, "SELECT members FROM prototypes ORDER BY label"),
                                  np.bincount(labels[split == "train"], minlength=10))
    test = split == "test"
    predicted = hdc.topk(recs[test], protos, 1).indices[:, 0]
    assert column(ctx, "SELECT predicted FROM predictions ORDER BY id").tolist() == predicted.tolist()
    assert result.column("label").to_pylist() == list(range(10))
    assert result.column("tested").to_pylist() == np.bincount(labels[test], minlength=10).tolist()
    correct = np.bincount(labels[test][predicted == labels[test]], minlength=10)
    assert result.column("correct").to_pylist() == correct.tolist()
    assert correct.sum() / test.sum() >= 0.85


def _digits_in_numpy(images: np.ndarray) -> np.ndarray:
    """The encoding sql/digits_classification.sql describes, built with cogtensor.hdc."""
    positions = np.stack([hdc.random(1, 1024, seed=1000 + p)[0] for p in range(64)])
    half = np.repeat(np.array([0xFF, 0], np.uint8), 512)
    base = hdc.random(1, 1024, seed=2000)[0]
    levels = np.stack([hdc.bind(base, hdc.permute(half, 128 * v)) for v in range(17)])
    return np.stack([hdc.bundle(hdc.bind(positions, levels[image])) for image in images])


def test_digits_classification_in_sql(data, tables):
    pytest.importorskip("sklearn")  # the 85% target is for the real digits
    assert data.source == "scikit-learn digits"
    ctx, result = examples.run_example("digits_classification", examples.sample_context(tables))
    accuracy = result.column("accuracy")[0].as_py()
    assert result.column("test_images")[0].as_py() == 450
    assert accuracy >= 0.85

    encoded = _digits_in_numpy(data.images)
    np.testing.assert_array_equal(records(ctx, "SELECT hv FROM image_hv ORDER BY id"), encoded)
    train, test = data.split == "train", data.split == "test"
    protos = np.stack([hdc.bundle(encoded[train & (data.labels == c)]) for c in range(10)])
    np.testing.assert_array_equal(records(ctx, "SELECT hv FROM digit_prototypes ORDER BY label"), protos)
    predicted = hdc.topk(encoded[test], protos, 1).indices[:, 0]
    assert column(ctx, "SELECT predicted FROM digit_predictions ORDER BY id").tolist() == predicted.tolist()
    assert accuracy == pytest.approx(np.mean(predicted == data.labels[test]))


def test_digits_classification_on_generated_images():
    generated = examples.digits(use_sklearn=False)
    assert generated.images.shape == (1797, 64) and generated.images.min() >= 0 and generated.images.max() <= 16
    ctx = examples.sample_context({"pixels": examples.sample_tables(generated)["pixels"]})
    _, result = examples.run_example("digits_classification", ctx)
    assert result.column("accuracy")[0].as_py() >= 0.85


def test_quantized_search_matches_numpy(tables):
    ctx, result = examples.run_example("quantized_search", examples.sample_context(tables))
    cogs = tables["cogs"]
    pixels = to_numpy(cogs.column("pixels").combine_chunks())
    split = cogs.column("split").to_numpy(zero_copy_only=False)
    train, test = np.flatnonzero(split == "train"), np.flatnonzero(split == "test")

    q, _ = quant.quantize_int8(pixels)
    int8_best = [train[np.argmax(hdc.int8_cosine(q[t], q[train]))] for t in test]  # first max: lowest id
    assert column(ctx, "SELECT neighbour FROM int8_nearest ORDER BY query").tolist() == int8_best

    unit = pixels.astype(np.float64) / np.linalg.norm(pixels.astype(np.float64), axis=1, keepdims=True)
    float_best = train[np.argmax(unit[test] @ unit[train].T, axis=1)]
    sql_float = column(ctx, "SELECT neighbour FROM float_nearest ORDER BY query")
    assert np.mean(sql_float == float_best) >= 0.99  # only float ties may differ

    r = {k: v[0] for k, v in result.to_pydict().items()}
    assert r["queries"] == len(test)
    assert r["top1_agreement"] == pytest.approx(np.mean(np.array(int8_best) == sql_float))
    assert r["top1_agreement"] >= 0.9
    assert r["int8_accuracy"] >= r["float_accuracy"] - 0.02
