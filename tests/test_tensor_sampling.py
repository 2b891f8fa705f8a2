"""Random sampling: seeded reproducibility, distributions (moments and frequencies within a few
standard errors, fixed seeds), shapes and dtypes as torch's, in-place rules and errors as torch."""

import math

import numpy as np
import pytest
import torch
from torch_reference import torch_single_thread  # noqa: F401 - autouse fixture

import cogtensor as ct

N = 100_000


def gen(seed=0):
    return ct.Generator().manual_seed(seed)


def within(values, mean, var, sigmas=5.0):
    """The sample mean is within ``sigmas`` standard errors of ``mean`` and the sample variance
    within 5% of ``var``."""
    values = np.asarray(values, np.float64)
    assert abs(values.mean() - mean) <= sigmas * math.sqrt(var / len(values)), (values.mean(), mean)
    assert abs(values.var() - var) <= 0.05 * var, (values.var(), var)


FILLS = [
    ("uniform_", (2.0, 5.0), 3.5, 9 / 12),
    ("normal_", (1.0, 2.0), 1.0, 4.0),
    ("exponential_", (2.0,), 0.5, 0.25),
    ("geometric_", (0.25,), 4.0, 0.75 / 0.25**2),
    ("log_normal_", (0.0, 0.5), math.exp(0.125), (math.exp(0.25) - 1) * math.exp(0.25)),
    ("bernoulli_", (0.3,), 0.3, 0.21),
    ("random_", (3, 9), 5.5, (6**2 - 1) / 12),
]


@pytest.mark.parametrize("name, args, mean, var", FILLS, ids=[f[0] for f in FILLS])
def test_fills_follow_their_distribution_and_return_self(name, args, mean, var):
    x = ct.empty(N, dtype=ct.float64)
    assert getattr(x, name)(*args, generator=gen(1)) is x
    within(x.numpy(), mean, var)
    again = getattr(ct.empty(N, dtype=ct.float64), name)(*args, generator=gen(1))
    np.testing.assert_array_equal(again.numpy(), x.numpy())  # same seed, same numbers


def test_cauchy_median_and_quartiles():
    x = ct.empty(N).cauchy_(2.0, 0.5, generator=gen(2)).numpy()
    q1, med, q3 = np.quantile(x, [0.25, 0.5, 0.75])
    assert abs(med - 2.0) < 0.02 and abs(q1 - 1.5) < 0.02 and abs(q3 - 2.5) < 0.02


def test_default_generator_follows_manual_seed_and_generators_are_independent():
    ct.manual_seed(7)
    a = ct.empty(5).normal_()
    ct.manual_seed(7)
    ct.empty(3).uniform_(generator=gen(99))  # its own stream: leaves the default one alone
    b = ct.empty(5).normal_()
    np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("dtype", ["int64", "int32", "int8", "uint8", "bool", "float16", "float32"])
def test_random_default_ranges_match_torch(dtype):
    x, t = ct.empty(N, dtype=getattr(ct, dtype)).random_(generator=gen(3)), torch.empty(N, dtype=getattr(torch, dtype))
    t.random_()
    hi = {"float16": 2**11, "float32": 2**24, "bool": 1}.get(dtype) or np.iinfo(getattr(np, dtype)).max
    values = x.numpy().astype(np.float64)
    assert values.min() >= 0 and values.max() <= hi and (values == np.round(values)).all()
    assert values.max() > 0.9 * hi  # the whole range is used, as torch's
    assert x.dtype.name == str(t.dtype).removeprefix("torch.")
    bounded = ct.empty(N, dtype=getattr(ct, dtype)).random_(2, generator=gen(4)).numpy().astype(np.float64)
    assert set(np.unique(bounded)) == {0.0, 1.0}


def test_bernoulli_forms_match_torch_shapes_and_probabilities():
    probs = ct.tensor([0.0, 0.25, 1.0], dtype=ct.float64).expand(N, 3)
    draws = ct.bernoulli(probs, generator=gen(5)).numpy()
    assert draws.dtype == np.float64 and draws.shape == (N, 3)
    assert (draws[:, 0] == 0).all() and (draws[:, 2] == 1).all()
    within(draws[:, 1], 0.25, 0.1875)
    fixed = ct.zeros(N).bernoulli(0.75, generator=gen(6)).numpy()
    within(fixed, 0.75, 0.1875)
    tensor_p = ct.zeros(3).bernoulli_(ct.tensor([0.0, 1.0, 1.0]))
    np.testing.assert_array_equal(tensor_p.numpy(), torch.zeros(3).bernoulli_(torch.tensor([0.0, 1.0, 1.0])).numpy())
    ints = ct.zeros(4, dtype=ct.int64).bernoulli_(1.0)
    assert ints.dtype == ct.int64 and ints.tolist() == [1, 1, 1, 1]


