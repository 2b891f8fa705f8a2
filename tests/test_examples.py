"""The training examples in examples/: the digits ones in their full settings (>= 97% test
accuracy; each takes seconds), the others in reduced settings, each reaching sensible
metrics; the character transformer's cached sampling gives a full forward's logits;
training from a query streams every training row once per epoch, in a reproducible order
computed by the query."""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import cogtensor as ct

pytest.importorskip("sklearn")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def examples():
    """The example modules, imported as the scripts import each other (examples/ on sys.path)."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        yield {name: importlib.import_module(name)
               for name in ("mlp_digits", "cnn_digits", "char_transformer", "train_from_query")}
    finally:
        sys.path.remove(str(EXAMPLES))


@pytest.fixture(autouse=True)
def restore_threads():
    """The examples set the kernel thread count; put it back for the other tests."""
    before = ct.get_num_threads()
    yield
    ct.set_num_threads(before)


# ------------------------------------------------------------------ digits
def test_mlp_digits_full_setting_reaches_97_percent_with_progress(examples, capsys):
    metrics = examples["mlp_digits"].main([])
    assert metrics["test_accuracy"] >= 0.97
    assert metrics["train_loss"] < 0.05
    err = capsys.readouterr().err
    assert "mlp_digits" in err and "30/30" in err  # the tqdm bar reached the last epoch


def test_digits_split_is_fixed_stratified_and_standardised(examples):
    x_train, y_train, x_test, y_test = examples["mlp_digits"].load_digits_split()
    again = examples["mlp_digits"].load_digits_split()
    np.testing.assert_array_equal(x_test, again[2])
    assert x_train.shape == (1347, 64) and x_test.shape == (450, 64)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert np.bincount(y_test).min() >= 43  # stratified: every class ~10% of the test set
    np.testing.assert_allclose(x_train.mean(0), 0, atol=1e-5)
    raw = examples["mlp_digits"].load_digits_split(standardize=False)
    assert raw[0].min() == 0 and raw[0].max() == 1


def test_cnn_digits_full_setting_reaches_97_percent(examples):
    metrics = examples["cnn_digits"].main(["--quiet"])
    assert metrics["test_accuracy"] >= 0.97
    assert metrics["train_loss"] < 0.3  # random shifts keep the training loss well above zero


def test_cnn_random_shift_moves_images_by_at_most_one_pixel(examples):
    shift = examples["cnn_digits"].RandomShift(np.random.default_rng(0))
    images = np.zeros((50, 1, 8, 8), np.float32)
    images[:, 0, 3:5, 3:5] = 1.0  # a 2x2 block in the middle, never pushed off the edge
    moved = shift(images)
    assert moved.shape == images.shape
    assert (moved.sum(axis=(1, 2, 3)) == 4).all()  # nothing lost, nothing added
    rows = np.nonzero(moved[:, 0].any(axis=2))[1].reshape(50, 2)[:, 0]
    cols = np.nonzero(moved[:, 0].any(axis=1))[1].reshape(50, 2)[:, 0]
    assert set(rows) == {2, 3, 4} and set(cols) == {2, 3, 4}
    assert shift(images[:0]).shape == (0, 1, 8, 8)


def test_cnn_model_maps_images_to_ten_logits(examples):
    model = examples["cnn_digits"].build_model()
    assert tuple(model(ct.zeros(3, 1, 8, 8)).shape) == (3, 10)


# -------------------------------------------------------- char transformer
def test_char_transformer_quick_setting_loss_falls(examples):
    char = examples["char_transformer"]
    metrics = char.main(["--steps", str(char.QUICK_STEPS), "--sample-length", "80", "--quiet"])
    vocab_size = len(char.Vocabulary(char.TEXT.read_text(encoding="utf-8")))
    assert abs(metrics["initial_loss"] - math.log(vocab_size)) < 0.3  # starts near a uniform guess
    assert metrics["train_loss"] < char.QUICK_SETTING_LOSS
    assert metrics["val_loss"] < 3.0
    assert metrics["sample"].startswith("The old man ") and len(metrics["sample"]) == len("The old man ") + 80


def test_shipped_text_is_ascii_prose_of_tens_of_kilobytes(examples):
    text = examples["char_transformer"].TEXT.read_text(encoding="utf-8")
    assert 20_000 < len(text) < 100_000
    assert text.isascii()
    assert "public domain" in text[:400]


@pytest.fixture
def small_model(examples):
    ct.manual_seed(0)
    return examples["char_transformer"].CharTransformer(vocab_size=13, context=24, d_model=16, heads=4, layers=2)


@pytest.mark.parametrize("chunks", [[24], [1] * 24, [10, 1, 1, 5, 7], [3, 8, 13]])
@pytest.mark.parametrize("dtype, tol", [(ct.float32, 1e-5), (ct.float64, 1e-10)])
def test_kv_cache_logits_equal_full_forward(small_model, chunks, dtype, tol):
    """Feeding the sequence in chunks through the cache gives every position the logits of one
    full causal forward (single steps and multi-position chunks after a cached prefix)."""
    ids = ct.tensor(np.random.default_rng(1).integers(0, 13, (2, 24)))
    small_model.to(dtype).eval()
    with ct.no_grad():
        full = small_model(ids).numpy()
        cache, start, pieces = small_model.new_cache(batch=2), 0, []
        for size in chunks:
            pieces.append(small_model(ids[:, start:start + size], cache).numpy())
            start += size
    assert cache.length == 24
    assert full.dtype == dtype.numpy
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), full, rtol=tol, atol=tol)


def test_kv_cache_refuses_more_positions_than_the_context(small_model):
    cache = small_model.new_cache()
    with ct.no_grad():
        small_model(ct.zeros(1, 20, dtype=ct.int64), cache)
        with pytest.raises(ValueError, match="exceed the context"):
            small_model(ct.zeros(1, 5, dtype=ct.int64), cache)


def test_sampling_past_the_context_rebuilds_the_cache(examples, small_model):
    char = examples["char_transformer"]
    vocab = char.Vocabulary("abcdefghijkl ")
    text = char.sample(small_model, vocab, "abc", length=60, seed=3)
    assert len(text) == 63 and text.startswith("abc") and set(text) <= set(vocab.chars)
    assert char.sample(small_model, vocab, "abc", length=60, seed=3) == text  # seeded


def test_learning_rate_warms_up_then_decays_to_a_tenth(examples):
    lr_at = examples["char_transformer"].lr_at
    assert lr_at(0, 100, 1.0, 10) == pytest.approx(0.1)
    assert lr_at(9, 100, 1.0, 10) == pytest.approx(1.0)
    assert lr_at(99, 100, 1.0, 10) == pytest.approx(0.1, abs=1e-3)


# ------------------------------------------------------------ from a query
def test_train_from_query_streams_every_row_and_learns(examples):
    metrics = examples["train_from_query"].main(["--epochs", "3", "--quiet"])
    assert metrics["rows_streamed"] == 3 * 1347
    assert metrics["test_accuracy"] >= 0.93


def test_query_shuffle_is_a_reproducible_permutation(examples, tmp_path):
    from datafusion import SessionContext

    tfq = examples["train_from_query"]
    path = tmp_path / "digits.parquet"
    assert tfq.write_digits_parquet(path) == 1797
    schema = pq.read_schema(path)
    assert schema.field("pixels").type.value_type == pa.float32() and schema.field("pixels").type.list_size == 64
    ctx = SessionContext()
    ctx.register_parquet("digits", str(path))

    def epoch_labels(rng):
        batches = ct.data.from_query(tfq.shuffled_train_query(ctx, rng), batch_size=100, columns=["pixels", "label"])
        return np.concatenate([np.concatenate([x.numpy(), y.numpy()[:, None]], axis=1) for x, y in batches])

    rng = np.random.default_rng(0)
    first, second = epoch_labels(rng), epoch_labels(rng)
    assert len(first) == len(second) == 1347
    assert not np.array_equal(first, second)  # a new order each epoch ...
    np.testing.assert_array_equal(np.unique(first, axis=0), np.unique(second, axis=0))  # ... of the same rows
    np.testing.assert_array_equal(epoch_labels(np.random.default_rng(0)), first)  # reproducible


def test_pixel_statistics_match_numpy(examples, tmp_path):
    from datafusion import SessionContext

    tfq = examples["train_from_query"]
    path = tmp_path / "digits.parquet"
    tfq.write_digits_parquet(path)
    ctx = SessionContext()
    ctx.register_parquet("digits", str(path))
    mean, std = tfq.pixel_statistics(ctx, batch_size=97)
    x_train = examples["mlp_digits"].load_digits_split(standardize=False)[0] * 16
    np.testing.assert_allclose(mean.numpy(), x_train.mean(0), rtol=1e-5, atol=1e-5)
    expected = x_train.std(0)
    expected[expected == 0] = 1
    np.testing.assert_allclose(std.numpy(), expected, rtol=1e-4, atol=1e-5)
