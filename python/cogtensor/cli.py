"""The ``cogtensor`` command: ``cogtensor sql``, ``cogtensor demo`` and ``cogtensor info``.

DataFusion and the SQL layer are imported inside the commands that use them, so
``cogtensor info`` starts without them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from cogtensor import cogrecord, hdc, kernels_info

# --------------------------------------------------------------------------- sql

_ARROW_SUFFIXES = (".arrow", ".feather", ".ipc")
_PYERR = re.compile(r"PyErr \{ type: <class '(?P<type>[\w.]+)'>, value: \w+\((?P<q>['\"])(?P<msg>.*?)(?P=q)\)")


class CliError(Exception):
    """A user error the command reports in one line (exit code 1)."""


def register_file(ctx, spec: str) -> str:
    """Register ``NAME=PATH`` on ``ctx`` by the file's extension; returns NAME.

    ``.parquet`` (or a directory of them), ``.arrow``/``.feather``/``.ipc`` (Arrow
    IPC file or stream) and ``.csv`` (with a header row).
    """
    name, sep, path = spec.partition("=")
    name, path = name.strip(), Path(path.strip())
    if not sep or not name or not str(path) or str(path) == ".":
        raise CliError(f"--table expects NAME=PATH, got {spec!r}")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise CliError(f"--table name must be a SQL identifier (letters, digits, _), got {name!r}")
    if not path.exists():
        raise CliError(f"--table {name}: no such file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".parquet" or path.is_dir():
        ctx.register_parquet(name, str(path))
    elif suffix in _ARROW_SUFFIXES:
        ctx.register_arrow(name, str(path), file_extension=path.suffix)
    elif suffix == ".csv":
        ctx.register_csv(name, str(path))
    else:
        raise CliError(f"--table {name}: cannot tell the format of {path}: use .parquet, "
                       f"{'/'.join(_ARROW_SUFFIXES)} (Arrow IPC) or .csv")
    return name


def _abbreviate_value(value, limit: int = 8):
    if isinstance(value, bytes):
        return value[:limit].hex() + ("…" if len(value) > limit else "")
    if isinstance(value, list) and len(value) > limit // 2:
        head = ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in value[: limit // 2])
        return f"[{head}, …] ({len(value)})"
    return value


def abbreviate(table: pa.Table) -> pa.Table:
    """Binary columns as their first 8 bytes in hex + '…', long lists as their first
    4 values + '…' (for printing: an 8 KB CogRecord must not flood the terminal)."""
    for i, field in enumerate(table.schema):
        t = field.type
        if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t) \
                or pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
            values = [None if v is None else str(_abbreviate_value(v)) for v in table.column(i).to_pylist()]
            table = table.set_column(i, field.name, pa.array(values, pa.string()))
    return table


def format_table(table: pa.Table, max_rows: int = 20) -> str:
    """DataFusion's text rendering of ``table`` (abbreviated, at most ``max_rows`` rows)."""
    from datafusion import SessionContext
    from datafusion import dataframe_formatter as formatter

    shown = max(1, min(max_rows, table.num_rows))
    if table.num_rows == 0:
        return f"(0 rows; columns: {', '.join(table.column_names)})"
    previous = formatter.get_formatter()
    try:
        formatter.configure_formatter(max_rows=shown, min_rows=shown)
        text = repr(SessionContext().from_arrow(abbreviate(table.slice(0, shown))))
    finally:
        formatter.set_formatter(previous)
    lines = [line for line in text.splitlines() if line not in ("DataFrame()", "Data truncated.")]
    more = f"first {shown} of {table.num_rows} rows; --max-rows N shows more" if table.num_rows > shown else \
        f"{table.num_rows} row{'s' if table.num_rows != 1 else ''}"
    return "\n".join(lines + [f"({more})"])


def one_line(error: BaseException) -> str:
    """An error message on one line, a UDF's Python traceback left out."""
    text = str(error) or type(error).__name__
    m = _PYERR.search(text)
    if m:
        text = f"{text[: m.start()]}{m.group('type')}: {m.group('msg')}"
    return " ".join(text.split())


