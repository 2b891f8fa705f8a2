"""CogRecord functions inside DataFusion SQL.

``register(ctx)`` adds every function to a ``datafusion.SessionContext``;
``context(**config)`` returns a new context with them registered.

Naming rule (DataFusion's Python UDFs have exact signatures, so each function
exists once per argument type):

- record functions (``hamming``, ``hamming_sim``, ``popcount``, ``bind``,
  ``permute``, ``hdc_random``, ``bundle``, ``bundle_weighted``) take
  ``FixedSizeBinary(8192)`` under their plain name and ``FixedSizeBinary(W)``
  as ``<name>_<W>`` for every other width in ``widths`` (``hamming_2048``);
  ``<name>_binary`` takes ``Binary`` values of equal length (a bare ``X'..'``
  literal) for the scalar ones;
- vector functions (``int8_dot``, ``int8_cosine``, ``quantize``,
  ``quant_scale``, ``dequantize``) take d = 1024 under their plain name and
  ``<name>_<d>`` for every other size in ``dims``; ``int8_dot_list`` and
  ``int8_cosine_list`` take ``FixedSizeList<int8, d>``;
- ``cog_container`` and ``cog_embedding`` take whole CogRecords.

See docs/sql.md for every signature, NULL behaviour and error.
"""

from __future__ import annotations

import pyarrow as pa
from datafusion import SessionConfig, SessionContext

from cogtensor.cogrecord import EMBEDDING_DIM, RECORD_BYTES
from cogtensor.sql.aggregate import bundle_functions
from cogtensor.sql.query import bind_query, register_table_functions
from cogtensor.sql.scalar import cogrecord_functions, random_function, record_functions, vector_functions

__all__ = ["register", "context", "bind_query", "function_names"]


def _suffix(size: int, default: int) -> str:
    return "" if size == default else f"_{size}"


def _sizes(values, name: str) -> list[int]:
    sizes = list(dict.fromkeys(values))
    if not sizes or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in sizes):
        raise ValueError(f"register: {name} must be positive integers, got {values!r}")
    return sizes


def _functions(widths, dims):
    scalars = [*record_functions(pa.binary(), "_binary"), *cogrecord_functions()]
    aggregates = []
    for w in _sizes(widths, "widths"):
        suffix = _suffix(w, RECORD_BYTES)
        scalars += [*record_functions(pa.binary(w), suffix), random_function(w, suffix)]
        aggregates += bundle_functions(w, suffix)
    for d in _sizes(dims, "dims"):
        scalars += vector_functions(d, _suffix(d, EMBEDDING_DIM))
    return scalars, aggregates


def register(ctx: SessionContext, widths=(RECORD_BYTES,), dims=(EMBEDDING_DIM,)) -> SessionContext:
    """Register the cogtensor SQL functions (and ``hamming_topk``) on ``ctx``.

    Args:
        ctx: a DataFusion session.
        widths: record widths in bytes to serve; 8192 gets the plain names,
            others a ``_<W>`` suffix.
        dims: int8/float vector sizes to serve; 1024 gets the plain names,
            others a ``_<d>`` suffix.

    Returns:
        ``ctx``, for chaining.

    Example:
        >>> ctx = register(SessionContext(), widths=[8192, 2048])
        >>> ctx.sql("SELECT hamming_2048(cog_container(a, 1), cog_container(b, 1)) FROM pairs")
    """
    scalars, aggregates = _functions(widths, dims)
    for f in scalars:
        ctx.register_udf(f)
    for f in aggregates:
        ctx.register_udaf(f)
    register_table_functions(ctx)
    return ctx


def function_names(widths=(RECORD_BYTES,), dims=(EMBEDDING_DIM,)) -> list[str]:
    """The SQL names :func:`register` defines for these widths and dims."""
    scalars, aggregates = _functions(widths, dims)
    return sorted([f.name for f in scalars + aggregates] + ["hamming_topk"])


def context(widths=(RECORD_BYTES,), dims=(EMBEDDING_DIM,), **config) -> SessionContext:
    """A new SessionContext with the cogtensor functions registered.

    Args:
        widths, dims: as :func:`register`.
        **config: DataFusion settings; a short name means ``datafusion.execution.<name>``
            (``target_partitions=4``, ``batch_size=1024``), a dotted name is used as is.
    """
    settings = {k if "." in k else f"datafusion.execution.{k}": str(v).lower() if isinstance(v, bool) else str(v)
                for k, v in config.items()}
    return register(SessionContext(SessionConfig(settings)), widths, dims)
