"""Reductions (cogtensor.ops.reduction) against PyTorch: values, shapes, result dtypes,
indices, warnings and errors, for every dim/keepdim combination on random, non-contiguous,
empty and 0-d tensors of every dtype."""

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import cogtensor as ct
import torch_reference as reference
from torch_reference import BF16, torch_of, torch_single_thread  # noqa: F401 - autouse fixture

FLOATS = ["float16", "bfloat16", "float32", "float64"]
INTS = ["int8", "uint8", "int16", "int32", "int64"]
DTYPES = FLOATS + INTS + ["bool"]
# (rtol, atol) per result dtype: about one unit in the last place of float16/bfloat16,
# where torch and we may round a float32 accumulation differently
TOL = {torch.float16: (2e-3, 1e-3), torch.bfloat16: (1.6e-2, 1e-2), torch.float32: (2e-5, 2e-5),
       torch.float64: (1e-10, 1e-10)}


# ---------------------------------------------------------------------- helpers
def random_array(shape, dtype: str, rng, contiguous=True) -> np.ndarray:
    """Random values of a dtype (ints in a small range so ties and zeros occur), C-contiguous or a strided view."""
    big = (shape[0] + 2, shape[2] * 2, shape[1]) if not contiguous else shape
    if dtype == "bool":
        a = rng.random(big) < 0.5
    elif dtype in INTS:
        a = rng.integers(0 if dtype == "uint8" else -3, 4, big).astype(dtype)
    else:
        a = (rng.standard_normal(big) * 3).astype(BF16 if dtype == "bfloat16" else dtype)
    a = np.asarray(a)  # 0-d results come back as numpy scalars
    if not contiguous:  # (n0+2, 2*n2, n1) -> strided, transposed view of shape (n0, n1, n2)
        a = a[1:-1, ::2, :].transpose(0, 2, 1)
        assert a.shape == shape and not a.flags.c_contiguous
    return a


def to_torch(t: ct.Tensor) -> torch.Tensor:
    return torch_of(t.numpy())


def assert_matches(ours, theirs, tol=None):
    reference.assert_matches(ours, theirs, tol or TOL)


def differential(fn, array: np.ndarray, tol=None):
    """fn(module, tensor) on cogtensor and on torch (see torch_reference.differential)."""
    reference.differential(fn, ct, torch, array, tol or TOL)


def dims_for(ndim: int):
    """Every way to name dims of an ndim-d tensor: None, (), each int (negative too), pairs, all."""
    span = max(ndim, 1)
    singles = list(range(-span, span))
    pairs = [(a, b - ndim) for a, b in itertools.combinations(range(ndim), 2)]
    return [None, (), *singles, *[(d,) for d in singles[:1]], *pairs, tuple(range(ndim)) or (0,), [0] * (ndim > 0)]


LAYOUTS = {
    "contiguous": ((3, 4, 5), True),
    "strided": ((3, 4, 5), False),
    "empty": ((2, 0, 3), True),
    "empty1d": ((0,), True),
    "scalar": ((), True),
    "one": ((1,), True),
}


def layout_array(layout: str, dtype: str, seed: int = 0) -> np.ndarray:
    shape, contiguous = LAYOUTS[layout]
    return random_array(shape, dtype, np.random.default_rng(seed), contiguous)


