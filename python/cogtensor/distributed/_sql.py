"""Partition-parallel SQL: each Ray task builds a DataFusion context with the cogtensor
functions over its partition and runs the part of the query's plan that splits (see
_sqlplan); the driver merges the partial results and finishes the query."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
from datafusion import SessionContext, col, udaf
from datafusion.expr import Expr, SortExpr

import cogtensor.sql as csql
from cogtensor.cogrecord import EMBEDDING_DIM, RECORD_BYTES
from cogtensor.distributed import _partitions
from cogtensor.distributed._search import _query, canonical
from cogtensor.distributed._sqlplan import Merge, Plan, kind, split
from cogtensor.sql.aggregate import _STATE, _Bundle

# A partial bundle travels as one struct value: packed per-bit counts, total weight, rows.
_PARTIAL = pa.struct([("counts", _STATE[0]), ("total", _STATE[1]), ("rows", _STATE[2])])
_PARTIALS_TABLE = "__cogtensor_partials"


class _PartialBundle(_Bundle):
    """``bundle`` inside a partition: returns the group's vote counts, not the majority."""

    def evaluate(self) -> pa.Scalar:
        counts, total, rows = (s.as_py() for s in self.state())
        return pa.scalar({"counts": counts, "total": total, "rows": rows}, _PARTIAL)


class _MergeBundle(_Bundle):
    """On the driver: sums partial vote counts, then takes the majority (kernel tie rule)."""

    def update(self, partials: pa.Array) -> None:
        if partials.null_count:
            partials = partials.filter(partials.is_valid())
        self.merge([partials.field("counts"), partials.field("total"), partials.field("rows")])


def _bundle_names(widths) -> dict[str, int]:
    """Every registered bundle aggregate name -> its record width."""
    names = {}
    for w in widths:
        suffix = "" if w == RECORD_BYTES else f"_{w}"
        names[f"bundle{suffix}"] = names[f"bundle_weighted{suffix}"] = w
    return names


def _register_partial_bundles(ctx: SessionContext, widths) -> None:
    for name, w in _bundle_names(widths).items():
        record = pa.binary(w)
        args = [record, pa.int64()] if name.startswith("bundle_weighted") else [record]
        ctx.register_udaf(udaf(lambda w=w, name=name: _PartialBundle(w, name), args, _PARTIAL, _STATE, "immutable", name))


def _register_merge_bundles(ctx: SessionContext, widths) -> None:
    for w in set(widths):
        name = f"__cogtensor_bundle_merge_{w}"
        ctx.register_udaf(udaf(lambda w=w, name=name: _MergeBundle(w, name), [_PARTIAL], pa.binary(w), _STATE,
                               "immutable", name))


@dataclass(frozen=True)
class _Job:
    query: str
    table: str
    param_values: dict | None
    queries: dict  # name -> (W,) uint8 record, bound with cogtensor.sql.bind_query
    widths: tuple
    dims: tuple
    plan: Plan


def _context(job: _Job, data: pa.Table) -> SessionContext:
    ctx = csql.context(widths=job.widths, dims=job.dims)
    if job.plan.kind == "aggregate":
        _register_partial_bundles(ctx, job.widths)
    for name, q in job.queries.items():
        csql.bind_query(ctx, name, canonical(q))
    ctx.from_arrow(data, job.table)
    return ctx


def sql_partition(data: pa.Table, label: str, job: _Job) -> pa.Table:
    """Run the query's splittable node over one partition (inside a Ray task)."""
    ctx = _context(job, data)
    node = ctx.sql(job.query, param_values=job.param_values).logical_plan()
    for i in job.plan.path:
        node = node.inputs()[i]
    if kind(node) != job.plan.node:
        raise _partitions.PartitionError(
            f"sql: {label!r} planned the query differently (expected {job.plan.node}, got {kind(node)}): "
            "does its schema differ from the first partition's?", label)
    frame = ctx.create_dataframe_from_logical_plan(node)
    if job.plan.fetch is not None:
        frame = frame.limit(job.plan.fetch)
    return frame.to_arrow_table()


