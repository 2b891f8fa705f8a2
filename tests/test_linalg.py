"""cogtensor.linalg against torch.linalg (torch 2.13 CPU): values on random batched, non-contiguous
and empty inputs in float32 and float64, errors, float64 gradchecks of every differentiable function,
gradients and Hessian-vector products against torch's. Gauge-dependent outputs (singular vectors,
eigenvectors) enter gradient tests only through sign-invariant functions, as in torch's own tests."""

import math

import numpy as np
import pytest
import torch
from torch_reference import torch_single_thread  # noqa: F401 - autouse fixture

import cogtensor as ct
from cogtensor import graph
from cogtensor import linalg as LA
from cogtensor.errors import LinAlgError, NotImplementedForDType, ShapeError

try:
    from cogtensor.autograd import gradcheck as public_gradcheck, gradgradcheck as public_gradgradcheck
except ImportError:  # the numerical Jacobian below stands in where cogtensor.autograd is missing
    public_gradcheck = public_gradgradcheck = None

TL = torch.linalg
TOL = {np.float32: {"rtol": 2e-4, "atol": 2e-5}, np.float64: {"rtol": 1e-9, "atol": 1e-11}}


# ------------------------------------------------------------------ helpers
def rand(*shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def invertible(*batch, n=3, seed=0, dtype=np.float64):
    """Random matrices kept well away from singular (the comparisons are about the code, not conditioning)."""
    return (rand(*batch, n, n, seed=seed) + 3 * np.eye(n)).astype(dtype)


def spd(*batch, n=3, seed=0, dtype=np.float64):
    a = rand(*batch, n, n, seed=seed)
    return (a @ np.swapaxes(a, -1, -2) + n * np.eye(n)).astype(dtype)


def pair(a, strided=False):
    """The same values as a cogtensor and a torch tensor; ``strided`` gives both as transposed views."""
    if strided:
        a = np.ascontiguousarray(np.swapaxes(a, -1, -2))
        return ct.from_numpy(a.copy()).mT, torch.from_numpy(a.copy()).mT
    return ct.from_numpy(a.copy()), torch.from_numpy(a.copy())


def close(ours, theirs, tol=None):
    """Same dtype, shape and values (NaN where torch has NaN)."""
    assert ours.dtype.name == str(theirs.dtype).removeprefix("torch."), (ours.dtype, theirs.dtype)
    assert tuple(ours.shape) == tuple(theirs.shape), (ours.shape, theirs.shape)
    want = theirs.detach().numpy()
    exact = {"rtol": 0, "atol": 0}
    np.testing.assert_allclose(ours.detach().numpy(), want, equal_nan=True, **(tol or TOL.get(want.dtype.type, exact)))


def sign_aligned(ours, theirs, axis):
    """``ours`` with each vector along ``axis`` flipped to point like torch's (singular/eigen vectors)."""
    dots = np.sum(ours.numpy() * theirs.numpy(), axis=axis, keepdims=True)
    return ct.from_numpy(ours.numpy() * np.where(dots < 0, -1, 1).astype(ours.numpy().dtype))


def grads(outputs, inputs, grad_outputs, create_graph=False):
    """d(outputs)/d(inputs) contracted with grad_outputs; None where an input was not used."""
    return graph.run_backward(list(outputs), list(grad_outputs), retain_graph=True, create_graph=create_graph,
                              inputs=list(inputs), allow_unused=True)


def numerical_gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3):
    """torch.autograd.gradcheck's test: the Jacobian from backward equals central differences."""
    out = fn(*inputs)
    flat_out = out.numpy().ravel()
    rows = []
    for k in range(flat_out.size):
        seed = np.zeros(flat_out.size)
        seed[k] = 1.0
        row = grads([out], inputs, [ct.from_numpy(seed.reshape(out.shape))])
        rows.append([np.zeros(x.numel()) if g is None else g.numpy().ravel() for g, x in zip(row, inputs)])
    for i, x in enumerate(inputs):  # (with grad mode on: fn may itself take gradients)
        values = x.numpy().reshape(-1)
        for j in range(values.size):
            keep = values[j]
            values[j] = keep + eps
            plus = fn(*inputs).detach().numpy().ravel().copy()
            values[j] = keep - eps
            minus = fn(*inputs).detach().numpy().ravel()
            values[j] = keep
            np.testing.assert_allclose([r[i][j] for r in rows], (plus - minus) / (2 * eps), rtol=rtol, atol=atol,
                                       err_msg=f"input {i}, element {j}")
    return True


def gradcheck(fn, arrays):
    inputs = [ct.from_numpy(np.array(a, dtype=np.float64)).requires_grad_() for a in arrays]
    check = public_gradcheck or numerical_gradcheck
    assert check(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3)


def flat(m, *parts):
    """Several results as one 1-D tensor, so one upstream gradient drives them all."""
    return m.cat([p.reshape(-1) for p in parts])


# --------------------------------------------------- differentiable cases
def svd_tall(L, m, a):
    U, S, Vh = L.svd(a, full_matrices=False)
    return flat(m, U @ Vh, S, U.abs(), Vh.abs())


def svd_wide_full(L, m, a):
    U, S, Vh = L.svd(a)  # the extra rows of Vh take no part, as torch
    return flat(m, U @ Vh.narrow(-2, 0, S.shape[-1]), S, (Vh.narrow(-2, 0, S.shape[-1]) * 2).abs())