# ops over any dims (None, int, tuple): each is fn(module, tensor, dim, keepdim)
MULTI = {
    "sum": lambda m, x, d, k: x.sum(dim=d, keepdim=k),
    "sum_fn": lambda m, x, d, k: m.sum(x, d, k),
    "sum_dtype": lambda m, x, d, k: x.sum(dim=d, keepdim=k, dtype=m.float64),
    "mean": lambda m, x, d, k: x.mean(dim=d, keepdim=k),
    "mean_fn_dtype": lambda m, x, d, k: m.mean(x, d, k, dtype=m.float64),
    "var": lambda m, x, d, k: x.var(dim=d, keepdim=k),
    "var_correction0": lambda m, x, d, k: m.var(x, d, keepdim=k, correction=0),
    "var_correction2": lambda m, x, d, k: x.var(d, keepdim=k, correction=2),
    "std": lambda m, x, d, k: x.std(dim=d, keepdim=k),
    "std_unbiased_false": lambda m, x, d, k: x.std(d, False, k),
    "amax": lambda m, x, d, k: x.amax(dim=() if d is None else d, keepdim=k),
    "amin": lambda m, x, d, k: m.amin(x, () if d is None else d, k),
    # torch.logsumexp refuses dim=() (a shape error inside torch); we reduce everything, as sum does
    "logsumexp": lambda m, x, d, k: x.logsumexp(dim=d if d not in (None, ()) else tuple(range(x.ndim)) or 0,
                                                keepdim=k),
    "norm": lambda m, x, d, k: x.norm(dim=d, keepdim=k),
    "all": lambda m, x, d, k: x.all(dim=d, keepdim=k),
    "any": lambda m, x, d, k: m.any(x, d, k),
}
# ops over one dim (int) or everything (None)
SINGLE = {
    "max": lambda m, x, d, k: x.max() if d is None else x.max(d, k),
    "min": lambda m, x, d, k: m.min(x) if d is None else m.min(x, dim=d, keepdim=k),
    "argmax": lambda m, x, d, k: x.argmax(dim=d, keepdim=k),
    "argmin": lambda m, x, d, k: m.argmin(x, d, k),
    "prod": lambda m, x, d, k: x.prod() if d is None else x.prod(d, k),
    "prod_dtype": lambda m, x, d, k: x.prod(dtype=m.float64) if d is None else x.prod(d, k, dtype=m.float64),
    "cumsum": lambda m, x, d, k: x.cumsum(d if d is not None else 0),
    "cumsum_fn_dtype": lambda m, x, d, k: m.cumsum(x, d if d is not None else -1, dtype=m.float32),
}


def _with_dim(fn, dim, keepdim):
    def call(m, x):
        return fn(m, x, dim, keepdim)

    call.__name__ = f"{fn.__name__}(dim={dim}, keepdim={keepdim})"
    return call


# --------------------------------------------------------- differential sweeps
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("op", MULTI)
def test_multi_dim_reductions_match_torch(op, layout):
    for dtype in DTYPES:
        array = layout_array(layout, dtype)
        for dim, keepdim in itertools.product(dims_for(array.ndim), (False, True)):
            differential(_with_dim(MULTI[op], dim, keepdim), array)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("op", SINGLE)
def test_single_dim_reductions_match_torch(op, layout):
    for dtype in DTYPES:
        array = layout_array(layout, dtype)
        span = max(array.ndim, 1)
        for dim, keepdim in itertools.product([None, *range(-span, span)], (False, True)):
            differential(_with_dim(SINGLE[op], dim, keepdim), array)


NORM_ORDERS = [2, "fro", 1, math.inf, -math.inf, 0, 3, 0.5, -1, -2.5, None]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", FLOATS + ["int64"])
def test_norm_orders_match_torch(dtype, layout):
    array = layout_array(layout, dtype, seed=3)
    if array.size:
        array.flat[::7] = 0  # zeros matter for p <= 0
    dims = [None, 0, -1, (0, -1), ()] if array.ndim > 1 else [None, 0, ()]
    for p, dim, keepdim in itertools.product(NORM_ORDERS, dims, (False, True)):
        differential(lambda m, x: x.norm(p, dim, keepdim), array)
        differential(lambda m, x: m.norm(x, p=p, dim=dim, keepdim=keepdim), array)


def test_norm_dtype_argument_widens_only():
    array = layout_array("contiguous", "float16")
    differential(lambda m, x: x.norm(dtype=m.float32), array)
    differential(lambda m, x: x.norm(2, 1, dtype=m.float64), array)
    differential(lambda m, x: x.float().norm(dtype=m.float16), array)
    x = ct.from_numpy(array).float()
    with pytest.raises(TypeError, match=r"norm: the dtype of the input \(cogtensor.float32\) should be convertible "
                                        r"without narrowing to the specified dtype \(cogtensor.float16\)"):
        x.norm(dtype=ct.float16)


@pytest.mark.parametrize("dtype", FLOATS)
def test_norm_accumulates_without_overflow(dtype):
    """A deliberate difference: torch sums float32 powers in float32 (norm of four 1e20 is inf there);
    we sum in float64, so any norm that fits the result dtype comes out finite, as torch's float64 norm."""
    big = {"float16": 300.0, "bfloat16": 1e30, "float32": 1e30, "float64": 1e100}[dtype]
    array = np.full((4,), big, dtype=BF16 if dtype == "bfloat16" else dtype)
    for p in (2, 3, 1, 0.5, math.inf):
        ours = ct.from_numpy(array).norm(p)
        expected = torch_of(array).double().norm(p).to(torch_of(array).dtype)
        assert_matches(ours, expected)
        assert math.isfinite(ours.item())


