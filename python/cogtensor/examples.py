"""The sample data the demo and the ``sql/`` examples run on, and a SQL script runner.

- :func:`digits` loads the scikit-learn digits (1797 8x8 images, pixel values
  0..16), or generates look-alikes when scikit-learn is not installed;
- :func:`sample_tables` turns them into the Arrow tables the examples expect:
  ``pixels`` (one row per pixel) and ``cogs`` (one CogRecord per image);
- :func:`split_statements` / :func:`run_script` run a file of ``;``-separated
  statements; :func:`run_example` runs one ``sql/`` example on the sample.

Example:
    >>> ctx, result = run_example("digits_classification")
    >>> result.column("accuracy")[0].as_py() >= 0.85
    True
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa

from cogtensor import cogrecord, hdc
from cogtensor.arrow import records_from_numpy
from cogtensor.sql import context

__all__ = ["Digits", "digits", "encode_images", "sample_tables", "sample_context", "example_path",
           "example_names", "split_statements", "run_script", "run_example", "WIDTHS", "DIMS"]

WIDTHS = (cogrecord.RECORD_BYTES, 1024)  # record widths the examples use (hamming, hamming_1024, ...)
DIMS = (cogrecord.EMBEDDING_DIM, 64)  # vector sizes they use (quantize, quantize_64, ...)
LEVELS = 17  # digits pixel values are 0..16


class Digits(NamedTuple):
    """``images`` (n, 64) int64 pixel values 0..16, ``labels`` (n,) int64, ``split``
    (n,) 'train'/'test' (every 4th image is a test image), ``source`` in words."""

    images: np.ndarray
    labels: np.ndarray
    split: np.ndarray
    source: str


def _generated_digits(n: int = 1797, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Ten random 8x8 class templates plus per-image noise, clipped to 0..16."""
    rng = np.random.default_rng(seed)
    templates = rng.integers(0, LEVELS, size=(10, 64))
    labels = np.arange(n) % 10
    noisy = templates[labels] + rng.normal(0, 4, size=(n, 64))
    return np.clip(np.rint(noisy), 0, LEVELS - 1).astype(np.int64), labels.astype(np.int64)


def digits(use_sklearn: bool = True) -> Digits:
    """The scikit-learn digits data set (bundled with scikit-learn, no download).

    Falls back to generated images of the same shape when scikit-learn cannot be
    imported (or ``use_sklearn`` is False).
    """
    try:
        if not use_sklearn:
            raise ImportError
        from sklearn.datasets import load_digits
    except ImportError:
        images, labels = _generated_digits()
        source = "generated digit-like images (scikit-learn not installed)"
    else:
        images, labels = load_digits(return_X_y=True)
        images, labels = images.astype(np.int64), labels.astype(np.int64)
        source = "scikit-learn digits"
    split = np.where(np.arange(len(labels)) % 4 == 0, "test", "train")
    return Digits(images, labels, split, source)