def _concat(parts: list[pa.Table], labels: list[str]) -> pa.Table:
    for table, label in zip(parts[1:], labels[1:]):
        if table.schema != parts[0].schema:
            raise ValueError(f"sql: {label!r} gives columns {table.schema} where {labels[0]!r} gives "
                             f"{parts[0].schema}: the partitions' schemas differ")
    return pa.concat_tables(parts)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _merge_sorted(ctx: SessionContext, combined: pa.Table, merge: Merge) -> pa.Table:
    """Sort the partitions' top rows again with the query's own sort expressions. The union
    is registered under the qualifier its columns carry (``cogs.id``), so the expressions
    resolve against it."""
    qualifiers = {f[: -len(n) - 1] for f, n in zip(merge.sort_fields, combined.column_names) if f != n}
    if len(qualifiers) > 1:
        raise _partitions.PartitionError(f"sql: cannot merge columns of several relations {sorted(qualifiers)}")
    name = _quoted(qualifiers.pop() if qualifiers else _PARTIALS_TABLE)
    ctx.from_arrow(combined, name)
    frame = ctx.table(name).sort(*[SortExpr(Expr(s.expr()), s.ascending(), s.nulls_first()) for s in merge.sort_exprs])
    if merge.fetch is not None:
        frame = frame.limit(merge.fetch)
    if merge.projection is not None:
        frame = frame.select(*[Expr(e) for e in merge.projection])
    return frame.to_arrow_table()


def _merge_call(how: str) -> str:
    """The SQL aggregate that combines partial results ("sum", "min", "max", "bundle_<W>")."""
    return f"__cogtensor_bundle_merge_{how.removeprefix('bundle_')}" if how.startswith("bundle_") else how


def _merge_aggregates(ctx: SessionContext, combined: pa.Table, merge: Merge) -> pa.Table:
    """GROUP BY the group columns again, combining each aggregate's partial results."""
    g = [f"g{i}" for i in range(merge.groups)]
    a = [f"a{i}" for i in range(len(merge.aggregates))]
    ctx.from_arrow(combined.rename_columns(g + a), _PARTIALS_TABLE)
    calls = [f"{_merge_call(how)}({name}) AS {name}" for name, how in zip(a, merge.aggregates)]
    query = f"SELECT {', '.join(g + calls)} FROM {_PARTIALS_TABLE}" + (f" GROUP BY {', '.join(g)}" if g else "")
    merged = ctx.sql(query).to_arrow_table()
    out = [f"o{i}" for i in range(len(merge.outputs))]
    table = pa.table([merged.column(i) for i in merge.outputs], names=out)
    if not merge.order and merge.fetch is None:
        return table
    ctx.from_arrow(table, "__cogtensor_merged")
    frame = ctx.table("__cogtensor_merged")
    if merge.order:
        frame = frame.sort(*[col(out[i]).sort(ascending=asc, nulls_first=nf) for i, asc, nf in merge.order])
    if merge.fetch is not None:
        frame = frame.limit(merge.fetch)
    return frame.to_arrow_table()


def _finish(result: pa.Table, schema: pa.Schema) -> pa.Table:
    """The result under the query's own column names and types."""
    columns = [c if c.type == f.type else c.cast(f.type) for c, f in zip(result.columns, schema)]
    # the planned schema also says which columns are NOT NULL (count(*)): keep it when it holds
    if all(f.nullable or c.null_count == 0 for c, f in zip(columns, schema)):
        return pa.Table.from_arrays(columns, schema=schema)
    return pa.Table.from_arrays(columns, names=schema.names)


def _driver_context(widths, dims, queries: dict, schema: pa.Schema, table: str) -> SessionContext:
    ctx = csql.context(widths=widths, dims=dims)
    for name, q in queries.items():
        csql.bind_query(ctx, name, q)
    ctx.from_arrow(schema.empty_table(), table)
    return ctx


def _bound(bind_queries) -> dict:
    if bind_queries is None:
        return {}
    if not isinstance(bind_queries, dict) or not all(isinstance(k, str) for k in bind_queries):
        raise TypeError("sql: bind_queries must map SQL function names to query records")
    bound = {}
    for name, q in bind_queries.items():
        rows, single = _query(q, "sql")
        if not single:
            raise ValueError(f"sql: bind_queries[{name!r}] must be one record (W,), got {rows.shape[0]} rows")
        bound[name] = rows[0]
    return bound