def eigh_sym(L, m, a, uplo="L"):
    lam, V = L.eigh(a + a.mT, UPLO=uplo)
    return flat(m, lam, V.abs(), (V * lam.unsqueeze(-2)) @ V.mT)


def qr_both(L, m, a, mode="reduced"):
    Q, R = L.qr(a, mode=mode)
    return flat(m, Q, R)


def eye64(m, n):
    return m.eye(n, dtype=m.float64)


# name -> (function of (linalg module, tensor module, *inputs), input arrays)
CASES = {
    "svd tall": (svd_tall, [rand(2, 4, 3)]),
    "svd wide full_matrices": (svd_wide_full, [rand(3, 5, seed=1)]),
    "svdvals": (lambda L, m, a: L.svdvals(a), [rand(2, 3, 4, seed=2)]),
    "eigh": (eigh_sym, [rand(2, 3, 3, seed=3)]),
    "eigh upper": (lambda L, m, a: eigh_sym(L, m, a, "U"), [rand(3, 3, seed=4)]),
    "eigvalsh": (lambda L, m, a: L.eigvalsh(a + a.mT), [rand(2, 3, 3, seed=5)]),
    "qr tall": (qr_both, [rand(2, 4, 3, seed=6)]),
    "qr wide": (qr_both, [rand(3, 5, seed=7)]),
    "qr complete wide": (lambda L, m, a: qr_both(L, m, a, "complete"), [rand(2, 4, seed=8)]),
    "cholesky": (lambda L, m, a: L.cholesky(a @ a.mT + eye64(m, 3)), [rand(2, 3, 3, seed=9)]),
    "cholesky upper": (lambda L, m, a: L.cholesky(a @ a.mT + eye64(m, 3), upper=True), [rand(3, 3, seed=10)]),
    "solve broadcast": (lambda L, m, a, b: L.solve(a, b), [invertible(2, 1, seed=11), rand(3, 3, 2, seed=12)]),
    "solve vector": (lambda L, m, a, b: L.solve(a, b), [invertible(2, seed=13), rand(3, seed=14)]),
    "solve left=False": (lambda L, m, a, b: L.solve(a, b, left=False), [invertible(2, seed=15), rand(2, 4, 3)]),
    "inv": (lambda L, m, a: L.inv(a), [invertible(2, seed=16)]),
    "det": (lambda L, m, a: L.det(a), [rand(2, 3, 3, seed=17)]),
    "slogdet": (lambda L, m, a: L.slogdet(a).logabsdet, [rand(2, 3, 3, seed=18)]),
    "pinv tall": (lambda L, m, a: L.pinv(a), [rand(2, 4, 3, seed=19)]),
    "pinv wide": (lambda L, m, a: L.pinv(a), [rand(3, 5, seed=20)]),
    "pinv hermitian": (lambda L, m, a: L.pinv(a + a.mT + 6 * eye64(m, 3), hermitian=True), [rand(3, 3, seed=21)]),
    "lstsq": (lambda L, m, a, b: L.lstsq(a, b).solution, [rand(2, 5, 3, seed=22), rand(1, 5, 2, seed=23)]),
    "lstsq vector": (lambda L, m, a, b: L.lstsq(a, b).solution, [rand(5, 3, seed=24), rand(5, seed=25)]),
    "lstsq wide": (lambda L, m, a, b: L.lstsq(a, b).solution, [rand(3, 5, seed=26), rand(3, 2, seed=27)]),
    "lstsq residuals": (lambda L, m, a, b: flat(m, *L.lstsq(a, b, driver="gelsd")[:2]),
                        [rand(2, 5, 3, seed=28), rand(2, 5, 2, seed=29)]),
    "cross": (lambda L, m, a, b: L.cross(a, b, dim=1), [rand(2, 3, 4, seed=30), rand(1, 3, 4, seed=31)]),
    **{f"vector_norm {o}": (lambda L, m, a, o=o: L.vector_norm(a, o, dim=(0, 2)), [rand(2, 3, 4, seed=32)])
       for o in (2, 1, 0.5, 1.5, 3, math.inf, -math.inf, -1)},
    **{f"matrix_norm {o}": (lambda L, m, a, o=o: L.matrix_norm(a, o, dim=(0, 2)), [rand(3, 2, 4, seed=33)])
       for o in ("fro", "nuc", 2, -2, 1, -1, math.inf, -math.inf)},
    "matrix_norm keepdim": (lambda L, m, a: L.matrix_norm(a, 2, keepdim=True), [rand(2, 3, 4, seed=34)]),
}
# piecewise-linear in the input: no second derivative to compare
FIRST_ORDER_ONLY = {"vector_norm 1", "vector_norm inf", "vector_norm -inf", "matrix_norm 1", "matrix_norm -1",
                    "matrix_norm inf", "matrix_norm -inf", "cross"}


def strided_leaves(arrays):
    """Leaves holding the arrays' values every other column; the ops see non-contiguous views."""
    ours, theirs, views = [], [], []
    for a in arrays:
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],))
        big[..., ::2] = a
        x, t = ct.from_numpy(big.copy()).requires_grad_(), torch.from_numpy(big.copy()).requires_grad_()
        ours.append(x)
        theirs.append(t)
        views.append((x[..., ::2], t[..., ::2]))
    return ours, theirs, views


