"""Deciding whether a query can run partition by partition, from DataFusion's logical plan.

Three shapes are accepted; anything else is refused (UnsupportedQueryError):

- rows: projections and filters over the table, optionally with ``LIMIT k``. Each
  partition runs the query; the driver concatenates (and keeps the first k rows).
- sort: rows + ``ORDER BY ... [LIMIT k]``. Each partition runs the Sort node (and the
  limit); the driver sorts the union again with the same sort expressions, limits, and
  applies the projection that sat above the sort (hidden sort keys work).
- aggregate: ``GROUP BY`` over rows with count / sum (integers) / min / max / bundle /
  bundle_weighted, the select list holding only group keys and aggregates, optionally
  ``ORDER BY`` selected columns and ``LIMIT``. Each partition runs the Aggregate node
  (bundles return their per-bit vote counts); the driver merges the partial results
  exactly, then projects, orders and limits.

The plan is inspected twice: the optimized plan must hold only those node kinds and a
single scan of the table (subqueries become joins there, so they are caught), and the
display text must name no subquery and no volatile function (each partition, and the
merge, would draw different values).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pyarrow as pa
from datafusion import DataFrame, SessionContext


class UnsupportedQueryError(ValueError):
    """The query cannot be answered partition by partition (and exactly); run it on one
    machine with ``cogtensor.sql.context()`` instead."""


_ROWWISE = {"Projection", "Filter", "SubqueryAlias"}
_OPTIMIZED_KINDS = _ROWWISE | {"Sort", "Limit", "Aggregate", "TableScan", "EmptyRelation"}
_FEATURES = {
    "Join": "joins (or subqueries, which DataFusion plans as joins)",
    "Window": "window functions",
    "WindowExpr": "window functions",
    "Distinct": "DISTINCT",
    "Union": "UNION",
    "Values": "VALUES",
    "EmptyRelation": "a query that does not read the table",
    "Unnest": "UNNEST",
    "RecursiveQuery": "recursive queries",
    "Subquery": "subqueries",
    "Aggregate": "an aggregate below another clause (inside a subquery or under a LIMIT)",
    "Sort": "ORDER BY inside a subquery",
    "Limit": "LIMIT inside a subquery",
    "Explain": "EXPLAIN",
    "Analyze": "EXPLAIN ANALYZE",
}
_VOLATILE = re.compile(
    r"\b(random|uuid|now|current_time|current_date|current_timestamp|localtime|localtimestamp)\(", re.IGNORECASE
)
# a subquery node, a subquery inside an expression, or a correlated column (not SubqueryAlias)
_SUBQUERY = re.compile(r"(^|\n)\s*Subquery:|<subquery>|outer_ref\(|EXISTS \(|IN \(<", re.IGNORECASE)
_MERGES = {"count": "sum", "sum": "sum", "min": "min", "max": "max"}
HOW = ("supported: filters and projections (cogtensor scalar functions included), ORDER BY ... [LIMIT k], "
       "and GROUP BY with bundle, bundle_weighted, count, sum (integers), min and max")


@dataclass(frozen=True)
class Plan:
    """What each partition runs: the node at ``path`` (child indices from the root) of the
    query's logical plan, of kind ``node``, limited to ``fetch`` rows when set."""

    kind: str  # "rows", "sort" or "aggregate"
    path: tuple[int, ...]
    node: str
    fetch: int | None
    columns: list[str] | None  # table columns the query reads (None: all)


@dataclass
class Merge:
    """What the driver does with the partitions' results (never leaves the driver)."""

    fetch: int | None = None
    sort_exprs: list = field(default_factory=list)  # raw SortExprs over the sort node's input
    projection: list | None = None  # raw Exprs applied after the sort
    sort_fields: list[str] = field(default_factory=list)  # qualified names of the sort input
    groups: int = 0
    aggregates: list[str] = field(default_factory=list)  # "sum" / "min" / "max" / "bundle_<W>"
    outputs: list[int] = field(default_factory=list)  # aggregate column of each output column
    order: list[tuple[int, bool, bool]] = field(default_factory=list)  # (output, ascending, nulls first)


def refuse(reason: str) -> UnsupportedQueryError:
    return UnsupportedQueryError(f"cogtensor.distributed.sql: cannot run this query partition by partition: "
                                 f"{reason} ({HOW}; run other queries on one machine with cogtensor.sql)")


