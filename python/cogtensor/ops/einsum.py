"""``einsum``: Einstein summation with torch's equation syntax (ellipsis, implicit
output, sublist form) and result dtypes, planned once per equation and shapes.

Backward: the gradient of an operand is an einsum of the output gradient with the
other operands, onto that operand's distinct labels; labels summed inside that
operand alone are broadcast back, repeated labels (diagonals) are written back
onto the diagonal by :func:`_onto_diagonal` (whose own backward reads the
diagonal with einsum again), and broadcast size-1 dimensions are summed. All of
it is recorded, so gradients can be differentiated again.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from cogtensor import dtypes
from cogtensor.errors import DTypeError, ShapeError
from cogtensor.graph import attach
from cogtensor.ops.products import _is_tensor, product_arrays

__all__ = ["einsum"]

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ELLIPSIS = "."  # stands for "..." in parsed subscripts


def _parse_term(term: str, equation: str, offset: int, where: str) -> list[str]:
    """Subscripts of one term as labels, with ``_ELLIPSIS`` for '...'."""
    labels, i = [], 0
    while i < len(term):
        c = term[i]
        if c == ".":
            if term[i : i + 3] != "..." or _ELLIPSIS in labels:
                problem = "a second ellipsis" if _ELLIPSIS in labels else "a '.' that is not part of '...'"
                raise ValueError(f"einsum: {problem} in {where} of {equation!r}")
            labels.append(_ELLIPSIS)
            i += 3
            continue
        if c not in _LETTERS:
            raise ValueError(f"einsum: invalid subscript {c!r} at index {offset + i} of {equation!r}; "
                             "subscripts must be letters [a-zA-Z] (and '...')")
        labels.append(c)
        i += 1
    return labels


def _parse_equation(equation: str, n_operands: int):
    """Input terms and the output term (None when implicit) of an einsum equation."""
    if not isinstance(equation, str):
        raise TypeError(f"einsum: the equation must be a string, got {type(equation).__name__}")
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    if "->" in rhs:
        raise ValueError(f"einsum: {equation!r} has more than one '->'")
    terms = lhs.split(",")
    if len(terms) != n_operands:
        raise ValueError(f"einsum: the equation {equation!r} names {len(terms)} operand(s) but {n_operands} "
                         "were given")
    inputs, offset = [], 0
    for k, term in enumerate(terms):
        inputs.append(_parse_term(term, equation, offset, f"operand {k}"))
        offset += len(term) + 1
    output = _parse_term(rhs, equation, len(lhs) + 2, "the output") if arrow else None
    return inputs, output


def _label_sizes(inputs, operands, equation):
    """Each label's size (after broadcasting 1s) and the broadcast ellipsis shape."""
    sizes: dict[str, int] = {}
    ell_shape: tuple[int, ...] = ()
    for k, (labels, t) in enumerate(zip(inputs, operands)):
        n_named = len(labels) - (_ELLIPSIS in labels)
        if n_named > t.ndim or (_ELLIPSIS not in labels and n_named != t.ndim):
            raise ShapeError(f"einsum: operand {k} has {t.ndim} dimension(s) (shape {list(t.shape)}) but "
                             f"{n_named} subscript(s) in {equation!r}"
                             + ("" if _ELLIPSIS in labels else " and no ellipsis"))
        dims = _operand_dims(labels, t.ndim)
        seen: dict[str, int] = {}
        for label, size in zip(dims, t.shape):
            if label == _ELLIPSIS:
                continue
            if label in seen and seen[label] != size:
                raise ShapeError(f"einsum: subscript {label} is repeated for operand {k} but the sizes don't match, "
                                 f"{seen[label]} != {size} (shape {list(t.shape)})")
            seen[label] = size
            old = sizes.get(label, 1)
            if size != old and 1 not in (size, old):
                raise ShapeError(f"einsum: subscript {label} has size {size} for operand {k} (shape "
                                 f"{list(t.shape)}), which does not broadcast with the size {old} seen before")
            sizes[label] = old if size == 1 else size
        ell = tuple(s for lab, s in zip(dims, t.shape) if lab == _ELLIPSIS)
        try:
            ell_shape = np.broadcast_shapes(ell_shape, ell)
        except ValueError:
            raise ShapeError(f"einsum: the dimensions covered by '...' in operand {k} ({list(ell)}) do not "
                             f"broadcast with those seen before ({list(ell_shape)})") from None
    return sizes, ell_shape


def _operand_dims(labels, ndim):
    """One label per dimension, ``_ELLIPSIS`` for each dimension the ellipsis covers."""
    if _ELLIPSIS not in labels:
        return list(labels)
    i = labels.index(_ELLIPSIS)
    return labels[:i] + [_ELLIPSIS] * (ndim - len(labels) + 1) + labels[i + 1 :]