@pytest.mark.parametrize("name", list(CASES))
def test_gradients_match_torch(name):
    fn, arrays = CASES[name]
    ours, theirs, views = strided_leaves(arrays)
    out, want = fn(LA, ct, *[v[0] for v in views]), fn(TL, torch, *[v[1] for v in views])
    close(out, want)
    upstream = rand(*want.shape, seed=99)
    out.backward(ct.from_numpy(upstream))
    want.backward(torch.from_numpy(upstream))
    for x, t in zip(ours, theirs):
        close(x.grad, t.grad, {"rtol": 1e-7, "atol": 1e-9})


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck(name):
    fn, arrays = CASES[name]
    gradcheck(lambda *xs: fn(LA, ct, *xs), arrays)


def hessian_vector_products(fn, arrays):
    """(ours, torch's) d/dx <d<w, fn(x)>/dx, v> for random w and v, through create_graph=True."""
    ours = [ct.from_numpy(a.copy()).requires_grad_() for a in arrays]
    theirs = [torch.from_numpy(a.copy()).requires_grad_() for a in arrays]
    out, want = fn(LA, ct, *ours), fn(TL, torch, *theirs)
    w, vs = rand(*want.shape, seed=7), [rand(*a.shape, seed=8 + i) for i, a in enumerate(arrays)]
    g_ours = grads([(out * ct.from_numpy(w)).sum()], ours, [ct.tensor(1.0, dtype=ct.float64)], create_graph=True)
    g_theirs = torch.autograd.grad((want * torch.from_numpy(w)).sum(), theirs, create_graph=True)
    dot_ours = sum((g * ct.from_numpy(v)).sum() for g, v in zip(g_ours, vs))
    dot_theirs = sum((g * torch.from_numpy(v)).sum() for g, v in zip(g_theirs, vs))
    hv_theirs = torch.autograd.grad(dot_theirs, theirs, allow_unused=True)
    hv_theirs = [np.zeros(a.shape) if h is None else h.numpy(force=True) for h, a in zip(hv_theirs, arrays)]
    return [h.numpy() for h in grads([dot_ours], ours, [ct.tensor(1.0, dtype=ct.float64)])], hv_theirs


@pytest.mark.parametrize("name", [n for n in CASES if n not in FIRST_ORDER_ONLY])
def test_hessian_vector_products_match_torch(name):
    for mine, want in zip(*hessian_vector_products(*CASES[name])):
        np.testing.assert_allclose(mine, want, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", ["det", "svd tall", "eigh", "qr tall", "cholesky", "solve broadcast", "pinv tall",
                                  "lstsq", "matrix_norm nuc", "vector_norm 3"])
def test_gradgradcheck(name):
    """Second derivatives against finite differences of the first (torch's gradgradcheck)."""
    fn, arrays = CASES[name]
    inputs = [ct.from_numpy(np.array(a)).requires_grad_() for a in arrays]
    if public_gradgradcheck is not None:
        assert public_gradgradcheck(lambda *xs: fn(LA, ct, *xs), inputs)
        return
    out_grad = ct.from_numpy(rand(*fn(LA, ct, *inputs).shape, seed=70))

    def first_derivative(*xs):
        return ct.cat([g.reshape(-1) for g in grads([fn(LA, ct, *xs)], xs, [out_grad], create_graph=True)])

    assert numerical_gradcheck(first_derivative, inputs)


# -------------------------------------------------- gradients: special points
def test_svd_repeated_singular_values_as_torch():
    """S-only losses are differentiable at repeated singular values (U diag(gS) Vh); losses of U/V
    divide by S_j^2 - S_i^2 and give NaN there, as torch."""
    q = np.linalg.qr(rand(3, 3, seed=42))[0] * 2.0  # every singular value is 2
    for loss in (lambda L, m, a: L.svdvals(a).sum(), lambda L, m, a: L.matrix_norm(a, "nuc"),
                 lambda L, m, a: (L.svd(a)[0] @ L.svd(a)[2]).sum()):
        x, t = ct.from_numpy(q.copy()).requires_grad_(), torch.from_numpy(q.copy()).requires_grad_()
        loss(LA, ct, x).backward()
        loss(TL, torch, t).backward()
        close(x.grad, t.grad, {"rtol": 1e-9, "atol": 1e-12})
    gradcheck(lambda a: LA.matrix_norm(a, "nuc"), [q])


def test_det_gradient_of_singular_matrices():
    """The adjugate from the SVD, as torch's create_graph path (torch's first-order path gives 0 for
    an exactly singular matrix; the adjugate is the derivative); a mixed batch uses both formulas."""
    a = np.stack([[[1.0, 2, 3], [2, 4, 6], [1, 0, 1]], invertible(seed=43), [[1.0, 1, 1], [1, 1, 1], [1, 1, 1]]])
    x, t = ct.from_numpy(a.copy()).requires_grad_(), torch.from_numpy(a.copy()).requires_grad_()
    w = rand(3, seed=44)
    (LA.det(x) * ct.from_numpy(w)).sum().backward()
    want = torch.autograd.grad((TL.det(t) * torch.from_numpy(w)).sum(), t, create_graph=True)[0]
    close(x.grad, want, {"rtol": 1e-9, "atol": 1e-12})
    cofactors = np.array([[4.0, 4, -4], [-2, -2, 2], [0, 0, 0]])
    np.testing.assert_allclose(x.grad.numpy()[0], w[0] * cofactors, atol=1e-12)
    for mine, want in zip(*hessian_vector_products(lambda L, m, b: L.det(b), [a])):
        np.testing.assert_allclose(mine, want, rtol=1e-7, atol=1e-9)


