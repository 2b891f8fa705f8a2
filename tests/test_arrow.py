"""cogtensor.arrow: zero-copy Arrow <-> numpy bridges, checked against pyarrow's own conversions."""

import itertools

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cogtensor.arrow import (
    fixed_shape_tensor_from_numpy,
    fixed_size_list_from_numpy,
    records_from_numpy,
    to_numpy,
    validity,
)


def addr(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def rows_ref(arr) -> np.ndarray:
    """(n, W) reference built from Python bytes, independent of the buffers."""
    vals = arr.to_pylist()
    width = len(vals[0]) if vals else arr.type.byte_width
    return np.frombuffer(b"".join(vals), np.uint8).reshape(len(vals), width)


def random_rows(rng, n, width):
    return [rng.bytes(width) for _ in range(n)]


# --- FixedSizeBinary ---------------------------------------------------------------------


@pytest.mark.parametrize("width", [1, 7, 8, 33, 2048, 8192, 8193])
@pytest.mark.parametrize("n", [0, 1, 13])
def test_fixed_size_binary_round_trip(width, n):
    rng = np.random.default_rng(width * 100 + n)
    arr = pa.array(random_rows(rng, n, width), pa.binary(width))
    view = to_numpy(arr)
    assert view.dtype == np.uint8 and view.shape == (n, width)
    np.testing.assert_array_equal(view, rows_ref(arr))
    assert not view.flags.writeable  # a view of immutable Arrow memory
    if n:
        assert addr(view) == arr.buffers()[1].address
    back = records_from_numpy(view)
    assert back.type == pa.binary(width) and back.equals(arr)
    if n:
        assert back.buffers()[1].address == arr.buffers()[1].address  # still the same bytes


@pytest.mark.parametrize("width", [1, 33, 8192])
def test_records_from_numpy_shares_memory(width):
    rng = np.random.default_rng(width)
    x = rng.integers(0, 256, (6, width), dtype=np.uint8)
    arr = records_from_numpy(x)
    assert arr.type == pa.binary(width) and len(arr) == 6 and arr.null_count == 0
    assert arr.buffers()[1].address == x.ctypes.data
    assert arr.to_pylist() == [bytes(r) for r in x]
    view = to_numpy(arr)
    assert np.shares_memory(view, x)
    x[4, -1] ^= 0xFF  # writes to x show through the Arrow array
    assert arr[4].as_py()[-1] == x[4, -1]


def test_records_from_numpy_keeps_memory_alive():
    x = np.arange(40, dtype=np.uint8).reshape(4, 10)
    expected = [bytes(r) for r in x]
    arr = records_from_numpy(x)
    del x
    assert arr.to_pylist() == expected


def test_sliced_fixed_size_binary_is_a_view_at_the_offset():
    rng = np.random.default_rng(1)
    arr = pa.array(random_rows(rng, 10, 33), pa.binary(33))
    for s, first in [(arr.slice(3, 5), 3), (arr.slice(3, 5).slice(1, 2), 4), (arr.slice(9), 9)]:
        view = to_numpy(s)
        np.testing.assert_array_equal(view, rows_ref(s))
        assert addr(view) == arr.buffers()[1].address + first * 33
    assert to_numpy(arr.slice(4, 0)).shape == (0, 33)


def test_chunked_arrays():
    rng = np.random.default_rng(2)
    a = pa.array(random_rows(rng, 4, 16), pa.binary(16))
    b = pa.array(random_rows(rng, 3, 16), pa.binary(16))
    one = to_numpy(pa.chunked_array([a.slice(1)]))
    np.testing.assert_array_equal(one, rows_ref(a)[1:])
    assert addr(one) == a.buffers()[1].address + 16  # one chunk: no copy
    many = to_numpy(pa.chunked_array([a, b.slice(1)]))
    np.testing.assert_array_equal(many, np.vstack([rows_ref(a), rows_ref(b)[1:]]))
    assert to_numpy(pa.chunked_array([], type=pa.binary(16))).shape == (0, 16)


# --- Binary / LargeBinary ------------------------------------------------------------------


@pytest.mark.parametrize("btype", [pa.binary(), pa.large_binary()])
def test_binary_equal_lengths_zero_copy(btype):
    rng = np.random.default_rng(3)
    arr = pa.array(random_rows(rng, 9, 24), btype)
    for s, first in [(arr, 0), (arr.slice(2, 5), 2), (arr.slice(2, 5).slice(3), 5)]:
        view = to_numpy(s)
        assert view.shape == (len(s), 24)
        np.testing.assert_array_equal(view, rows_ref(s))
        assert addr(view) == arr.buffers()[2].address + first * 24
    assert to_numpy(arr.slice(0, 0)).shape[0] == 0


@pytest.mark.parametrize("btype", [pa.binary(), pa.large_binary()])
def test_binary_errors(btype):
    with pytest.raises(ValueError, match="same length; found 2 and 3"):
        to_numpy(pa.array([b"ab", b"abc"], btype))
    with pytest.raises(ValueError, match="at least 1 byte"):
        to_numpy(pa.array([b"", b""], btype))
    with pytest.raises(ValueError, match="every binary value is null"):
        to_numpy(pa.array([None, None], btype), nulls="keep")


@pytest.mark.parametrize("btype", [pa.binary(), pa.large_binary()])
def test_binary_nulls(btype):
    arr = pa.array([b"ab", None, b"cd", None], btype)
    with pytest.raises(ValueError, match="2 null"):
        to_numpy(arr)
    for mode in ("keep", "zero"):
        out = to_numpy(arr, nulls=mode)
        np.testing.assert_array_equal(out[[0, 2]], [[97, 98], [99, 100]])
        np.testing.assert_array_equal(validity(arr), [True, False, True, False])
    np.testing.assert_array_equal(to_numpy(arr, nulls="zero")[[1, 3]], 0)
    # a null slot with a value of the right length keeps the spacing: still a view
    off_type = np.int64 if btype == pa.large_binary() else np.int32
    offsets = pa.py_buffer(np.array([0, 2, 4, 6], off_type))
    bitmap = pa.py_buffer(np.array([0b101], np.uint8))
    spaced = pa.Array.from_buffers(btype, 3, [bitmap, offsets, pa.py_buffer(b"abcdef")])
    kept = to_numpy(spaced, nulls="keep")
    assert addr(kept) == spaced.buffers()[2].address
    zeroed = to_numpy(spaced, nulls="zero")
    np.testing.assert_array_equal(zeroed, [[97, 98], [0, 0], [101, 102]])
    assert not np.shares_memory(zeroed, kept)


# --- nulls on FixedSizeBinary ---------------------------------------------------------------


def test_fixed_size_binary_nulls():
    arr = pa.array([b"abc", None, b"def", None, b"ghi"], pa.binary(3))
    with pytest.raises(ValueError, match="holds 2 null"):
        to_numpy(arr)
    kept = to_numpy(arr, nulls="keep")
    assert addr(kept) == arr.buffers()[1].address
    valid = validity(arr)
    np.testing.assert_array_equal(valid, [True, False, True, False, True])
    np.testing.assert_array_equal(kept[valid], rows_ref(arr.drop_null()))
    zeroed = to_numpy(arr, nulls="zero")
    assert not np.shares_memory(zeroed, kept)
    np.testing.assert_array_equal(zeroed[~valid], 0)
    np.testing.assert_array_equal(zeroed[valid], rows_ref(arr.drop_null()))
    sliced = arr.slice(1, 3)
    np.testing.assert_array_equal(validity(sliced), [False, True, False])
    np.testing.assert_array_equal(to_numpy(sliced, nulls="zero"), [[0, 0, 0], list(b"def"), [0, 0, 0]])
    np.testing.assert_array_equal(validity(pa.chunked_array([arr.slice(0, 2), arr.slice(4)])), [True, False, True])
    assert validity(arr.drop_null()) is None


def test_invalid_null_mode():
    with pytest.raises(ValueError, match="nulls must be one of"):
        to_numpy(pa.array([b"a"], pa.binary(1)), nulls="drop")


def test_wrong_input_types():
    with pytest.raises(TypeError, match="expected a pyarrow Array"):
        to_numpy(np.zeros((2, 3), np.uint8))
    for arr in (pa.array(["ab"]), pa.array([1, 2]), pa.array([[1, 2]], pa.list_(pa.int64()))):
        with pytest.raises(TypeError, match="expected FixedSizeBinary"):
            to_numpy(arr)


# --- FixedSizeList --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.float64, np.int64])
@pytest.mark.parametrize("d", [1, 3, 17])
def test_fixed_size_list_view(dtype, d):
    rng = np.random.default_rng(d)
    x = rng.integers(-100, 100, (9, d)).astype(dtype)
    arr = pa.array(x.tolist(), pa.list_(pa.from_numpy_dtype(np.dtype(dtype)), d))
    base = arr.values.buffers()[1].address
    for s, first in [(arr, 0), (arr.slice(2, 4), 2), (arr.slice(2, 4).slice(1), 3)]:
        view = to_numpy(s)
        assert view.dtype == dtype and view.shape == (len(s), d)
        np.testing.assert_array_equal(view, np.array(s.to_pylist(), dtype).reshape(len(s), d))
        assert addr(view) == base + first * d * np.dtype(dtype).itemsize
        assert not view.flags.writeable


def test_nested_fixed_size_list_with_offsets_at_every_level():
    leaf = pa.array(np.arange(200, dtype=np.float32)).slice(7, 120)  # the leaf has its own offset
    inner = pa.FixedSizeListArray.from_arrays(leaf, 4).slice(1, 27)  # and the middle level too
    outer = pa.FixedSizeListArray.from_arrays(inner, 3)
    for s in (outer, outer.slice(2, 5), outer.slice(2, 5).slice(1, 3), outer.slice(9, 0)):
        view = to_numpy(s)
        assert view.shape == (len(s), 3, 4)
        np.testing.assert_array_equal(view, np.array(s.to_pylist(), np.float32).reshape(len(s), 3, 4))
    # row 2 starts at inner list 1 + 2 * 3, i.e. leaf value 7 + 4 * 7
    assert addr(to_numpy(outer.slice(2))) == leaf.buffers()[1].address + 4 * (7 + 4 * 7)


def test_fixed_size_list_nulls():
    arr = pa.array([[1, 2], None, [3, 4]], pa.list_(pa.float32(), 2))
    with pytest.raises(ValueError, match="1 null"):
        to_numpy(arr)
    kept = to_numpy(arr, nulls="keep")  # the null row's children are null too: allowed
    np.testing.assert_array_equal(kept[[0, 2]], [[1, 2], [3, 4]])
    np.testing.assert_array_equal(to_numpy(arr, nulls="zero"), [[1, 2], [0, 0], [3, 4]])
    np.testing.assert_array_equal(to_numpy(arr.slice(2)), [[3, 4]])  # no null in the slice
    inner_null = pa.array([[1, None], [3, 4]], pa.list_(pa.float32(), 2))
    for mode in ("raise", "keep", "zero"):
        with pytest.raises(ValueError, match="list values hold nulls in 1 non-null row"):
            to_numpy(inner_null, nulls=mode)
    np.testing.assert_array_equal(to_numpy(inner_null.slice(1)), [[3, 4]])


def test_fixed_size_list_non_numeric_values():
    for arr in (pa.array([[True, False]], pa.list_(pa.bool_(), 2)), pa.array([["a", "b"]], pa.list_(pa.string(), 2))):
        with pytest.raises(TypeError, match="numeric type"):
            to_numpy(arr)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int8, np.uint16, np.int64, np.float64])