def write_parquet(table: pa.Table, path) -> None:
    """Write ``table`` to Parquet, list columns keeping Arrow's child name ``item``.

    (pyarrow's default renames it ``element``, and the cogtensor vector functions'
    exact signatures then no longer match the column when it is read back.)
    """
    import pyarrow.parquet as pq

    pq.write_table(table, path, use_compliant_nested_type=False)


def run_sql(args) -> int:
    """``cogtensor sql``: register the tables, run the statements, print / save the results."""
    from cogtensor.examples import split_statements
    from cogtensor.sql import context

    text = Path(args.file).read_text() if args.file else args.query
    statements = split_statements(text)
    if not statements:
        raise CliError("no SQL statement to run")
    widths, dims = [cogrecord.RECORD_BYTES, *args.width], [cogrecord.EMBEDDING_DIM, *args.dim]
    if args.sample:
        from cogtensor import examples

        ctx = examples.sample_context(widths=[*widths, *examples.WIDTHS], dims=[*dims, *examples.DIMS])
    else:
        ctx = context(widths=widths, dims=dims)
    for spec in args.table:
        register_file(ctx, spec)
    last = None
    for statement in statements:
        result = ctx.sql(statement).to_arrow_table()
        if result.num_columns:  # DDL (CREATE TABLE ...) gives no columns: nothing to show
            if last is not None:
                print()
            print(format_table(result, args.max_rows))
            last = result
    if args.output:
        if last is None:
            raise CliError("--output: no statement returned a result")
        write_parquet(last, args.output)
        print(f"wrote {last.num_rows} rows to {args.output}", file=sys.stderr)
    return 0


# -------------------------------------------------------------------------- demo


def _noisy(rows: np.ndarray, seed: int) -> np.ndarray:
    """Flip about a quarter of each row's bits (XOR with the AND of two random masks)."""
    a = hdc.random(len(rows), rows.shape[1], seed=seed)
    b = hdc.random(len(rows), rows.shape[1], seed=seed + 1)
    return hdc.bind(rows, a & b)


def demo(classes: int = 20, per_class: int = 400, train: int = 40, seed: int = 0) -> dict:
    """Classify noisy CogRecords by bundled prototypes, search them, decode a bound record.

    Returns the figures it prints, so tests can check them.
    """
    t0 = time.perf_counter()
    truth = hdc.random(classes, cogrecord.RECORD_BYTES, seed=seed)
    labels = np.repeat(np.arange(classes), per_class)
    records = _noisy(truth[labels], seed + 100)
    payload = cogrecord.payload(records)  # search the C1-C2 hypervector, a strided view
    made = time.perf_counter() - t0

    # 1. learn one prototype per class by bundling `train` members, classify the rest
    is_train = np.tile(np.arange(per_class) < train, classes)
    t0 = time.perf_counter()
    protos = np.stack([hdc.bundle(payload[is_train & (labels == c)]) for c in range(classes)])
    nearest = hdc.topk(payload[~is_train], protos, 1).indices[:, 0]
    accuracy = float((nearest == labels[~is_train]).mean())
    classify_s = time.perf_counter() - t0

    # 2. nearest neighbours of a fresh noisy query: brute force vs cascade
    query = _noisy(truth[3:4, cogrecord.CONTAINER_BYTES : 3 * cogrecord.CONTAINER_BYTES], seed + 200)[0]
    t0 = time.perf_counter()
    exact = hdc.topk(query, payload, 10)
    brute_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    fast = hdc.cascade_search(query, payload, 10)
    cascade_s = time.perf_counter() - t0
    recall = len(set(exact.indices) & set(fast.indices)) / 10

    # 3. a record that binds roles to fillers, decoded by unbinding and cleanup
    memory = hdc.ItemMemory(["name", "colour", "shape", "alice", "red", "circle"], width=cogrecord.RECORD_BYTES)
    pairs = {"name": "alice", "colour": "red", "shape": "circle"}
    bound = hdc.bundle(np.stack([hdc.bind(memory[r], memory[f]) for r, f in pairs.items()]))
    decoded = {role: memory.cleanup(hdc.bind(bound, memory[role])) for role in pairs}

    return {
        "records": len(records),
        "generate_s": made,
        "prototype_accuracy": accuracy,
        "classify_s": classify_s,
        "top10_labels": labels[exact.indices].tolist(),
        "top10_distances": exact.distances.tolist(),
        "brute_force_ms": brute_s * 1e3,
        "cascade_ms": cascade_s * 1e3,
        "cascade_recall_at_10": recall,
        "decoded": decoded,
        "decoded_ok": decoded == pairs,
        "kernels": kernels_info(),
    }