def sql(source, query: str, *, table: str = "cogs", param_values: dict | None = None, bind_queries: dict | None = None,
        widths=(RECORD_BYTES,), dims=(EMBEDDING_DIM,), filesystem=None, task_options: dict | None = None) -> pa.Table:
    """Run a partition-parallel SQL query over Parquet files or a Ray Dataset.

    Every partition runs the same SQL text in its own DataFusion context (with
    :func:`cogtensor.sql.register`), and the driver merges the partial results:

    - filters and projections (cogtensor scalar functions included), ``LIMIT k``:
      the partitions' rows, concatenated in partition order;
    - ``ORDER BY ... [LIMIT k]``: each partition's best rows, sorted again on the driver;
      add a unique column (an id) as the last key for an order that does not depend on
      the partitioning;
    - ``GROUP BY`` with ``bundle`` / ``bundle_weighted`` (per-bit vote counts summed,
      then one majority with the kernel's tie rule), ``count``, ``sum`` over integers,
      ``min``, ``max``; the select list holds group keys and aggregates (``AS`` allowed),
      optionally ``ORDER BY`` selected columns and ``LIMIT``.

    Anything else (joins, subqueries, window functions, DISTINCT, OFFSET, HAVING, other
    aggregates, volatile functions such as ``random()``) raises UnsupportedQueryError
    rather than answering from partial data.

    Args:
        source: Parquet path(s) or a ``ray.data.Dataset``, as :func:`knn`.
        query: one SELECT statement reading ``table``.
        table: the name the query uses for the source.
        param_values: DataFusion parameters (``$1`` -> value), as ``SessionContext.sql``.
        bind_queries: ``{name: record}``: each partition calls
            ``cogtensor.sql.bind_query(ctx, name, record)``, so ``name(rec)`` is the
            Hamming distance to ``record`` without a per-row copy.
        widths, dims: as :func:`cogtensor.sql.register`.
        filesystem, task_options: as :func:`knn`.

    Returns:
        A pyarrow Table with the query's columns: the rows a single DataFusion context
        over all the data returns (in partition order where the query sets no order).

    Raises:
        UnsupportedQueryError: the query does not split by partition.
        PartitionError / ValueError: a partition failed (the message names it).

    Example:
        >>> sql("cogs/", "SELECT label, bundle(rec) AS proto FROM cogs GROUP BY label")
        >>> sql("cogs/", "SELECT id, dq(rec) AS d FROM cogs ORDER BY d, id LIMIT 10",
        ...     bind_queries={"dq": base[42]})
    """
    if not isinstance(query, str) or not isinstance(table, str):
        raise TypeError(f"sql: query and table must be strings, got {type(query).__name__} and {type(table).__name__}")
    queries = _bound(bind_queries)
    src = _partitions.resolve(source, "sql", filesystem)
    schema = src.schema()
    widths, dims = tuple(widths), tuple(dims)
    ctx = _driver_context(widths, dims, queries, schema, table)
    frame = ctx.sql(query, param_values=param_values)
    scanned = ctx.table(table).logical_plan().to_variant().table_name()
    plan, merge = split(ctx, frame, scanned, _bundle_names(widths), schema)
    job = _Job(query, table, param_values, queries, widths, dims, plan)
    parts = list(_partitions.run("sql", sql_partition, src.partitions, job, plan.columns, task_options))
    if not parts:  # a Dataset without blocks: the query over no rows
        return frame.to_arrow_table()
    combined = _concat(parts, [p.label for p in src.partitions])
    merger = _driver_context(widths, dims, queries, schema, table)
    _register_merge_bundles(merger, widths)
    if plan.kind == "rows":
        result = combined if merge.fetch is None else combined.slice(0, merge.fetch)
    elif plan.kind == "sort":
        merger.deregister_table(table)  # the union takes the table's name when that is its qualifier
        result = _merge_sorted(merger, combined, merge)
    else:
        result = _merge_aggregates(merger, combined, merge)
    return _finish(result, frame.schema())