def test_fixed_size_list_from_numpy(dtype):
    x = np.arange(5 * 3 * 2).astype(dtype).reshape(5, 3, 2)
    arr = fixed_size_list_from_numpy(x)
    value_type = pa.from_numpy_dtype(np.dtype(dtype))
    assert arr.type == pa.list_(pa.list_(value_type, 2), 3)
    assert arr.to_pylist() == x.tolist()
    assert arr.values.values.buffers()[1].address == x.ctypes.data  # no copy
    assert np.shares_memory(to_numpy(arr), x)


def test_fixed_size_list_from_numpy_copies_other_layouts():
    x = np.arange(48, dtype=np.float32).reshape(6, 8)
    for other in (x[:, ::2], np.asfortranarray(x), x.astype(">f4")):
        arr = fixed_size_list_from_numpy(other)
        assert arr.to_pylist() == other.tolist()
        assert not np.shares_memory(to_numpy(arr), x)
    assert len(fixed_size_list_from_numpy(np.zeros((0, 4), np.int8))) == 0


def test_fixed_size_list_from_numpy_errors():
    for bad in (np.zeros((2, 3), bool), np.zeros((2, 3), np.complex64), np.zeros((2, 3), np.longdouble)):
        with pytest.raises(TypeError, match="fixed_size_list_from_numpy"):
            fixed_size_list_from_numpy(bad)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        fixed_size_list_from_numpy(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="list sizes must be at least 1"):
        fixed_size_list_from_numpy(np.zeros((3, 0), np.float32))