# ---------------------------------------------------------------- NaN and inf
@pytest.mark.parametrize("dtype", FLOATS)
def test_nan_propagates_like_torch(dtype):
    array = layout_array("contiguous", dtype, seed=1)
    array[0, 1, 2] = array[2, 3, 0] = array[1, 0, 4] = np.nan
    array[1, 2, :] = np.nan  # a row of NaN
    array[2, 1, 1] = np.inf
    ops = {**MULTI, **SINGLE}
    for name in ["sum", "mean", "var", "std", "amax", "amin", "logsumexp", "norm", "all", "any", "max", "min",
                 "argmax", "argmin", "prod", "cumsum"]:
        for dim, keepdim in itertools.product([None, 0, 1, -1, (0, 2)] if name in MULTI else [None, 0, 1, 2],
                                              (False, True)):
            differential(_with_dim(ops[name], dim, keepdim), array)


def test_max_and_argmax_index_the_first_nan_and_first_tie():
    x = ct.tensor([[1.0, np.nan, 3.0, np.nan], [2.0, 7.0, 7.0, 1.0]])
    values, indices = x.max(1)
    assert indices.tolist() == [1, 1] and math.isnan(values.tolist()[0]) and values.tolist()[1] == 7.0
    assert x.argmax(1).tolist() == [1, 1] and x.argmin(1).tolist() == [1, 3]
    assert ct.tensor([3, 1, 1, 3]).argmin().item() == 1 and ct.tensor([3, 1, 1, 3]).argmax().item() == 0


@pytest.mark.parametrize("dtype", FLOATS)
def test_logsumexp_is_stable_for_large_and_infinite_inputs(dtype):
    np_dtype = BF16 if dtype == "bfloat16" else dtype
    rows = [[1e4, 1e4, 1e4], [-1e4, -1e4, -1e4], [-np.inf] * 3, [np.inf, 1.0, -np.inf], [np.nan, 1.0, 2.0],
            [np.inf, np.inf, 0.0], [-np.inf, 0.0, 1.0]]
    if dtype == "float16":
        rows = [[min(max(v, -6e4), 6e4) for v in r] for r in rows]
    array = np.array(rows, dtype=np.float64).astype(np_dtype)
    for dim in (1, -1, (0, 1), 0):
        differential(lambda m, x: m.logsumexp(x, dim), array)
    if dtype != "float16":
        got = ct.tensor([1e4, 1e4], dtype=getattr(ct, dtype)).logsumexp(0).item()
        assert got == pytest.approx(1e4 + math.log(2), rel=1e-2 if dtype == "bfloat16" else 1e-7)


def test_logsumexp_of_integers_is_default_float():
    for dtype in INTS + ["bool"]:
        differential(lambda m, x: x.logsumexp(1), layout_array("contiguous", dtype))


def test_sum_of_many_float16_accumulates_in_float32():
    array = np.full(10000, 0.1, np.float16)
    differential(lambda m, x: x.sum(), array)
    differential(lambda m, x: x.mean(), array)
    differential(lambda m, x: x.cumsum(0), array)
    assert ct.from_numpy(array).sum().item() == pytest.approx(999.5, rel=1e-3)


def test_cumsum_float32_accumulates_in_float64_as_torch():
    array = (np.random.default_rng(2).standard_normal(100_000) + 1).astype(np.float32)
    ours, theirs = ct.from_numpy(array).cumsum(0), torch.from_numpy(array).cumsum(0)
    torch.testing.assert_close(to_torch(ours), theirs, rtol=0, atol=0)


# ------------------------------------------------------------ result types
def test_result_dtypes():
    i8 = ct.tensor([[1, 2], [3, 4]], dtype=ct.int8)
    assert i8.sum().dtype is ct.int64 and i8.prod(1).dtype is ct.int64 and i8.cumsum(0).dtype is ct.int64
    assert ct.tensor([True, True]).sum().item() == 2 and ct.tensor([True]).cumsum(0).dtype is ct.int64
    assert i8.max().dtype is ct.int8 and i8.max(0).indices.dtype is ct.int64 and i8.argmax().dtype is ct.int64
    assert i8.all().dtype is ct.bool and ct.tensor([1, 2], dtype=ct.uint8).any().dtype is ct.uint8
    assert i8.sum(dtype=ct.float16).dtype is ct.float16 and i8.mean(dtype=ct.float64).dtype is ct.float64
    assert ct.tensor([1.5, 2.5]).sum(dtype=ct.int32).item() == 3  # cast first, as torch
    h = ct.tensor([1.0, 2.0], dtype=ct.bfloat16)
    for r in (h.sum(), h.mean(), h.var(), h.std(), h.norm(), h.logsumexp(0), h.prod(), h.cumsum(0), h.amax()):
        assert r.dtype is ct.bfloat16