def test_vector_norm_gradient_at_zero_is_zero():
    for o in (2, 1, 0.5, 1.5, 3, math.inf, -math.inf, -1):
        x = ct.zeros(3, dtype=ct.float64).requires_grad_()
        LA.vector_norm(x, o).backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.zeros(3))
    x = ct.ones(3, dtype=ct.float64).requires_grad_()
    LA.vector_norm(x, 0).backward()  # piecewise constant: no gradient reaches x, as torch
    assert x.grad is None


def test_gradient_errors():
    a = ct.from_numpy(rand(4, 3)).requires_grad_()
    with pytest.raises(RuntimeError, match="mode='r'"):
        LA.qr(a, mode="r").R.sum().backward()
    with pytest.raises(RuntimeError, match="mode='complete' and nrows > ncols"):
        LA.qr(a, mode="complete").Q.sum().backward()
    s = ct.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=ct.float64).requires_grad_()
    with pytest.raises(LinAlgError, match="slogdet.*singular"):
        LA.slogdet(s).logabsdet.backward()
    with pytest.raises(LinAlgError, match="qr: backward: R is singular"):
        LA.qr(ct.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=ct.float64, requires_grad=True)).Q.sum().backward()


def test_outputs_that_have_no_gradient():
    a = ct.from_numpy(rand(5, 3)).requires_grad_()
    result = LA.lstsq(a, ct.from_numpy(rand(5, 2)), driver="gelsd")
    assert result.solution.requires_grad and result.residuals.requires_grad
    assert not result.rank.requires_grad and not result.singular_values.requires_grad
    assert not LA.matrix_rank(a).requires_grad
    assert LA.svd(a).U.grad_fn.name == "LinalgSvdBackward0"
    assert LA.svdvals(a).grad_fn.name == "LinalgSvdBackward0"
    with graph.no_grad():
        assert not LA.inv(ct.from_numpy(invertible()).requires_grad_()).requires_grad


# ------------------------------------------------------------------ values
DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 4, 3), (3, 5), (2, 1, 3, 3)])
@pytest.mark.parametrize("full_matrices", [True, False])
@pytest.mark.parametrize("strided", [False, True])
def test_svd_values(dtype, shape, full_matrices, strided):
    x, t = pair(rand(*shape, seed=50, dtype=dtype), strided)
    ours, theirs = LA.svd(x, full_matrices=full_matrices), TL.svd(t, full_matrices=full_matrices)
    assert type(ours).__name__ == "linalg_svd" and ours._fields == ("U", "S", "Vh")
    close(ours.S, theirs.S)
    close(LA.svdvals(x), theirs.S)
    k = ours.S.shape[-1]
    assert tuple(ours.U.shape) == tuple(theirs.U.shape) and tuple(ours.Vh.shape) == tuple(theirs.Vh.shape)
    close(sign_aligned(ours.U[..., :k], theirs.U[..., :k], -2), theirs.U[..., :k])
    close(sign_aligned(ours.Vh[..., :k, :], theirs.Vh[..., :k, :], -1), theirs.Vh[..., :k, :])
    u, vh = ours.U.numpy(), ours.Vh.numpy()  # the completed bases are orthonormal too (their choice is free)
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(np.swapaxes(u, -1, -2) @ u - np.eye(u.shape[-1]), 0, atol=100 * eps)
    np.testing.assert_allclose(vh @ np.swapaxes(vh, -1, -2) - np.eye(vh.shape[-2]), 0, atol=100 * eps)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh_values_read_one_triangle(dtype, uplo):
    a = rand(2, 4, 4, seed=51, dtype=dtype)  # not symmetric: only the UPLO triangle counts, as LAPACK
    x, t = pair(a, strided=True)
    ours, theirs = LA.eigh(x, UPLO=uplo), TL.eigh(t, UPLO=uplo)
    assert ours._fields == ("eigenvalues", "eigenvectors")
    close(ours.eigenvalues, theirs.eigenvalues)
    close(LA.eigvalsh(x, uplo), theirs.eigenvalues)
    close(sign_aligned(ours.eigenvectors, theirs.eigenvectors, -2), theirs.eigenvectors)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 5, 3), (3, 5), (4, 4)])
@pytest.mark.parametrize("mode", ["reduced", "complete", "r"])
def test_qr_values(dtype, shape, mode):
    x, t = pair(rand(*shape, seed=52, dtype=dtype), strided=True)
    (Q, R), (tQ, tR) = LA.qr(x, mode), TL.qr(t, mode)
    assert tuple(Q.shape) == tuple(tQ.shape) and Q.dtype.name == str(tQ.dtype)[6:]
    k = min(shape[-2:])
    signs = np.sign(np.sum(R.numpy()[..., :k, :] * tR.numpy()[..., :k, :], axis=-1, keepdims=True))
    close(ct.from_numpy(np.concatenate([R.numpy()[..., :k, :] * signs, R.numpy()[..., k:, :]], -2)), tR)
    if mode != "r":
        close(sign_aligned(Q[..., :k], tQ[..., :k], -2), tQ[..., :k])
        np.testing.assert_allclose((Q @ R).numpy(), x.numpy(), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_values_read_one_triangle(dtype, upper):
    a = spd(2, 3, n=4, seed=53, dtype=dtype)
    rows, cols = np.triu_indices(4, 1)
    if upper:
        a[..., cols, rows] = 99.0  # the lower triangle is not read
    else:
        a[..., rows, cols] = 99.0
    x, t = pair(a, strided=True)
    close(LA.cholesky(x, upper=upper), TL.cholesky(t, upper=upper))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("a_shape, b_shape, left", [
    ((3, 3), (3,), True), ((2, 3, 3), (2, 3), True), ((2, 1, 3, 3), (4, 3, 2), True), ((3, 3), (5, 2, 3), False),
    ((2, 3, 3), (3, 1), True), ((4, 4), (4, 0), True), ((0, 2, 2), (2, 1), True)])
def test_solve_values(dtype, a_shape, b_shape, left):
    a = invertible(*a_shape[:-2], n=a_shape[-1], seed=54, dtype=dtype)
    (x, t), (y, u) = pair(a, strided=True), pair(rand(*b_shape, seed=55, dtype=dtype))
    close(LA.solve(x, y, left=left), TL.solve(t, u, left=left))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4), (0, 3, 3), (2, 0, 0), (1, 1)])