# --- fixed_shape_tensor ---------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4,), (2, 3), (2, 3, 4)])
@pytest.mark.parametrize("n", [0, 1, 5])
def test_fixed_shape_tensor_round_trip(shape, n):
    x = np.random.default_rng(n).standard_normal((n, *shape)).astype(np.float32)
    t = fixed_shape_tensor_from_numpy(x)
    assert isinstance(t.type, pa.FixedShapeTensorType) and t.type.shape == list(shape)
    np.testing.assert_array_equal(t.to_numpy_ndarray(), x)  # pyarrow's own reading
    view = to_numpy(t)
    np.testing.assert_array_equal(view, x)
    if n:
        assert np.shares_memory(view, x)
        np.testing.assert_array_equal(to_numpy(t.slice(1)), x[1:])
        theirs = pa.FixedShapeTensorArray.from_numpy_ndarray(x[:2])  # built by pyarrow
        np.testing.assert_array_equal(to_numpy(theirs), x[:2])


def tensor_with_permutation(shape, permutation, n=3):
    k = int(np.prod(shape))
    storage = pa.FixedSizeListArray.from_arrays(pa.array(np.arange(n * k, dtype=np.float32)), k)
    tensor_type = pa.fixed_shape_tensor(pa.float32(), list(shape), permutation=list(permutation))
    return pa.ExtensionArray.from_storage(tensor_type, storage), storage