def kind(plan) -> str:
    try:
        return type(plan.to_variant()).__name__
    except Exception:  # noqa: BLE001 - a node kind the Python bindings do not expose
        return plan.display().split(":")[0].strip() or "unknown"


def _literal_int(expr, what: str) -> int | None:
    if expr is None:
        return None
    try:
        value = expr.python_value()
    except Exception:  # noqa: BLE001 - DataFusion raises a bare Exception for non-literals
        raise refuse(f"{what} is not a literal") from None
    value = value.as_py() if isinstance(value, pa.Scalar) else value
    if not isinstance(value, int) or value < 0:
        raise refuse(f"{what} is {value!r}, not a non-negative integer")
    return value


def _check_text(plan) -> None:
    text = plan.display_indent()
    if _SUBQUERY.search(text):
        raise refuse("subqueries (each partition would see only its own rows)")
    volatile = _VOLATILE.search(text)
    if volatile:
        raise refuse(f"the volatile function {volatile.group(1)}() (partitions would draw different values)")


def _check_optimized(plan, table: str) -> None:
    scans, stack = 0, [plan]
    while stack:
        node = stack.pop()
        k = kind(node)
        if k not in _OPTIMIZED_KINDS:
            raise refuse(_FEATURES.get(k, f"{k} plans"))
        if k == "TableScan":
            scans += 1
            _check_scan(node, table)
        stack.extend(node.inputs())
    if scans > 1:
        raise refuse("it reads the table more than once (self-joins and subqueries)")


def _check_scan(node, table: str) -> None:
    name = node.to_variant().table_name()
    if name != table:
        raise refuse(f"it reads {name!r}; only the partitioned table {table!r} can be read")


def _check_rowwise(node, table: str) -> None:
    """Projections, filters and aliases down to one scan of the table."""
    while True:
        k = kind(node)
        if k == "TableScan":
            _check_scan(node, table)
            return
        if k not in _ROWWISE:
            raise refuse(_FEATURES.get(k, f"{k} plans"))
        inputs = node.inputs()
        if len(inputs) != 1:
            raise refuse(f"a {k} with {len(inputs)} inputs")
        node = inputs[0]


def scan_columns(df: DataFrame, schema: pa.Schema) -> list[str]:
    """The table columns the optimized plan reads (at least one: a table with no column
    would lose its row count)."""
    node = df.optimized_logical_plan()
    while node.inputs():
        node = node.inputs()[0]
    if kind(node) != "TableScan":
        return schema.names[:1]
    names = [name for _, name in node.to_variant().projection()]
    return names or schema.names[:1]


def split(ctx: SessionContext, df: DataFrame, table: str, bundles: dict[str, int],
          schema: pa.Schema) -> tuple[Plan, Merge]:
    """Classify ``df``'s plan into a per-partition Plan and a driver-side Merge, or refuse.

    ``bundles`` maps each registered bundle aggregate name to its record width.
    """
    plan = df.logical_plan()
    _check_text(plan)
    _check_optimized(df.optimized_logical_plan(), table)
    columns = scan_columns(df, schema)
    node, path, fetch = plan, [], None
    if kind(node) == "Limit":
        limit = node.to_variant()
        if _literal_int(limit.skip(), "OFFSET"):
            raise refuse("OFFSET")
        fetch = _literal_int(limit.fetch(), "LIMIT")
        node, path = node.inputs()[0], [0]
    chain = _chain(node)
    if chain and kind(chain[-1]) == "Aggregate":
        return _split_aggregate(ctx, chain, tuple(path), fetch, table, bundles, columns)
    return _split_rows(node, tuple(path), fetch, table, columns)


def _chain(node) -> list:
    """Nodes from ``node`` down through sorts, projections, filters and aliases, ending at
    the first other node (an Aggregate when the query groups)."""
    chain = [node]
    while kind(chain[-1]) in _ROWWISE | {"Sort"} and len(chain[-1].inputs()) == 1:
        chain.append(chain[-1].inputs()[0])
    return chain