@pytest.mark.parametrize("replacement", [True, False])
def test_multinomial_frequencies_chi_square(replacement):
    weights = np.array([1.0, 0.0, 3.0, 6.0])
    probs = weights / weights.sum()
    rows = ct.tensor(np.tile(weights, (N // 2, 1)))
    picks = rows.multinomial(1 if not replacement else 2, replacement, generator=gen(8)).numpy()
    counts = np.bincount(picks.reshape(-1), minlength=4)
    assert counts[1] == 0  # weight 0: never drawn while positive weights remain
    expected = probs * picks.size
    chi2 = (((counts - expected) ** 2)[probs > 0] / expected[probs > 0]).sum()
    assert chi2 < 20  # 2 degrees of freedom: P(chi2 > 20) ~ 5e-5


def test_multinomial_without_replacement_draws_distinct_categories():
    w = ct.tensor(np.random.default_rng(0).random((200, 6)))
    picks = ct.multinomial(w, 6, generator=gen(9)).numpy()
    assert picks.shape == (200, 6) and picks.dtype == np.int64
    assert (np.sort(picks, axis=1) == np.arange(6)).all()
    # first draw: frequencies follow the weights of a single row
    row = np.array([0.1, 0.2, 0.7])
    first = ct.tensor(np.tile(row, (N, 1))).multinomial(2, generator=gen(10)).numpy()[:, 0]
    within(first == 2, 0.7, 0.21)
    # zero-weight categories come last, as torch draws them
    tail = ct.multinomial(ct.tensor([1.0, 0.0, 1.0]), 3, generator=gen(11)).numpy()
    assert tail[2] == 1 and set(tail[:2]) == {0, 2}
    assert ct.multinomial(ct.tensor([1.0, 2.0]), 4, True).shape == torch.multinomial(torch.tensor([1.0, 2.0]), 4,
                                                                                       True).shape


def test_normal_overloads_match_torch_shapes_and_dtypes():
    cases = [((ct.zeros(2, 1), ct.ones(3)), (torch.zeros(2, 1), torch.ones(3))),
             ((ct.zeros(4, dtype=ct.float64), 2.0), (torch.zeros(4, dtype=torch.float64), 2.0)),
             ((1.0, ct.ones(3)), (1.0, torch.ones(3)))]
    for ours, theirs in cases:
        o, t = ct.normal(*ours), torch.normal(*theirs)
        assert o.shape == t.shape and o.dtype.name == str(t.dtype).removeprefix("torch.")
    assert ct.normal(0.0, 1.0, (2, 3)).shape == (2, 3) and ct.normal(0.0, 1.0, (2,)).dtype == ct.float32
    values = ct.normal(ct.full((N,), 3.0, dtype=ct.float64), ct.full((N,), 0.5, dtype=ct.float64), generator=gen(12))
    within(values.numpy(), 3.0, 0.25)


def test_poisson_moments():
    rates = ct.full((N,), 4.0, dtype=ct.float64)
    within(ct.poisson(rates, gen(13)).numpy(), 4.0, 4.0)
    assert ct.poisson(ct.zeros(3)).tolist() == [0.0, 0.0, 0.0]


def test_empty_tensors():
    assert ct.empty(0).uniform_().shape == (0,)
    assert ct.empty(0, 3).normal_().shape == (0, 3)
    assert ct.bernoulli(ct.empty(0)).shape == (0,)


ERRORS = [
    (lambda lib: lib.zeros(2).uniform_(2, 1), "uniform_ expects to return a"),
    (lambda lib: lib.zeros(2).normal_(0, -1), "normal expects std >= 0.0"),
    (lambda lib: lib.zeros(2).exponential_(-1), "exponential_ expects lambda > 0.0"),
    (lambda lib: lib.zeros(2).geometric_(0), "geometric_ expects p to be in"),
    (lambda lib: lib.zeros(2).bernoulli_(1.5), "bernoulli_ expects p to be in"),
    (lambda lib: lib.zeros(2).random_(3, 2), "random_ expects 'from' to be less than 'to'"),
    (lambda lib: lib.zeros(2, dtype=lib.int64).normal_(), "not implemented for"),
    (lambda lib: lib.multinomial(lib.tensor([0.0, 0.0]), 1), "sum of probabilities <= 0"),
    (lambda lib: lib.multinomial(lib.tensor([1.0, -1.0]), 1), "probability tensor contains"),
    (lambda lib: lib.multinomial(lib.tensor([1.0, float("nan")]), 1), "probability tensor contains"),
    (lambda lib: lib.multinomial(lib.tensor([1.0, float("inf")]), 1), "probability tensor contains"),
    (lambda lib: lib.multinomial(lib.tensor([1.0, 1.0]), 3), "without replacement"),
    (lambda lib: lib.multinomial(lib.tensor([1.0, 1.0]), 0), "n_sample <= 0"),
    (lambda lib: lib.multinomial(lib.ones(2, 2, 2), 1), "1 or 2 dim"),
    (lambda lib: lib.multinomial(lib.tensor([1, 2]), 1), "floating-point dtypes"),
    (lambda lib: lib.poisson(lib.tensor([1.0, -1.0])), "non-negative"),
    (lambda lib: lib.normal(lib.zeros(2), -1.0), "normal expects"),
]


@pytest.mark.parametrize("fn, message", ERRORS, ids=[m for _, m in ERRORS])
def test_errors_match_torch_types(fn, message):
    with pytest.raises(Exception) as theirs:
        fn(torch)
    with pytest.raises(type(theirs.value), match=message):
        fn(ct)


def test_in_place_fill_of_a_leaf_that_requires_grad():
    w, tw = ct.zeros(3, requires_grad=True), torch.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w.normal_()
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        tw.normal_()
    saved = (w * w).sum()  # its backward reads w
    with ct.no_grad():
        w.uniform_(-1, 1)
    assert w.requires_grad and np.abs(w.numpy()).max() <= 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        saved.backward()