def spec_reference(storage, shape, permutation):
    """The Arrow spec: `shape` is physical (row-major); logical dim i is physical dim permutation[i]."""
    phys = np.array(storage.to_pylist(), np.float32).reshape(len(storage), *shape)
    logical_shape = [shape[p] for p in permutation]
    out = np.empty((len(storage), *logical_shape), np.float32)
    for idx in np.ndindex(*logical_shape):
        p = [0] * len(shape)
        for i, v in enumerate(idx):
            p[permutation[i]] = v
        out[(slice(None), *idx)] = phys[(slice(None), *p)]
    return out


@pytest.mark.parametrize("permutation", [(1, 0), (0, 2, 1), (2, 1, 0), (1, 0, 2)])
def test_tensor_permutation_matches_pyarrow(permutation):
    shape = (2, 3) if len(permutation) == 2 else (2, 3, 4)
    t, storage = tensor_with_permutation(shape, permutation)
    view = to_numpy(t)
    np.testing.assert_array_equal(view, t.to_numpy_ndarray())
    np.testing.assert_array_equal(view, spec_reference(storage, shape, permutation))
    assert addr(view) == storage.values.buffers()[1].address  # a strided view, no copy


@pytest.mark.parametrize("permutation", list(itertools.permutations(range(3))))
def test_tensor_every_permutation_follows_the_spec(permutation):
    # pyarrow 26's to_numpy_ndarray() gets the strides wrong for permutations that are
    # not their own inverse (e.g. [2, 0, 1]: its view skips some elements and repeats
    # others), so the reference here is the spec's definition itself.
    t, storage = tensor_with_permutation((2, 3, 4), permutation)
    view = to_numpy(t)
    np.testing.assert_array_equal(view, spec_reference(storage, (2, 3, 4), permutation))
    assert addr(view) == storage.values.buffers()[1].address
    np.testing.assert_array_equal(to_numpy(t.slice(1, 1)), view[1:2])


def test_chunked_tensor():
    x = np.arange(2 * 6 * 5, dtype=np.float64).reshape(6, 2, 5)
    t = fixed_shape_tensor_from_numpy(x)
    np.testing.assert_array_equal(to_numpy(pa.chunked_array([t.slice(0, 2), t.slice(3)])), x[[0, 1, 3, 4, 5]])
    assert np.shares_memory(to_numpy(pa.chunked_array([t])), x)


def test_fixed_shape_tensor_from_numpy_copies_other_layouts():
    x = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    for other in (x.transpose(0, 2, 1), x[:, ::2], x.astype(">f4")):
        t = fixed_shape_tensor_from_numpy(other)
        np.testing.assert_array_equal(to_numpy(t), other)
        np.testing.assert_array_equal(t.to_numpy_ndarray(), other)


# --- records_from_numpy -------------------------------------------------------------------


def test_records_from_numpy_copies_non_contiguous():
    x = np.arange(120, dtype=np.uint8).reshape(6, 20)
    for other in (x[:, ::2], x[::2], np.asfortranarray(x)):
        arr = records_from_numpy(other)
        assert arr.type == pa.binary(other.shape[1])
        assert arr.to_pylist() == [bytes(r) for r in other]
    assert len(records_from_numpy(np.zeros((0, 5), np.uint8))) == 0


def test_records_from_numpy_errors():
    for bad in (np.zeros((2, 4), np.int8), np.zeros((2, 4), np.float32)):
        with pytest.raises(TypeError, match="records_from_numpy: expected .* uint8"):
            records_from_numpy(bad)
    for bad in (np.zeros(4, np.uint8), np.zeros((2, 2, 2), np.uint8)):
        with pytest.raises(ValueError, match="got shape"):
            records_from_numpy(bad)
    with pytest.raises(ValueError, match="at least 1 byte"):
        records_from_numpy(np.zeros((3, 0), np.uint8))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 24), width=st.integers(1, 70), data=st.data())
def test_slices_of_wrapped_records(n, width, data):
    offset = data.draw(st.integers(0, n))
    length = data.draw(st.integers(0, n - offset))
    x = np.random.default_rng(n * 71 + width).integers(0, 256, (n, width), dtype=np.uint8)
    view = to_numpy(records_from_numpy(x).slice(offset, length))
    np.testing.assert_array_equal(view, x[offset : offset + length])
    if length:
        assert addr(view) == x.ctypes.data + offset * width