def _output_labels(inputs, output, equation) -> list[str]:
    if output is None:  # implicit: ellipsis first, then labels seen exactly once, sorted
        counts: dict[str, int] = {}
        for labels in inputs:
            for lab in labels:
                counts[lab] = counts.get(lab, 0) + 1
        once = sorted(lab for lab, c in counts.items() if c == 1 and lab != _ELLIPSIS)
        return ([_ELLIPSIS] if any(_ELLIPSIS in t for t in inputs) else []) + once
    seen = set().union(*inputs)
    for lab in output:
        if output.count(lab) > 1:
            raise ValueError(f"einsum: output subscript {lab} appears more than once in the output of {equation!r}")
        if lab != _ELLIPSIS and lab not in seen:
            raise ValueError(f"einsum: output subscript {lab} does not appear in any input of {equation!r}")
    return output


def _einsum_dtype(operands, inputs, out_labels, equation) -> dtypes.dtype:
    """torch's result dtype: one dtype for all operands, except that products without a
    contraction promote; a single integer or bool operand that is summed gives int64."""
    summed = set().union(*inputs) - set(out_labels) - {_ELLIPSIS}
    summed |= {_ELLIPSIS} if _ELLIPSIS not in out_labels and any(_ELLIPSIS in t for t in inputs) else set()
    first = operands[0].dtype
    if len(operands) == 1:
        return dtypes.int64 if summed and not first.is_floating_point else first
    for t in operands[1:]:
        if t.dtype is not first and summed:
            raise DTypeError(f"einsum: operands that are contracted must have the same dtype, but got {first.name} "
                             f"and {t.dtype.name} in {equation!r}; convert them first")
    d = dtypes.result_type(*operands) if not summed else first
    if d is dtypes.bool and summed:
        raise DTypeError(f"einsum: contracting bool tensors is not implemented (as in torch) in {equation!r}; "
                         "convert first, e.g. .int()")
    return d


def _sublist_equation(args):
    """Convert einsum(op0, [0, 1], op1, [1, 2], [0, 2]) to an equation and operands."""
    def term(sub):
        out = []
        for s in sub:
            if s is Ellipsis:
                out.append("...")
            elif isinstance(s, (int, np.integer)) and 0 <= s < len(_LETTERS):
                out.append(_LETTERS[s])
            else:
                raise ValueError(f"einsum: sublist subscripts must be integers in [0, {len(_LETTERS)}) "
                                 f"or ..., got {s!r}")
        return "".join(out)
    n = len(args) // 2
    operands = [args[2 * i] for i in range(n)]
    eq = ",".join(term(args[2 * i + 1]) for i in range(n))
    output = term(args[-1]) if len(args) % 2 else None
    return (eq if output is None else eq + "->" + output), operands


def einsum(equation, *operands):
    """Einstein summation, as torch.einsum.

    ``equation`` names each operand's dimensions with letters ('...' covers
    any leading/middle dimensions, which broadcast); after '->' comes the
    output, otherwise it is the ellipsis, then the letters used once, in
    alphabetical order (upper case first). Letters used in several operands
    broadcast sizes of 1. Operands may also be given as one list, or in the
    sublist form ``einsum(a, [0, 1], b, [1, 2], [0, 2])``.

    Example:
        >>> cogtensor.einsum("ii", cogtensor.eye(3)).item()   # trace
        3.0
        >>> cogtensor.einsum("bij,bjk->bik", x, y)             # batched matmul
    """
    if not isinstance(equation, str):
        equation, operands = _sublist_equation((equation, *operands))
    elif len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    for k, t in enumerate(operands):
        if not _is_tensor(t):
            raise TypeError(f"einsum: operand {k} must be a Tensor, not {type(t).__name__}")
    if not operands:
        raise ValueError("einsum: expected at least one operand")
    canonical, layouts, d, optimize = _einsum_plan(
        equation, tuple(t._data.shape for t in operands), tuple(t.dtype for t in operands))
    arrays = [t._data if pad is None else np.broadcast_to(t._data.reshape(pad), target)
              for t, (pad, target) in zip(operands, layouts)]
    result = product_arrays(lambda *xs: np.einsum(canonical, *xs, optimize=optimize), arrays, d)
    if not result.flags.owndata:  # numpy returns views for permutations and diagonals
        result = result.copy()
    out = operands[0]._wrap(result)
    if all(t._node is None for t in operands):
        return out
    return attach(out, "EinsumBackward0", operands, lambda g: _einsum_grads(g, canonical, layouts, operands),
                  saved=operands)


# ------------------------------------------------------------------ backward
def _einsum_grads(g, canonical: str, layouts, operands):
    """One gradient per operand of ``einsum(canonical, *operands)`` (None for those outside the graph)."""
    lhs, out_term = canonical.split("->")
    terms = lhs.split(",")
    padded = [t if pad is None else t.reshape(pad) for t, (pad, _) in zip(operands, layouts)]
    return tuple(_operand_grad(g, k, terms, out_term, padded).reshape(t._data.shape) if t._node is not None
                 else None for k, t in enumerate(operands))