def test_inv_det_slogdet_values(dtype, shape):
    x, t = pair(invertible(*shape[:-2], n=shape[-1], seed=56, dtype=dtype) - 3 * np.eye(shape[-1], dtype=dtype),
                strided=True)
    close(LA.inv(x), TL.inv(t), {"rtol": 1e-3, "atol": 1e-4} if dtype is np.float32 else None)
    close(LA.det(x), TL.det(t))
    ours, theirs = LA.slogdet(x), TL.slogdet(t)
    assert ours._fields == ("sign", "logabsdet")
    close(ours.sign, theirs.sign)
    close(ours.logabsdet, theirs.logabsdet)


def test_det_and_slogdet_of_singular_matrices():
    a = np.array([[[1.0, 2], [2, 4]], [[0, 0], [0, 0]], [[0, 1], [1, 0]]])
    x, t = pair(a)
    close(LA.det(x), TL.det(t))
    close(LA.slogdet(x).sign, TL.slogdet(t).sign)
    close(LA.slogdet(x).logabsdet, TL.slogdet(t).logabsdet)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("driver", [None, "gels", "gelsy", "gelsd", "gelss"])
@pytest.mark.parametrize("a_shape, b_shape", [((2, 5, 3), (2, 5, 2)), ((1, 5, 3), (2, 5, 2)), ((3, 5), (3, 2)),
                                              ((5, 3), (5,)), ((2, 5, 3), (2, 5)), ((0, 3), (0, 2)), ((4, 0), (4, 2))])
def test_lstsq_values(dtype, driver, a_shape, b_shape):
    x, t = pair(rand(*a_shape, seed=57, dtype=dtype), strided=True)
    y, u = pair(rand(*b_shape, seed=58, dtype=dtype))
    ours, theirs = LA.lstsq(x, y, driver=driver), TL.lstsq(t, u, driver=driver)
    assert ours._fields == ("solution", "residuals", "rank", "singular_values")
    if driver == "gels" and a_shape == (4, 0):  # torch's gels says 0 here, its gelsd |B|^2 (the residual of X = 0)
        theirs = (theirs[0], TL.lstsq(t, u, driver="gelsd").residuals, *theirs[2:])
    tol = {"rtol": 1e-3, "atol": 1e-4} if dtype is np.float32 else None
    for mine, want in zip(ours, theirs):
        close(mine, want, tol)


@pytest.mark.parametrize("driver", ["gelsy", "gelsd", "gelss"])
def test_lstsq_rank_deficient_gives_the_minimum_norm_solution(driver):
    a = np.stack([np.outer(rand(5, seed=59), rand(3, seed=60)), rand(5, 3, seed=61)])  # ranks 1 and 3
    (x, t), (y, u) = pair(a), pair(rand(2, 5, 2, seed=62))
    # rcond well inside the gap: the default (eps * 5) sits a few roundings above the rank-1 matrix's
    # second singular value, where LAPACK's rank estimates and the SVD's can land either side
    ours, theirs = LA.lstsq(x, y, 1e-10, driver=driver), TL.lstsq(t, u, 1e-10, driver=driver)
    close(ours.solution, theirs.solution, {"rtol": 1e-8, "atol": 1e-10})
    close(ours.rank, theirs.rank)
    close(ours.residuals, theirs.residuals)  # not full rank: empty, as torch
    # singular values 1, 1e-3, 0: rank 2 at the default rcond, 1 at rcond = 1e-2 (torch's gelsy, MKL's
    # QR with column pivoting, answered 0 for the first in some runs here, so the reference is the SVD's)
    tight = ct.from_numpy(np.diag([1.0, 1e-3, 0.0]))
    for rcond, rank in ((None, 2), (1e-2, 1)):
        result = LA.lstsq(tight, ct.ones(3, 1, dtype=ct.float64), rcond, driver=driver)
        assert result.rank.item() == rank
        np.testing.assert_allclose(result.solution.numpy().ravel(), [1.0, 1e3 if rank == 2 else 0.0, 0.0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs", [{}, {"atol": 0.5}, {"rtol": 0.3}, {"atol": 0.1, "rtol": 0.5}, {"hermitian": True},
                                    {"hermitian": True, "atol": 0.5}, {"atol": "tensor"}])
def test_pinv_and_matrix_rank_values(dtype, kwargs):
    a = rand(3, 4, 4, seed=63, dtype=dtype) * np.array([1.0, 0.6, 0.2, 1e-9], dtype=dtype)  # columns of falling scale
    a = a @ np.swapaxes(a, -1, -2) if kwargs.get("hermitian") else a
    x, t = pair(a, strided=True)
    mine, theirs = dict(kwargs), dict(kwargs)
    if kwargs.get("atol") == "tensor":
        tol = np.array([0.0, 0.05, 0.5])
        mine["atol"], theirs["atol"] = ct.from_numpy(tol), torch.from_numpy(tol)
    close(LA.matrix_rank(x, **mine), TL.matrix_rank(t, **theirs))
    close(LA.pinv(x, **mine), TL.pinv(t, **theirs), {"rtol": 1e-3, "atol": 1e-3} if dtype is np.float32 else None)