def _split_rows(node, path, fetch, table, columns) -> tuple[Plan, Merge]:
    merge = Merge(fetch=fetch)
    child = node.inputs()[0] if node.inputs() else None
    if kind(node) == "Projection" and child is not None and kind(child) == "Sort":
        merge.projection = node.to_variant().projections()
        node, path = child, path + (0,)
    if kind(node) != "Sort":
        _check_rowwise(node, table)
        return Plan("rows", path, kind(node), fetch, columns), merge
    sort = node.to_variant()
    own = sort.get_fetch_val()
    fetch = own if fetch is None else (fetch if own is None else min(fetch, own))
    _check_rowwise(node.inputs()[0], table)
    merge.fetch = fetch
    merge.sort_exprs = sort.sort_exprs()
    merge.sort_fields = sort.schema().field_names()
    return Plan("sort", path, "Sort", fetch, columns), merge


def _split_aggregate(ctx, chain, path, fetch, table, bundles, columns) -> tuple[Plan, Merge]:
    kinds = [kind(n) for n in chain]
    if "Filter" in kinds:
        raise refuse("HAVING (a filter on aggregated results)")
    if "SubqueryAlias" in kinds:
        raise refuse("an aggregate inside a subquery")
    if kinds not in (["Aggregate"], ["Projection", "Aggregate"], ["Sort", "Projection", "Aggregate"],
                     ["Sort", "Aggregate"]):
        raise refuse("ORDER BY over GROUP BY results may use only the selected columns")
    agg_node = chain[-1]
    agg = agg_node.to_variant()
    _check_rowwise(agg_node.inputs()[0], table)
    types = ctx.create_dataframe_from_logical_plan(agg_node).schema()
    groups = agg.group_by_exprs()
    for g in groups:
        if g.variant_name() == "GroupingSet":
            raise refuse("GROUPING SETS, ROLLUP and CUBE")
    merge = Merge(fetch=fetch, groups=len(groups))
    merge.aggregates = [_merge_function(e, types.field(len(groups) + i).type, bundles)
                        for i, e in enumerate(agg.aggregate_exprs())]
    fields = agg.schema().field_names()
    projected = chain[-2] if len(chain) > 1 and kinds[-2] == "Projection" else None
    if projected is None:
        merge.outputs, out_fields = list(range(len(fields))), fields
    else:
        merge.outputs = [_output_of(e, fields) for e in projected.to_variant().projections()]
        out_fields = projected.to_variant().schema().field_names()
    if kinds[0] == "Sort":
        merge.order = [_order_key(s, out_fields) for s in chain[0].to_variant().sort_exprs()]
    return Plan("aggregate", path + (0,) * (len(chain) - 1), "Aggregate", None, columns), merge


def _merge_function(expr, result_type: pa.DataType, bundles: dict[str, int]) -> str:
    """How partial results of one aggregate combine: count -> sum, sum -> sum (integers
    only: float sums depend on the order of addition), min, max, bundles -> vote counts."""
    text = expr.schema_name()
    if expr.variant_name() != "AggregateFunction":
        raise refuse(f"the aggregate expression {text}")
    function = expr.to_variant()
    name = function.aggregate_type()
    if function.is_distinct():
        raise refuse(f"{name}(DISTINCT ...)")
    if " ORDER BY " in text or "WITHIN GROUP" in text:
        raise refuse(f"an ordered aggregate ({text})")
    if name in bundles:
        return f"bundle_{bundles[name]}"
    if name not in _MERGES:
        raise refuse(f"the aggregate {name}(), whose partial results cannot be merged exactly")
    if name == "sum" and not pa.types.is_integer(result_type):
        raise refuse(f"sum over {result_type} (only integer sums merge exactly)")
    return _MERGES[name]


def _output_of(expr, fields: list[str]) -> int:
    inner = expr
    while inner.variant_name() == "Alias":  # count(*) AS n is n over "count(*)" over count(Int64(1))
        inner = inner.to_variant().expr()
    if inner.variant_name() == "Column" and inner.schema_name() in fields:
        return fields.index(inner.schema_name())
    raise refuse(f"the select list item {expr.schema_name()}: over GROUP BY only group keys and "
                 "aggregates (optionally renamed with AS) can be selected")


def _order_key(sort_expr, out_fields: list[str]) -> tuple[int, bool, bool]:
    e = sort_expr.expr()
    if e.variant_name() == "Column" and e.schema_name() in out_fields:
        return out_fields.index(e.schema_name()), sort_expr.ascending(), sort_expr.nulls_first()
    raise refuse("ORDER BY over GROUP BY results may use only the selected columns")
