"""Indexing operations beyond ``[]``: index_select, gather, scatter, masked_fill, where, take, nonzero."""

from __future__ import annotations

__all__: list[str] = []


class IndexingOps:
    """Gather/scatter style methods."""

    __slots__ = ()