def _operand_grad(g, k, terms, out_term, padded):
    """The gradient of operand ``k`` (canonical ``terms``, operands viewed in their ``padded`` shapes):
    ``einsum(g, other operands -> k's distinct labels)``, then fitted to ``k``'s sizes (labels only
    ``k`` sums are broadcast back, size-1 labels summed), put on ``k``'s diagonals, and reshaped to
    ``k``'s own shape (the ellipsis unpadded)."""
    term, x = terms[k], padded[k]
    distinct = "".join(dict.fromkeys(term))
    others = [(t, o if o.dtype is g.dtype else o.to(g.dtype)) for i, (t, o) in enumerate(zip(terms, padded))
              if i != k]
    known = set(out_term).union(*(t for t, _ in others))
    reachable = "".join(c for c in distinct if c in known)
    if others or reachable != out_term:
        g = einsum(",".join([out_term] + [t for t, _ in others]) + "->" + reachable, g, *(o for _, o in others))
    own = [x._data.shape[term.index(c)] for c in distinct]
    got = dict(zip(reachable, g._data.shape))
    g = g.reshape([got.get(c, 1) for c in distinct])  # a size-1 dimension for each label only k has
    summed = tuple(i for i, c in enumerate(distinct) if own[i] == 1 and got.get(c, 1) != 1)
    if summed:
        g = g.sum(summed, keepdim=True)
    if list(g._data.shape) != own:
        g = g.expand(own)
    if distinct != term:
        g = _onto_diagonal(g, distinct, term, x._data.shape)
    return g


def _onto_diagonal(g, distinct: str, term: str, shape):
    """A zero tensor of ``shape`` (labelled ``term``, which repeats labels) holding ``g``
    (labelled ``distinct``) on its diagonal: ``einsum("ii->i")``'s gradient. Its own
    backward reads the diagonal back with einsum."""
    out = np.zeros(shape, g._data.dtype)
    strides = [sum(out.strides[i] for i, t in enumerate(term) if t == c) for c in distinct]
    np.lib.stride_tricks.as_strided(out, g._data.shape, strides, writeable=True)[...] = g._data
    return attach(g._wrap(out), "DiagonalScatterBackward0", (g,), lambda gg: einsum(f"{term}->{distinct}", gg))


class _Spec:
    """An operand's shape and dtype: what an einsum plan depends on."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype):
        self.shape, self.dtype = shape, dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)


_NAIVE_EINSUM_WORK = 100_000  # below this many loop steps numpy's direct einsum beats its optimizer


@functools.lru_cache(maxsize=512)
def _einsum_plan(equation: str, shapes, dts):
    """Validate an einsum call and plan it: a canonical numpy equation (ellipses spelled
    out in spare letters), per operand the (padded shape, broadcast shape) to view it as
    (None when it is used as is), the result dtype and numpy's ``optimize`` argument."""
    specs = [_Spec(s, d) for s, d in zip(shapes, dts)]
    inputs, output = _parse_equation(equation, len(specs))
    sizes, ell_shape = _label_sizes(inputs, specs, equation)
    out_labels = _output_labels(inputs, output, equation)
    d = _einsum_dtype(specs, inputs, out_labels, equation)
    spare = iter(c for c in _LETTERS if c not in sizes)
    ell_letters = "".join(next(spare, "") for _ in ell_shape)
    if len(ell_letters) != len(ell_shape):
        raise ValueError(f"einsum: {equation!r} uses more than {len(_LETTERS)} distinct dimensions")
    full = {**sizes, **dict(zip(ell_letters, ell_shape))}
    layouts, terms = [], []
    for labels, spec in zip(inputs, specs):
        term, padded = _canonical_operand(labels, spec.shape, ell_letters)
        target = tuple(full[c] for c in term)
        layouts.append((None, None) if padded == target == tuple(spec.shape) else (padded, target))
        terms.append(term)
    out_term = "".join(ell_letters if lab == _ELLIPSIS else lab for lab in out_labels)
    work = math.prod(full.values())
    optimize = "greedy" if len(specs) > 1 and work > _NAIVE_EINSUM_WORK else False
    return ",".join(terms) + "->" + out_term, tuple(layouts), d, optimize


def _canonical_operand(labels, shape, ell_letters):
    """The operand's term with the ellipsis spelled out in letters, and its shape with the
    ellipsis dimensions left-padded with 1s to the common ellipsis rank."""
    shape = tuple(shape)
    if _ELLIPSIS not in labels:
        return "".join(labels), shape
    i = labels.index(_ELLIPSIS)
    pad = len(ell_letters) - (len(shape) - len(labels) + 1)
    return "".join(labels[:i]) + ell_letters + "".join(labels[i + 1 :]), shape[:i] + (1,) * pad + shape[i:]