def test_pinv_and_matrix_rank_legacy_tolerances_and_empties():
    a = np.diag([1.0, 1e-3])
    x, t = pair(a)
    close(LA.pinv(x, 1e-2), TL.pinv(t, 1e-2))
    close(LA.matrix_rank(x, 1e-2), TL.matrix_rank(t, 1e-2))
    for shape in [(0, 3), (2, 3, 0), (0, 2, 2)]:
        x, t = pair(np.zeros(shape))
        close(LA.pinv(x), TL.pinv(t))
        close(LA.matrix_rank(x), TL.matrix_rank(t))


@pytest.mark.parametrize("dtype", DTYPES + [np.float16])
@pytest.mark.parametrize("ord", [2, 1, 0, 0.5, 3, -1, math.inf, -math.inf])
@pytest.mark.parametrize("dim, keepdim", [(None, False), (None, True), (1, False), ((0, 2), True), ((), False)])
def test_vector_norm_values(dtype, ord, dim, keepdim):
    a = rand(2, 3, 4, seed=64, dtype=dtype)
    a[0, 1, 2] = 0
    x, t = pair(a, strided=True)
    tol = {"rtol": 2e-3, "atol": 1e-3} if dtype is np.float16 else None
    close(LA.vector_norm(x, ord, dim, keepdim), TL.vector_norm(t, ord, dim, keepdim), tol)
    if dtype is np.float32:
        close(LA.vector_norm(x, ord, dim, keepdim, dtype=ct.float64),
              TL.vector_norm(t, ord, dim, keepdim, dtype=torch.float64))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ord", ["fro", "nuc", 2, -2, 1, -1, math.inf, -math.inf])
@pytest.mark.parametrize("dim, keepdim", [((-2, -1), False), ((0, 2), True), ((2, 0), False)])
def test_matrix_norm_values(dtype, ord, dim, keepdim):
    x, t = pair(rand(3, 2, 4, seed=65, dtype=dtype), strided=True)
    close(LA.matrix_norm(x, ord, dim, keepdim), TL.matrix_norm(t, ord, dim, keepdim))
    if dtype is np.float32:
        close(LA.matrix_norm(x, ord, dim, keepdim, dtype=ct.float64),
              TL.matrix_norm(t, ord, dim, keepdim, dtype=torch.float64))


@pytest.mark.parametrize("ord", ["fro", "nuc", 2, -2, 1, -1, math.inf, -math.inf])
@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 0), (2, 0, 3), (0, 2, 3)])
def test_matrix_norm_of_empty_matrices_as_torch(ord, shape):
    x, t = pair(np.zeros(shape, np.float32))
    try:
        want = TL.matrix_norm(t, ord)
    except IndexError:  # amin over an empty dimension has no identity
        with pytest.raises(IndexError):
            LA.matrix_norm(x, ord)
        return
    close(LA.matrix_norm(x, ord), want)


def test_low_precision_norms_and_cross():
    """float16 / bfloat16 accumulate in float32 and come back in their own dtype, as torch."""
    a, b = rand(3, 3, seed=66, dtype=np.float32), rand(3, 3, seed=69, dtype=np.float32)
    for dtype, torch_dtype in ((ct.float16, torch.float16), (ct.bfloat16, torch.bfloat16)):
        x, y = ct.from_numpy(a).to(dtype), ct.from_numpy(b).to(dtype)
        t, u = torch.from_numpy(a).to(torch_dtype), torch.from_numpy(b).to(torch_dtype)
        pairs = [(LA.matrix_norm(x, o), TL.matrix_norm(t, o)) for o in ("fro", 1, math.inf)]
        pairs += [(LA.vector_norm(x, 3, dim=0), TL.vector_norm(t, 3, dim=0)), (LA.cross(x, y), TL.cross(t, u))]
        for mine, want in pairs:
            assert mine.dtype is dtype
            np.testing.assert_allclose(mine.float().numpy(), want.float().numpy(), rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("a_shape, b_shape, dim", [((3,), (3,), -1), ((2, 1, 3), (1, 4, 3), -1), ((3, 5), (3, 1), 0),
                                                   ((0, 3), (0, 3), 1)])
@pytest.mark.parametrize("dtype", DTYPES + [np.int64])
def test_cross_values(a_shape, b_shape, dim, dtype):
    x, t = pair((rand(*a_shape, seed=67) * 5).astype(dtype))
    y, u = pair((rand(*b_shape, seed=68) * 5).astype(dtype))
    close(LA.cross(x, y, dim=dim), TL.cross(t, u, dim=dim))


@pytest.mark.parametrize("fn", [
    lambda L, a: L.svd(a), lambda L, a: L.svd(a, full_matrices=False), lambda L, a: L.svdvals(a),
    lambda L, a: L.qr(a), lambda L, a: L.qr(a, mode="complete"), lambda L, a: L.pinv(a), lambda L, a: L.matrix_rank(a),
    lambda L, a: L.vector_norm(a), lambda L, a: L.matrix_norm(a)])
@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 0), (0, 3, 2), (2, 0, 3)])
def test_empty_inputs_as_torch(fn, shape):
    x, t = pair(np.zeros(shape))
    mine, want = fn(LA, x), fn(TL, t)
    for m, w in zip(mine if isinstance(want, tuple) else (mine,), want if isinstance(want, tuple) else (want,)):
        close(m, w)