def test_max_with_dim_is_a_named_tuple():
    x = ct.tensor([[1.0, 5.0], [7.0, 2.0]])
    result = x.max(dim=1, keepdim=True)
    assert isinstance(result, ct.return_types.max) and isinstance(x.min(0), ct.return_types.min)
    values, indices = result
    assert values.tolist() == [[5.0], [7.0]] and indices.tolist() == [[1], [0]]
    assert result.values is result[0] and result.indices is result[1]
    assert repr(x.max(1)) == "max(values=tensor([5., 7.]), indices=tensor([1, 0]))"


def test_max_and_min_of_two_tensors_are_elementwise():
    a, b = layout_array("contiguous", "float32"), layout_array("strided", "float64")[:, :, :1]
    for fn in (lambda m, x: x.max(m.from_numpy(b) if m is ct else torch.from_numpy(np.array(b))),
               lambda m, x: m.min(x, m.from_numpy(b) if m is ct else torch.from_numpy(np.array(b)))):
        differential(fn, a)


def test_results_are_new_memory():
    x = ct.tensor(3.0)
    for r in (x.sum(), x.max(), x.max(0).values, x.amax(), x.cumsum(0), x.prod(0), x.mean(), x.logsumexp(0)):
        r.numpy()[...] = 7.0
    assert x.item() == 3.0


def test_function_forms_are_exported():
    for name in ["sum", "mean", "var", "std", "max", "min", "amax", "amin", "argmax", "argmin", "prod",
                 "logsumexp", "norm", "cumsum", "all", "any"]:
        assert callable(getattr(ct, name)), name
    assert ct.sum(ct.tensor([[1, 2], [3, 4]]), 1).tolist() == [3, 7]


def test_var_correction_and_unbiased_forms():
    array = layout_array("contiguous", "float64")
    for call in (lambda m, x: x.var(1, True, True), lambda m, x: x.std(0, unbiased=False),
                 lambda m, x: x.var(correction=0.5), lambda m, x: x.var((0, 1), correction=-1),
                 lambda m, x: x.std(dim=2, correction=5), lambda m, x: m.std(x, correction=60)):
        differential(call, array)
    with pytest.warns(UserWarning, match=r"var\(\): degrees of freedom is <= 0"):
        assert math.isnan(ct.tensor([1.0]).var().item())
    with pytest.warns(UserWarning, match="degrees of freedom"):
        assert ct.tensor([1.0, 2.0]).var(correction=3).item() == math.inf


# ------------------------------------------------------------------- hypothesis
@st.composite
def tensors_and_dims(draw):
    shape = tuple(draw(st.lists(st.integers(0, 3), max_size=4)))
    ndim = len(shape)
    chosen = draw(st.lists(st.sampled_from(range(ndim)), unique=True, max_size=ndim)) if ndim else []
    dims = tuple(d - ndim if draw(st.booleans()) else d for d in chosen)
    dtype = draw(st.sampled_from(["float32", "float64", "int32", "bool"]))
    seed = draw(st.integers(0, 2**16))
    array = random_array(shape, dtype, np.random.default_rng(seed))
    return array, dims, draw(st.booleans())


@settings(max_examples=60, deadline=None)
@given(tensors_and_dims())
def test_dim_tuples_match_torch(case):
    array, dims, keepdim = case
    for name in ["sum", "mean", "var", "amax", "logsumexp", "norm", "any", "all"]:
        differential(_with_dim(MULTI[name], dims, keepdim), array)


@settings(max_examples=40, deadline=None)
@given(tensors_and_dims(), st.integers(-5, 5))
def test_single_dims_match_torch(case, dim):
    array, _, keepdim = case
    for name in ["max", "argmin", "prod", "cumsum"]:
        differential(_with_dim(SINGLE[name], dim, keepdim), array)


