"""CogRecord search, bundling and SQL partition-parallel over Ray.

Each Ray task reads one partition (a Parquet file or a block of a ``ray.data.Dataset``)
and runs the kernels, or a DataFusion context with the cogtensor SQL functions, over it;
the driver merges the partial results exactly, so every supported call returns what the
single-machine path returns:

- :func:`knn` / :func:`cascade_knn`: nearest records, ordered by (distance, id);
- :func:`bundle_by`: the ``GROUP BY key`` bundle (per-bit vote counts summed, then one
  majority with the kernel's tie rule);
- :func:`sql`: filters, projections, ``ORDER BY ... LIMIT`` and mergeable aggregates;
  other queries raise :class:`UnsupportedQueryError`.

Ray is optional (``pip install "cogtensor[ray]"``). The first call joins the cluster
named by ``RAY_ADDRESS`` or starts a local Ray; call ``ray.init(address=...)`` first to
choose. See docs/distributed.md.
"""

try:
    import ray  # noqa: F401 - the dependency this module exists for
except ImportError as e:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError('cogtensor.distributed needs Ray: install it with pip install "cogtensor[ray]"') from e

from cogtensor.distributed._bundle import bundle_by
from cogtensor.distributed._partitions import PartitionError
from cogtensor.distributed._search import cascade_knn, knn
from cogtensor.distributed._sql import sql
from cogtensor.distributed._sqlplan import UnsupportedQueryError

__all__ = ["knn", "cascade_knn", "bundle_by", "sql", "PartitionError", "UnsupportedQueryError"]