@pytest.mark.parametrize("fn", [lambda L, a: L.eigh(a), lambda L, a: L.eigvalsh(a), lambda L, a: L.cholesky(a),
                                lambda L, a: L.inv(a), lambda L, a: L.det(a), lambda L, a: L.slogdet(a),
                                lambda L, a: L.solve(a, a), lambda L, a: L.pinv(a, hermitian=True)])
@pytest.mark.parametrize("shape", [(0, 0), (0, 3, 3), (2, 0, 0)])
def test_empty_square_inputs_as_torch(fn, shape):
    test_empty_inputs_as_torch(fn, shape)


# ------------------------------------------------------------------ errors
def test_lin_alg_error_is_a_runtime_error_exported_from_linalg():
    assert LA.LinAlgError is LinAlgError and issubclass(LinAlgError, RuntimeError)


def test_singular_matrices_raise_lin_alg_error_naming_element_and_pivot():
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    with pytest.raises(LinAlgError, match=r"^linalg.inv: The diagonal element 2 is zero, the inversion could not "
                                          r"be completed because the input matrix is singular\.$"):
        LA.inv(ct.from_numpy(singular))
    batch = ct.from_numpy(np.stack([np.eye(2), singular]))
    with pytest.raises(LinAlgError, match=r"linalg.inv: \(Batch element 1\): The diagonal element 2 is zero"):
        LA.inv(batch)
    with pytest.raises(LinAlgError, match=r"linalg.solve: \(Batch element 1\): .*the solver failed because the "
                                          r"input matrix is singular"):
        LA.solve(batch, ct.ones(2, 2, dtype=ct.float64))
    with pytest.raises(LinAlgError, match="The diagonal element 1 is zero"):
        LA.solve(ct.zeros(2, 2), ct.ones(2), left=True)
    # torch's errors are RuntimeErrors, and so are ours
    with pytest.raises(RuntimeError):
        LA.inv(ct.from_numpy(singular))


def test_cholesky_of_a_matrix_that_is_not_positive_definite():
    with pytest.raises(LinAlgError, match=r"^linalg.cholesky: The factorization could not be completed because the "
                                          r"input is not positive-definite \(the leading minor of order 2 is not "
                                          r"positive-definite\)\.$"):
        LA.cholesky(ct.tensor([[1.0, 2.0], [2.0, 1.0]]))
    batch = np.stack([np.eye(3), np.diag([1.0, 2.0, -1.0])])
    with pytest.raises(LinAlgError, match=r"\(Batch element 1\).*leading minor of order 3"):
        LA.cholesky(ct.from_numpy(batch))
    with pytest.raises(LinAlgError, match="leading minor of order 1"):  # NaN: as torch, not NaN out
        LA.cholesky(ct.full((2, 2), float("nan")))


def test_non_finite_input_to_the_svd():
    a = np.stack([np.eye(2), np.full((2, 2), np.nan)])
    for fn in (LA.svd, LA.svdvals, LA.pinv, LA.matrix_rank, lambda x: LA.matrix_norm(x, 2)):
        with pytest.raises(LinAlgError, match=r"\(Batch element 1\): The algorithm failed to converge because the "
                                              "input matrix contained non-finite values"):
            fn(ct.from_numpy(a))


@pytest.mark.parametrize("fn", [LA.svd, LA.svdvals, LA.eigh, LA.eigvalsh, LA.qr, LA.cholesky, LA.inv, LA.det,
                                LA.slogdet, LA.pinv, LA.matrix_rank, lambda a: LA.solve(a, a), lambda a: LA.lstsq(a, a),
                                lambda a: LA.matrix_norm(a, 2), LA.vector_norm])
def test_integer_and_low_precision_inputs_are_refused(fn):
    for dtype in (ct.int64, ct.int32, ct.bool):
        with pytest.raises(NotImplementedForDType, match="floating point"):
            fn(ct.ones(3, 3, dtype=dtype))
    if fn is not LA.vector_norm:
        with pytest.raises(NotImplementedForDType, match="Low precision"):
            fn(ct.ones(3, 3, dtype=ct.float16))
    # a TypeError for cogtensor, and the RuntimeError / NotImplementedError torch raises
    assert issubclass(NotImplementedForDType, (TypeError)) and issubclass(NotImplementedForDType, RuntimeError)
    assert issubclass(NotImplementedForDType, NotImplementedError)