def _print_demo(r: dict) -> None:
    print(f"  {r['records']} noisy 8192-byte CogRecords in 20 classes, generated in {r['generate_s']:.2f} s")
    print(f"  bundled prototypes classify held-out records: accuracy {r['prototype_accuracy']:.3f} "
          f"({r['classify_s'] * 1e3:.0f} ms)")
    print(f"  top-10 for a class-3 query: labels {r['top10_labels']}")
    print(f"    distances {r['top10_distances']}")
    print(f"    brute force {r['brute_force_ms']:.1f} ms, cascade {r['cascade_ms']:.1f} ms, "
          f"recall@10 {r['cascade_recall_at_10']:.2f}")
    print(f"  role-filler record decoded by unbinding: {r['decoded']}  ({'ok' if r['decoded_ok'] else 'WRONG'})")


def _first(table: pa.Table) -> dict:
    return {name: values[0] for name, values in table.to_pydict().items()}


def _nearest_summary(table: pa.Table, query_label: int) -> tuple[str, bool]:
    labels = table.column("label").to_pylist()
    ok = labels.count(query_label) > len(labels) // 2
    return f"5 training records nearest to test record 0 (a {query_label}): labels {labels}", ok


def _prototypes_summary(table: pa.Table) -> tuple[str, bool]:
    correct, tested = sum(table.column("correct").to_pylist()), sum(table.column("tested").to_pylist())
    accuracy = correct / tested
    return (f"{table.num_rows} class prototypes (GROUP BY label, bundle) classify {correct}/{tested} "
            f"test records: accuracy {accuracy:.3f}", accuracy >= 0.85)


def _digits_summary(table: pa.Table) -> tuple[str, bool]:
    r = _first(table)
    return (f"encoded, trained and classified entirely in SQL: test accuracy {r['accuracy']:.3f} "
            f"({r['correct']}/{r['test_images']})", r["accuracy"] >= 0.85)


def _quantized_summary(table: pa.Table) -> tuple[str, bool]:
    r = _first(table)
    ok = r["top1_agreement"] >= 0.9 and r["int8_accuracy"] >= r["float_accuracy"] - 0.02
    return (f"int8 and float cosine agree on the nearest neighbour for {r['top1_agreement']:.1%} of "
            f"{r['queries']} queries; 1-NN accuracy int8 {r['int8_accuracy']:.3f}, float {r['float_accuracy']:.3f}", ok)


