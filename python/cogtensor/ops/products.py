"""Matrix products: matmul (batched, broadcasting), mm, bmm, mv, dot, outer, einsum, tensordot."""

from __future__ import annotations

__all__: list[str] = []


class ProductOps:
    """Matrix-product methods and the ``@`` operator."""

    __slots__ = ()