def encode_images(images: np.ndarray, width: int = 2 * cogrecord.CONTAINER_BYTES, seed: int = 0) -> np.ndarray:
    """HDC encoding of 64-pixel images: bundle of bind(position, level) per image.

    The same scheme as ``sql/digits_classification.sql``: random position records,
    level records that differ in ``2 * step * |u - v|`` bits for levels u, v.

    Returns:
        ``(n, width)`` uint8.
    """
    positions = hdc.random(images.shape[1], width, seed=seed)
    half = np.zeros(width, dtype=np.uint8)
    half[: width // 2] = 0xFF
    step = width * 8 // (4 * (LEVELS - 1))
    base = hdc.random(1, width, seed=seed + 1)[0]
    levels = np.stack([hdc.bind(base, hdc.permute(half, step * v)) for v in range(LEVELS)])
    return np.stack([hdc.bundle(hdc.bind(positions, levels[image])) for image in images])


def sample_tables(data: Digits | None = None) -> dict[str, pa.Table]:
    """Arrow tables for the ``sql/`` examples.

    Returns:
        ``{"pixels": ..., "cogs": ...}``:

        - ``pixels(id, pos, value, label, split)``: one row per pixel (pos 0..63,
          value 0..16), the input of ``digits_classification.sql``;
        - ``cogs(id, label, split, pixels, rec)``: one row per image; ``pixels`` is
          FixedSizeList<float32, 64>, ``rec`` a FixedSizeBinary(8192) CogRecord
          with the id in metadata word W0, the HDC encoding of the image
          (:func:`encode_images`) as payload and the pixels / 16 as C3 embedding.
    """
    data = data or digits()
    n = len(data.labels)
    ids = np.arange(n, dtype=np.int64)
    pixels = pa.table({
        "id": np.repeat(ids, 64),
        "pos": np.tile(np.arange(64, dtype=np.int64), n),
        "value": data.images.ravel(),
        "label": np.repeat(data.labels, 64),
        "split": np.repeat(data.split, 64),
    })
    floats = data.images.astype(np.float32)
    embedding = np.zeros((n, cogrecord.EMBEDDING_DIM), dtype=np.float32)
    embedding[:, :64] = floats / (LEVELS - 1)
    records = cogrecord.pack(meta=ids.astype(np.uint64)[:, None], payload=encode_images(data.images),
                             embedding=embedding)
    cogs = pa.table({
        "id": ids,
        "label": data.labels,
        "split": data.split,
        "pixels": pa.FixedSizeListArray.from_arrays(pa.array(floats.ravel()), 64),
        "rec": records_from_numpy(records),
    })
    return {"pixels": pixels, "cogs": cogs}


def sample_context(tables: dict[str, pa.Table] | None = None, widths=WIDTHS, dims=DIMS, **config):
    """A cogtensor SQL context with the example widths/dims and the sample tables registered.

    Args:
        tables: name -> Arrow table (default: :func:`sample_tables`).
        widths, dims, **config: as :func:`cogtensor.sql.context`.
    """
    ctx = context(widths=widths, dims=dims, **config)
    for name, table in (sample_tables() if tables is None else tables).items():
        ctx.register_record_batches(name, [table.to_batches()])
    return ctx


def example_path(name: str) -> Path:
    """The ``sql/`` example file ``name`` (with or without ``.sql``): the copy installed
    with the package, or the source tree's ``sql/`` when running from a checkout."""
    filename = name if name.endswith(".sql") else name + ".sql"
    installed = resources.files("cogtensor.sql") / filename  # pyproject installs sql/ there
    if installed.is_file():
        return Path(str(installed))
    return Path(__file__).resolve().parents[2] / "sql" / filename


def example_names() -> list[str]:
    """Names of the ``sql/`` examples, in the order the demo runs them."""
    return ["nearest_neighbours", "class_prototypes", "digits_classification", "quantized_search"]


def split_statements(text: str) -> list[str]:
    """Split SQL text on ``;`` outside quotes and comments; comments are dropped.

    Example:
        >>> split_statements("SELECT ';' AS s; -- done;\\nSELECT 2")
        ["SELECT ';' AS s", 'SELECT 2']
    """
    statements, current, i = [], [], 0
    while i < len(text):
        c, pair = text[i], text[i : i + 2]
        if pair == "--":
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        if pair == "/*":
            end = text.find("*/", i + 2)
            i = len(text) if end < 0 else end + 2
            current.append(" ")
            continue
        if c in "'\"":
            end = i + 1
            while end < len(text):
                if text[end] == c:
                    if text[end + 1 : end + 2] != c:  # '' is an escaped quote
                        break
                    end += 1
                end += 1
            current.append(text[i : end + 1])
            i = end + 1
            continue
        if c == ";":
            statements.append("".join(current).strip())
            current = []
        else:
            current.append(c)
        i += 1
    statements.append("".join(current).strip())
    return [s for s in statements if s]


def run_script(ctx, text: str) -> list[pa.Table]:
    """Run each statement of ``text`` in order on ``ctx``.

    Returns:
        One Arrow table per statement (DDL such as ``CREATE TABLE`` runs when
        planned and gives a table with no columns).
    """
    statements = split_statements(text)
    if not statements:
        raise ValueError("no SQL statement to run")
    return [ctx.sql(statement).to_arrow_table() for statement in statements]


def run_example(name: str, ctx=None) -> tuple[object, pa.Table]:
    """Run the ``sql/`` example ``name`` on ``ctx`` (default: a new :func:`sample_context`).

    Returns:
        ``(ctx, result)``: the context (the tables the script created stay in it)
        and the result of its last statement.
    """
    ctx = ctx if ctx is not None else sample_context()
    results = run_script(ctx, example_path(name).read_text())
    return ctx, results[-1]