def sql_demo(progress=print, save_sample: str | None = None, first: int = 1,
             steps: int = 5) -> list[tuple[str, str, pa.Table, bool, float]]:
    """Build the digits sample, run every ``sql/`` example on it (steps ``first``.. of ``steps``).

    Returns:
        ``[(example, summary, result table, check passed, seconds), ...]``.
    """
    from cogtensor import examples

    t0 = time.perf_counter()
    progress(f"[{first}/{steps}] loading the digits and encoding them as CogRecords ...")
    data = examples.digits()
    tables = examples.sample_tables(data)
    progress(f"      {data.source}: {len(data.labels)} images ({(data.split == 'train').sum()} train, "
             f"{(data.split == 'test').sum()} test) -> table cogs ({tables['cogs'].num_rows} CogRecords), "
             f"table pixels ({tables['pixels'].num_rows:,} rows)  {time.perf_counter() - t0:.1f} s")
    if save_sample:
        Path(save_sample).mkdir(parents=True, exist_ok=True)
        for name, table in tables.items():
            write_parquet(table, Path(save_sample) / f"{name}.parquet")
        progress(f"      saved {', '.join(f'{n}.parquet' for n in tables)} in {save_sample}")
    summaries = {
        "nearest_neighbours": lambda t: _nearest_summary(t, int(data.labels[0])),
        "class_prototypes": _prototypes_summary,
        "digits_classification": _digits_summary,
        "quantized_search": _quantized_summary,
    }
    done = []
    for step, name in enumerate(examples.example_names(), start=first + 1):
        title = examples.example_path(name).read_text().splitlines()[0].lstrip("- ")
        progress(f"[{step}/{steps}] sql/{name}.sql: {title}")
        t0 = time.perf_counter()
        _, result = examples.run_example(name, examples.sample_context(tables))
        seconds = time.perf_counter() - t0
        summary, ok = summaries[name](result)
        progress(format_table(result))
        progress(f"      {summary}  ({seconds:.1f} s){'' if ok else '  CHECK FAILED'}")
        done.append((name, summary, result, ok, seconds))
    return done


def run_demo(args) -> int:
    t0 = time.perf_counter()
    info = kernels_info()
    print(f"cogtensor demo  (kernels: {info['isa']}, {info['num_threads']} threads)")
    print("[1/6] HDC kernels on generated CogRecords")
    result = demo()
    _print_demo(result)
    kernels_ok = result["decoded_ok"] and result["prototype_accuracy"] > 0.9
    examples_ok = all(ok for *_, ok, _ in sql_demo(lambda s: print(s, flush=True), args.save_sample, 2, 6))
    passed = kernels_ok and examples_ok
    print(f"{'all checks passed' if passed else 'SOME CHECKS FAILED'}  ({time.perf_counter() - t0:.1f} s)")
    return 0 if passed else 1


# -------------------------------------------------------------------------- main


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cogtensor", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sql = sub.add_parser("sql", help="run SQL with the cogtensor functions over Parquet, Arrow IPC and CSV files",
                         description="Run SQL on a DataFusion context with the cogtensor functions registered. "
                                     "Statements separated by ';' run in order; each result is printed.")
    sql.add_argument("query", nargs="?", help="SQL text (or use -f)")
    sql.add_argument("-f", "--file", help="read the SQL from this file")
    sql.add_argument("-t", "--table", action="append", default=[], metavar="NAME=PATH",
                     help="register a .parquet, .arrow/.feather/.ipc or .csv file as table NAME (repeatable)")
    sql.add_argument("-o", "--output", metavar="PATH.parquet", help="write the last result to Parquet")
    sql.add_argument("--width", type=int, action="append", default=[], metavar="W",
                     help="also register the record functions for W-byte records as <name>_W (repeatable)")
    sql.add_argument("--dim", type=int, action="append", default=[], metavar="D",
                     help="also register the int8 vector functions for D-d vectors as <name>_D (repeatable)")
    sql.add_argument("--sample", action="store_true",
                     help="register the demo's digits tables (cogs, pixels) and the widths/dims the sql/ examples use")
    sql.add_argument("--max-rows", type=int, default=20, metavar="N", help="rows to print per result (default 20)")
    demo_parser = sub.add_parser("demo", help="run HDC kernels and the sql/ examples on the digits data set")
    demo_parser.add_argument("--save-sample", metavar="DIR",
                             help="also write the sample tables (cogs, pixels) as Parquet files in DIR")
    sub.add_parser("info", help="print the kernel ISA and thread count as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "info":
        print(json.dumps(kernels_info()))
        return 0
    if args.command == "demo":
        return run_demo(args)
    if (args.query is None) == (args.file is None):
        parser.error("sql: give a query or -f FILE (one of them)")
    if args.max_rows < 1:
        parser.error("sql: --max-rows must be at least 1")
    try:
        return run_sql(args)
    except Exception as e:  # noqa: BLE001 - any failure is reported in one line, never a traceback
        print(f"cogtensor sql: error: {one_line(e)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