# ----------------------------------------------------------------- errors
def test_dim_out_of_range_is_an_index_error():
    x = ct.zeros(2, 3)
    for call in (lambda: x.sum(2), lambda: x.mean((0, -3)), lambda: x.max(5), lambda: x.argmax(-3),
                 lambda: x.cumsum(2), lambda: x.logsumexp(7), lambda: x.norm(dim=3), lambda: x.all(2)):
        with pytest.raises(IndexError, match=r"dimension out of range \(expected to be in range of \[-2, 1\]"):
            call()
    with pytest.raises(IndexError, match=r"sum: dimension out of range \(expected to be in range of \[-1, 0\], "
                                         r"but got 1\)"):
        ct.tensor(5.0).sum(1)


def test_repeated_dims_are_refused():
    with pytest.raises(RuntimeError, match=r"sum: dim 0 appears multiple times in the list of dims \[0, -2\]"):
        ct.zeros(2, 3).sum((0, -2))
    with pytest.raises(ct.ShapeError, match="appears multiple times"):
        ct.zeros(2, 3).amax([1, 1])


def test_dim_must_be_an_integer():
    with pytest.raises(TypeError, match="sum: dim must be an integer, got float"):
        ct.zeros(2).sum(0.5)
    with pytest.raises(TypeError, match="argmax: dim must be an integer, got tuple"):
        ct.zeros(2).argmax((0,))
    with pytest.raises(TypeError, match="dim must be an integer, got str"):
        ct.zeros(2).max("a")


def test_floating_only_reductions_name_the_dtype():
    i = ct.tensor([1, 2, 3])
    with pytest.raises(TypeError, match=r"mean\(\): could not infer output dtype. Input dtype must be either a "
                                        r"floating point or complex dtype. Got: cogtensor.int64"):
        i.mean()
    with pytest.raises(RuntimeError, match=r"Optional dtype must be .* Got: cogtensor.int32"):
        ct.ones(3).mean(dtype=ct.int32)
    with pytest.raises(TypeError, match="var: std and var only support floating point dtypes, got cogtensor.int64"):
        i.var()
    with pytest.raises(ct.DTypeError, match="std: std and var only support"):
        i.std()
    with pytest.raises(TypeError, match=r"norm: expected a floating point tensor .*, got cogtensor.int64"):
        i.norm()
    with pytest.raises(RuntimeError, match=r"argmax\(\): does not support bool input"):
        ct.tensor([True]).argmax()


def test_empty_reductions_without_identity():
    e = ct.zeros(0, 3)
    with pytest.raises(RuntimeError, match=r"max\(\): Expected reduction dim to be specified for "
                                           r"input.numel\(\) == 0"):
        e.max()
    with pytest.raises(IndexError, match=r"min\(\): Expected reduction dim 0 to have non-zero size"):
        e.min(0)
    with pytest.raises(IndexError, match=r"argmax\(\): Expected reduction dim to be specified"):
        e.argmax()
    with pytest.raises(RuntimeError, match="norm: cannot compute the inf norm on an empty tensor because the "
                                           "operation does not have an identity"):
        e.norm(math.inf)
    with pytest.raises(ct.ShapeError, match="norm: cannot compute the -1 norm on the dimension 0 because this "
                                            "dimension is empty"):
        e.norm(-1, dim=0)
    assert e.max(1).values.shape == (0,) and e.sum().item() == 0 and math.isnan(e.mean().item())
    assert e.prod().item() == 1 and e.all().item() is True and e.any().item() is False
    assert e.logsumexp(0).tolist() == [-math.inf] * 3 and e.norm().item() == 0


def test_argument_errors():
    x = ct.ones(2, 3)
    with pytest.raises(TypeError, match="pass either unbiased or correction, not both"):
        x.var(0, unbiased=True, correction=1)
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'dim'"):
        x.cumsum()
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'dim'"):
        x.logsumexp()
    with pytest.raises(NotImplementedError, match="nuclear norm"):
        x.norm("nuc")
    with pytest.raises(ValueError, match=r"norm: p must be a number, 'fro' or 'nuc', got 'euclid'"):
        x.norm("euclid")
    with pytest.raises(ct.ShapeError, match=r"the Frobenius norm reduces one or two dims, got dim=\[0, 1, 2\]"):
        ct.ones(2, 2, 2).norm("fro", dim=(0, 1, 2))
    for call, op in [(lambda: x.sum(dtype=np.float64), "sum"), (lambda: x.mean(dtype="float64"), "mean"),
                     (lambda: x.cumsum(0, dtype=float), "cumsum"), (lambda: x.norm(dtype=np.float64), "norm")]:
        with pytest.raises(TypeError, match=rf"{op}: dtype must be a cogtensor dtype \(e.g. cogtensor.float64\)"):
            call()