@pytest.mark.parametrize("call, error, message", [
    (lambda: LA.inv(ct.ones(3)), ShapeError, "at least 2 dimensions"),
    (lambda: LA.inv(ct.ones(2, 3)), ShapeError, "must be batches of square matrices, but they are 2 by 3"),
    (lambda: LA.det(ct.ones(2, 3)), ShapeError, "square"),
    (lambda: LA.eigh(ct.ones(2, 3)), ShapeError, "square"),
    (lambda: LA.eigh(ct.eye(2), UPLO="X"), ValueError, "Expected UPLO argument to be 'L' or 'U'"),
    (lambda: LA.qr(ct.eye(2), mode="x"), ValueError, "unrecognized mode 'x'"),
    (lambda: LA.svd(ct.eye(2), driver="gesvd"), ValueError, "driver"),
    (lambda: LA.svd(ct.eye(2).numpy()), TypeError, "must be a Tensor"),
    (lambda: LA.solve(ct.eye(3), ct.ones(2)), ShapeError, r"equation AX = B \(3x3 and 2x1\)"),
    (lambda: LA.solve(ct.eye(3), ct.ones(3), left=False), ShapeError, r"XA = B \(3x3 and 3x1\)"),
    (lambda: LA.solve(ct.eye(3), ct.ones(3, dtype=ct.float64)), TypeError, "same dtype"),
    (lambda: LA.solve(ct.ones(2, 3, 3), ct.ones(4, 3, 1)), ShapeError, "do not broadcast"),
    (lambda: LA.lstsq(ct.ones(5, 3), ct.ones(4, 2)), ShapeError, "should match"),
    (lambda: LA.lstsq(ct.ones(5, 3), ct.ones(2, 5, 2)), ShapeError, "input.dim"),
    (lambda: LA.lstsq(ct.ones(5, 3), ct.ones(5, 2), driver="foo"), ValueError, "should be one of"),
    (lambda: LA.lstsq(ct.ones(5, 3), ct.ones(5, 2, dtype=ct.float64)), TypeError, "same dtype"),
    (lambda: LA.pinv(ct.eye(2), 0.1, atol=0.1), TypeError, "either rcond or atol/rtol"),
    (lambda: LA.pinv(ct.eye(2), atol="big"), TypeError, "atol must be a float or a Tensor"),
    (lambda: LA.matrix_rank(ct.ones(3)), ShapeError, "at least 2 dimensions"),
    (lambda: LA.matrix_norm(ct.ones(2, 3), 3), ValueError, "Order 3 not supported"),
    (lambda: LA.matrix_norm(ct.ones(2, 3), "foo"), ValueError, "Order foo not supported"),
    (lambda: LA.matrix_norm(ct.ones(3)), ShapeError, "at least 2 dimensions"),
    (lambda: LA.matrix_norm(ct.ones(2, 3, 4), dim=(0, 1, 2)), ShapeError, "dim must be a 2-tuple"),
    (lambda: LA.matrix_norm(ct.ones(2, 3), dim=(0, -2)), ShapeError, "dims must be different"),
    (lambda: LA.matrix_norm(ct.ones(2, 3), 2, dtype=ct.float16), TypeError, "without narrowing"),
    (lambda: LA.matrix_norm(ct.ones(2, 3, dtype=ct.float16), "nuc"), TypeError, "Low precision"),
    (lambda: LA.vector_norm(ct.ones(3), "fro"), TypeError, "'ord' must be a real number"),
    (lambda: LA.vector_norm(ct.ones(3, dtype=ct.float64), dtype=ct.float32), TypeError, "without narrowing"),
    (lambda: LA.vector_norm(ct.ones(3), dtype=ct.int64), TypeError, "dtype should be floating point"),
    (lambda: LA.vector_norm(ct.ones(3, 3), dim=(0, 0)), ShapeError, "appears multiple times"),
    (lambda: LA.vector_norm(ct.ones(3, 3), dim=2), IndexError, "out of range"),
    (lambda: LA.vector_norm(ct.ones(0, 2), math.inf), ShapeError, "inf norm on an empty tensor"),
    (lambda: LA.vector_norm(ct.ones(0, 2), -1, dim=0), ShapeError, "-1 norm on the dimension 0"),
    (lambda: LA.cross(ct.ones(2, 4), ct.ones(2, 4)), ShapeError, "dimension -1 must have length 3. Got 4 and 4"),
    (lambda: LA.cross(ct.ones(2, 1), ct.ones(2, 3)), ShapeError, "Got 1 and 3"),
    (lambda: LA.cross(ct.ones(2, 1, 3), ct.ones(4, 3)), ShapeError, "same number of dimensions"),
    (lambda: LA.cross(ct.ones(2, 3), ct.ones(4, 3)), ShapeError, "do not broadcast"),
    (lambda: LA.cross(ct.ones(3), ct.ones(3, dtype=ct.float64)), TypeError, "same dtype"),
    (lambda: LA.cross(ct.ones(3, dtype=ct.bool), ct.ones(3, dtype=ct.bool)), NotImplementedError, "bool"),
    (lambda: LA.cross(ct.tensor(1.0), ct.tensor(2.0)), IndexError, "no dimensions"),
])
def test_argument_errors(call, error, message):
    with pytest.raises(error, match=message) as caught:
        call()
    if not isinstance(caught.value, TypeError) or isinstance(caught.value, NotImplementedForDType):
        assert isinstance(caught.value, (RuntimeError, IndexError)), "torch raises RuntimeError (or IndexError)"


@pytest.mark.parametrize("call", [
    lambda m: m.linalg.inv(m.ones(2, 3)), lambda m: m.linalg.qr(m.eye(2), mode="x"),
    lambda m: m.linalg.matrix_norm(m.ones(2, 3), 3), lambda m: m.linalg.cross(m.ones(2, 4), m.ones(2, 4)),
    lambda m: m.linalg.solve(m.eye(3), m.ones(2)), lambda m: m.linalg.vector_norm(m.ones(0), math.inf),
    lambda m: m.linalg.lstsq(m.ones(5, 3), m.ones(5, 2), driver="foo"),
    lambda m: m.linalg.svd(m.ones(3, dtype=m.int64))])
def test_errors_are_caught_by_torch_style_handlers(call):
    """Code catching torch's exception class catches ours."""
    with pytest.raises(Exception) as want:
        call(torch)
    with pytest.raises(type(want.value)):
        call(ct)
