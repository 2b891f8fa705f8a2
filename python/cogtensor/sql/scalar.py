"""Scalar SQL functions: each validates, views the batch's Arrow buffers, makes one
kernel call for the whole batch and wraps the result. NULL in any argument gives
NULL out.

DataFusion's Python UDFs have exact signatures, so each function exists once per
argument type: see :func:`cogtensor.sql.register` for the naming rule.
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa
from datafusion import ScalarUDF, udf

from cogtensor import _kernels, cogrecord
from cogtensor.arrow import to_numpy
from cogtensor.sql._arrays import int_column, rows, valid_mask, wrap_records, wrap_values, wrap_vectors


def _widths(*arrays: np.ndarray) -> None:
    widths = [a.shape[1] for a in arrays]
    if len(set(widths)) > 1:
        raise ValueError(f"arguments must have the same width, got {' and '.join(map(str, widths))} bytes")


def _hamming(a, b):
    ra, rb = rows(a), rows(b)
    _widths(ra, rb)
    return _kernels.hamming(ra, rb)


def _hamming_sim(a, b):
    return 1.0 - _hamming(a, b) / (rows(a).shape[1] * 8.0)


def _popcount(a):
    return _kernels.popcount(rows(a))


def _bind(a, b):
    ra, rb = rows(a), rows(b)
    _widths(ra, rb)
    return _kernels.bind(ra, rb)


def _permute(a, k):
    return _kernels.permute(rows(a), int_column(k))


def _hdc_random(width: int):
    def random(seed):
        return _kernels.random_records(int_column(seed).view(np.uint64), width)

    return random


def _int8(array) -> np.ndarray:
    x = rows(array)
    return x.view(np.int8) if x.dtype == np.uint8 else x


def _int8_dot(a, b):
    return _kernels.int8_dot(_int8(a), _int8(b))


def _int8_cosine(a, b):
    return _kernels.int8_cosine(_int8(a), _int8(b))


def _floats(v) -> np.ndarray:
    # null rows may hold anything (NaN too): zero them so the kernel sees finite values
    return np.ascontiguousarray(to_numpy(v, nulls="zero"), dtype=np.float32)


def _quantize(v):
    q, _ = _kernels.quantize(_floats(v), False)
    return q.view(np.uint8)


def _quant_scale(v):
    _, scale = _kernels.quantize(_floats(v), False)
    return scale


def _dequantize(q, scale):
    scales = np.ascontiguousarray(scale.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.float32)
    return _kernels.dequantize(_int8(q), scales, False)


def _cog_container(rec, i):
    index = int_column(i)
    valid = valid_mask(rec, i)
    bad = (index < 0) | (index > 3)
    if valid is not None:
        bad &= valid
    if bad.any():
        raise ValueError(f"container index must be 0, 1, 2 or 3, got {int(index[bad][0])}")
    recs = rows(rec).reshape(len(rec), 4, cogrecord.CONTAINER_BYTES)
    return recs[np.arange(len(rec)), np.clip(index, 0, 3)]


def _cog_embedding(rec):
    return cogrecord.dequantize_embedding(rows(rec))


def _wrapper(result_type: pa.DataType):
    """How a kernel's numpy result becomes an Arrow array of the declared type."""
    if pa.types.is_fixed_size_binary(result_type):
        return lambda out, valid: wrap_records(out, valid)
    if pa.types.is_binary(result_type):
        return lambda out, valid: wrap_records(out, valid, binary=True)
    if pa.types.is_fixed_size_list(result_type):
        return wrap_vectors
    return lambda out, valid: wrap_values(out, valid, result_type)


def make_udf(name: str, kernel, arg_types: list[pa.DataType], result_type: pa.DataType) -> ScalarUDF:
    """A DataFusion scalar UDF running ``kernel`` once per batch, errors prefixed with ``name``."""
    wrap = _wrapper(result_type)

    @functools.wraps(kernel)
    def batch(*arrays: pa.Array) -> pa.Array:
        if len(arrays[0]) == 0:
            return pa.array([], type=result_type)
        valid = valid_mask(*arrays)
        if valid is not None and not valid.any():
            # all NULL (e.g. a NULL literal): no kernel call; a Binary width would be unknown anyway
            return pa.nulls(len(arrays[0]), result_type)
        try:
            out = kernel(*arrays)
        except (ValueError, TypeError) as e:
            message = str(e)
            raise type(e)(message if message.startswith(name + ":") else f"{name}: {message}") from None
        return wrap(out, valid)

    return udf(batch, arg_types, result_type, "immutable", name)


def record_functions(record: pa.DataType, suffix: str) -> list[ScalarUDF]:
    """hamming, hamming_sim, popcount, bind, permute over one record type (+ name suffix)."""
    return [
        make_udf("hamming" + suffix, _hamming, [record, record], pa.uint32()),
        make_udf("hamming_sim" + suffix, _hamming_sim, [record, record], pa.float64()),
        make_udf("popcount" + suffix, _popcount, [record], pa.uint32()),
        make_udf("bind" + suffix, _bind, [record, record], record),
        make_udf("permute" + suffix, _permute, [record, pa.int64()], record),
    ]


def random_function(width: int, suffix: str) -> ScalarUDF:
    return make_udf("hdc_random" + suffix, _hdc_random(width), [pa.int64()], pa.binary(width))


def vector_functions(dim: int, suffix: str) -> list[ScalarUDF]:
    """int8_dot / int8_cosine (FixedSizeBinary(d) and FixedSizeList<int8, d>), quantize,
    quant_scale and dequantize for d-dimensional vectors."""
    packed, listed, floats = pa.binary(dim), pa.list_(pa.int8(), dim), pa.list_(pa.float32(), dim)
    return [
        make_udf("int8_dot" + suffix, _int8_dot, [packed, packed], pa.int32()),
        make_udf("int8_cosine" + suffix, _int8_cosine, [packed, packed], pa.float64()),
        make_udf("int8_dot_list" + suffix, _int8_dot, [listed, listed], pa.int32()),
        make_udf("int8_cosine_list" + suffix, _int8_cosine, [listed, listed], pa.float64()),
        make_udf("quantize" + suffix, _quantize, [floats], packed),
        make_udf("quant_scale" + suffix, _quant_scale, [floats], pa.float32()),
        make_udf("dequantize" + suffix, _dequantize, [packed, pa.float32()], floats),
    ]


def cogrecord_functions() -> list[ScalarUDF]:
    record = pa.binary(cogrecord.RECORD_BYTES)
    return [
        make_udf("cog_container", _cog_container, [record, pa.int64()], pa.binary(cogrecord.CONTAINER_BYTES)),
        make_udf("cog_embedding", _cog_embedding, [record], pa.list_(pa.float32(), cogrecord.EMBEDDING_DIM)),
    ]
