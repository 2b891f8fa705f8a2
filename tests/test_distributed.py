"""cogtensor.distributed over a local Ray (2 CPUs) against the single-machine path.

The data: 10 Parquet files of 1024-byte records (one file empty, one split into row
groups of 7, some NULL records and labels, duplicated records across files so that
distances tie) and the same rows concatenated in memory. Every result is compared with
cogtensor.hdc (search, bundle) or one DataFusion context over all the files (SQL).
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

ray = pytest.importorskip("ray")

import cogtensor.distributed as dist  # noqa: E402 - after the Ray guard
import cogtensor.sql as csql  # noqa: E402
from cogtensor import arrow, hdc  # noqa: E402

W = 1024
# Ray Data's DataContext sets deprecated options of its own when it starts
RAY_DATA_WARNING = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")
SIZES = [30, 25, 0, 40, 31, 30, 12, 33, 29, 30]  # rows per file; file 2 is empty


@pytest.fixture(scope="module")
def ray_session():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _records(n: int) -> np.ndarray:
    recs = hdc.random(n, W, seed=3)
    recs[[41, 130, 250]] = recs[7]  # exact copies in other files: equal distances
    recs[200] = recs[7] ^ 1  # one bit away
    return recs


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """(directory, file paths, all records, valid mask, labels, shuffled ids)."""
    root = tmp_path_factory.mktemp("cogs")
    n = sum(SIZES)
    recs, rng = _records(n), np.random.default_rng(0)
    valid = np.ones(n, bool)
    valid[[3, 95, 96, 180]] = False
    ids = rng.permutation(n) + 1000  # not in row order: ties must follow the id column
    labels = pa.array([None if i % 37 == 5 else i % 4 for i in range(n)], pa.int64())
    table = pa.table({"id": ids, "label": labels, "rec": pa.array(
        [bytes(r) if v else None for r, v in zip(recs, valid)], pa.binary(W))})
    paths, start = [], 0
    for p, size in enumerate(SIZES):
        path = root / f"part-{p:02d}.parquet"
        pq.write_table(table.slice(start, size), path, row_group_size=7 if p == 3 else None)
        paths.append(str(path))
        start += size
    return root, paths, recs, valid, labels, ids


def _topk_reference(q, recs, valid, k, ids=None):
    """Exact top-k over the non-NULL records by (distance, position or id)."""
    rows = np.flatnonzero(valid)
    key = rows if ids is None else ids[rows]
    d = hdc.hamming_matrix(np.atleast_2d(q), recs[rows])
    order = [np.lexsort((key, row))[:k] for row in d]
    return np.stack([row[o] for row, o in zip(d, order)]), np.stack([key[o] for o in order])


# ---------------------------------------------------------------------------- knn


@pytest.mark.parametrize("k", [0, 1, 4, 10, 256])
def test_knn_equals_single_machine_topk(ray_session, data, k):
    root, _, recs, valid, _, _ = data
    queries = np.stack([recs[7], recs[100], hdc.random(1, W, seed=9)[0]])
    want_d, want_i = _topk_reference(queries, recs, valid, k)
    got = dist.knn(root, queries, k)
    np.testing.assert_array_equal(got.distances, want_d)
    np.testing.assert_array_equal(got.indices, want_i)
    one = dist.knn(root, queries[0], k)  # a single query gives (k,) arrays
    np.testing.assert_array_equal(one.indices, want_i[0])
    if valid.all():
        np.testing.assert_array_equal(one.indices, hdc.topk(queries[0], recs, k).indices)


def test_knn_ties_follow_position_then_the_id_column(ray_session, data):
    root, paths, recs, valid, _, ids = data
    got = dist.knn(paths, recs[7], 5)
    assert got.indices[:4].tolist() == [7, 41, 130, 250] and got.distances[:4].tolist() == [0, 0, 0, 0]
    by_id = dist.knn(paths, recs[7], 5, id_column="id")
    want_d, want_i = _topk_reference(recs[7], recs, valid, 5, ids)
    np.testing.assert_array_equal(by_id.indices, want_i[0])
    np.testing.assert_array_equal(by_id.distances, want_d[0])
    assert by_id.indices[:4].tolist() == sorted(ids[[7, 41, 130, 250]].tolist())


@RAY_DATA_WARNING
def test_knn_over_a_ray_dataset(ray_session, data):
    import ray.data

    _, paths, recs, valid, _, _ = data
    tables = [pq.read_table(p) for p in paths]
    ds = ray.data.from_arrow(tables)
    want_d, want_i = _topk_reference(recs[100], recs, valid, 6)
    got = dist.knn(ds, recs[100], 6)
    np.testing.assert_array_equal(got.indices, want_i[0])
    np.testing.assert_array_equal(got.distances, want_d[0])


def test_knn_errors(ray_session, data, tmp_path):
    root, paths, recs, _, _, _ = data
    with pytest.raises(ValueError, match="k=500 is larger than the number of records"):
        dist.knn(root, recs[0], 500)
    with pytest.raises(ValueError, match=r"part-00\.parquet.*1024-byte records, the query is 16 bytes"):
        dist.knn(paths[:1], recs[0, :16], 1)
    with pytest.raises(ValueError, match=r"part-00\.parquet.*no column 'vec'"):
        dist.knn(paths[:1], recs[0], 1, column="vec")
    with pytest.raises(TypeError, match="id column .rec. of .*expected an integer type"):
        dist.knn(paths[:1], recs[0], 1, id_column="rec")
    with pytest.raises(FileNotFoundError, match="no such file"):
        dist.knn(tmp_path / "missing", recs[0], 1)
    with pytest.raises(TypeError, match="expected Parquet path"):
        dist.knn(42, recs[0], 1)
    with pytest.raises(ValueError, match="no Parquet files"):
        dist.knn(tmp_path, recs[0], 1)
    with pytest.raises(TypeError, match="k must be an integer"):
        dist.knn(root, recs[0], 1.5)


def test_a_corrupt_file_is_named_in_the_error(ray_session, data, tmp_path):
    _, paths, recs, _, _, _ = data
    copies = []
    for p in paths[:4]:
        copies.append(tmp_path / os.path.basename(p))
        copies[-1].write_bytes(pathlib.Path(p).read_bytes())
    good = copies[3].read_bytes()
    copies[3].write_bytes(good[: len(good) // 2])  # truncated: no footer
    with pytest.raises(dist.PartitionError, match=r"cannot read '.*part-03\.parquet'") as err:
        dist.knn(tmp_path, recs[0], 3)
    assert err.value.partition.endswith("part-03.parquet")
    with pytest.raises(dist.PartitionError, match=r"part-03\.parquet"):
        dist.sql(copies, "SELECT id FROM cogs WHERE id > 5", widths=[W])


def test_cascade_knn_matches_cascade_search(ray_session, data):
    root, _, recs, valid, _, _ = data
    rows = np.flatnonzero(valid)
    q = recs[7] ^ np.where(np.arange(W) < 40, 0x11, 0).astype(np.uint8)  # 80 bits from recs[7] and its copies
    for threshold in (0, 80, 200, 4096):
        got = dist.cascade_knn(root, q, threshold=threshold)
        want = hdc.cascade_search(q, recs[rows], threshold=threshold)
        np.testing.assert_array_equal(got.indices, rows[want.indices])
        np.testing.assert_array_equal(got.distances, want.distances)
    top = dist.cascade_knn(root, q, 5)  # clear nearest rows: the cascade finds the exact top-5
    want_d, want_i = _topk_reference(q, recs, valid, 5)
    np.testing.assert_array_equal(top.indices, want_i[0])
    np.testing.assert_array_equal(top.distances, want_d[0])
    with pytest.raises(ValueError, match="exactly one of k"):
        dist.cascade_knn(root, q, 5, threshold=3)
    with pytest.raises(ValueError, match="range mode takes one query"):
        dist.cascade_knn(root, recs[:2], threshold=3)


# ---------------------------------------------------------------------------- bundle_by


def _bundle_reference(recs, valid, keys, weights=None):
    """{key: hdc.bundle of the key's valid records (None when it has none)}."""
    out = {}
    for key in dict.fromkeys(keys):
        rows = [i for i, k in enumerate(keys) if k == key and valid[i] and (weights is None or weights[i] is not None)]
        if not rows:
            out[key] = None
            continue
        w = None if weights is None else np.array([weights[i] for i in rows])
        out[key] = bytes(hdc.bundle(recs[rows], w))
    return out


def test_bundle_by_equals_the_single_machine_bundle(ray_session, data):
    root, _, recs, valid, labels, _ = data
    got = dist.bundle_by(root, "label")
    want = _bundle_reference(recs, valid, labels.to_pylist())
    assert got.column("label").to_pylist() == [0, 1, 2, 3, None]  # ordered by key, NULL last
    assert dict(zip(got.column("label").to_pylist(), got.column("rec").to_pylist())) == want
    assert got.schema.field("rec").type == pa.binary(W)


def test_bundle_by_ties_weights_and_empty_groups(ray_session, tmp_path):
    recs = hdc.random(8, 16, seed=1)
    keys = ["a", "a", "b", "b", "b", "c", "a", "b"]  # even groups: every tied bit takes 0x55's bit
    valid = [True, True, True, True, True, False, True, True]
    weights = [3, -2, 5, None, 1, 2, 7, -9]
    for p, sl in enumerate([slice(0, 3), slice(3, 6), slice(6, 8)]):
        pq.write_table(pa.table({"k": keys[sl], "w": pa.array(weights[sl], pa.int64()), "rec": pa.array(
            [bytes(r) if v else None for r, v in zip(recs[sl], valid[sl])], pa.binary(16))}), tmp_path / f"{p}.parquet")
    got = dist.bundle_by(tmp_path, "k")
    assert dict(zip(got.column("k").to_pylist(), got.column("rec").to_pylist())) == \
        _bundle_reference(recs, valid, keys)  # "c" has only a NULL record: NULL bundle
    weighted = dist.bundle_by(tmp_path, "k", weights="w")
    assert dict(zip(weighted.column("k").to_pylist(), weighted.column("rec").to_pylist())) == \
        _bundle_reference(recs, valid, keys, weights)
    ctx = csql.context(widths=[16])
    ctx.register_parquet("t", str(tmp_path))
    want = ctx.sql("SELECT k, bundle_16(rec) AS rec FROM t GROUP BY k ORDER BY k").to_arrow_table()
    assert got.equals(want.cast(got.schema))  # DataFusion reads the strings as string_view


def test_bundle_by_errors(ray_session, data):
    root = data[0]
    with pytest.raises(ValueError, match="no column 'nope'"):
        dist.bundle_by(root, "nope")
    with pytest.raises(TypeError, match="column 'id'.*expected fixed_size_binary"):
        dist.bundle_by(root, "label", column="id")
    with pytest.raises(TypeError, match="key must be a column name"):
        dist.bundle_by(root, 3)


# ---------------------------------------------------------------------------- sql

SUPPORTED = [
    "SELECT id, label, popcount_1024(rec) AS p FROM cogs WHERE id % 3 = 0",
    "SELECT id, bind_1024(rec, permute_1024(rec, 5)) AS b FROM cogs c WHERE c.label IS NOT NULL",
    "SELECT id FROM cogs ORDER BY dq(rec), id LIMIT 7",
    "SELECT id, dq(rec) AS d FROM cogs WHERE label < 3 ORDER BY d DESC, id LIMIT 5",
    "SELECT id, hamming_1024(rec, $1) AS d FROM cogs ORDER BY d, id LIMIT 4",
    "SELECT id, label FROM cogs ORDER BY label NULLS FIRST, id",
    "SELECT label, count(*) AS n, count(rec), bundle_1024(rec) AS proto, min(id), max(rec), sum(id) "
    "FROM cogs GROUP BY label ORDER BY label",
    "SELECT bundle_weighted_1024(rec, id - 1150) AS b, count(*) FROM cogs",
    "SELECT label % 2 AS parity, bundle_1024(rec) FROM cogs WHERE id > 1100 GROUP BY parity ORDER BY parity DESC LIMIT 1",
    "SELECT count(*) AS n, sum(label) FILTER (WHERE id > 1100) FROM cogs WHERE id < 0",
]


@pytest.mark.parametrize("query", SUPPORTED)
def test_sql_equals_one_datafusion_context(ray_session, data, query):
    root, _, recs, _, _, _ = data
    params = {"1": pa.scalar(bytes(recs[100]), pa.binary(W))} if "$1" in query else None
    ctx = csql.context(widths=[W])
    csql.bind_query(ctx, "dq", recs[7])
    ctx.register_parquet("cogs", str(root))
    want = ctx.sql(query, param_values=params).to_arrow_table()
    got = dist.sql(root, query, widths=[W], param_values=params, bind_queries={"dq": recs[7]})
    if "ORDER BY" not in query:  # no order asked: compare as sets of rows
        key = [(name, "ascending") for name in want.column_names if not pa.types.is_fixed_size_binary(want[name].type)]
        want, got = want.sort_by(key), got.sort_by(key)
    assert got.schema == want.schema
    assert got.equals(want)


def test_sql_limit_without_order_keeps_partition_order(ray_session, data):
    root, _, _, _, _, ids = data
    got = dist.sql(root, "SELECT id FROM cogs WHERE label = 1 LIMIT 6", widths=[W])
    labels = np.arange(len(ids)) % 4
    labels[np.arange(len(ids)) % 37 == 5] = -1
    assert got.column("id").to_pylist() == ids[labels == 1][:6].tolist()


@RAY_DATA_WARNING
def test_sql_with_8192_byte_records_and_a_dataset(ray_session):
    import ray.data

    recs = hdc.random(12, 8192, seed=4)
    tables = [pa.table({"id": [i, i + 1, i + 2], "rec": arrow.records_from_numpy(recs[i:i + 3])}) for i in range(0, 12, 3)]
    query = "SELECT id % 2 AS g, bundle(rec) AS b FROM cogs GROUP BY g ORDER BY g"
    got = dist.sql(ray.data.from_arrow(tables), query)
    assert got.column("b").to_pylist() == [bytes(hdc.bundle(recs[0::2])), bytes(hdc.bundle(recs[1::2]))]


REFUSED = [
    ("SELECT a.id FROM cogs a JOIN cogs b ON a.id = b.id", "joins"),
    ("SELECT id FROM cogs WHERE id IN (SELECT id FROM cogs WHERE label = 1)", "subqueries"),
    ("SELECT id, hamming_1024(rec, (SELECT rec FROM cogs WHERE id = 1000)) FROM cogs", "subqueries"),
    ("SELECT id, row_number() OVER (ORDER BY id) FROM cogs", "window functions"),
    ("SELECT DISTINCT label FROM cogs", "DISTINCT"),
    ("SELECT id FROM cogs ORDER BY id LIMIT 3 OFFSET 2", "OFFSET"),
    ("SELECT avg(id) FROM cogs", r"avg\(\)"),
    ("SELECT sum(CAST(id AS DOUBLE)) FROM cogs", "only integer sums"),
    ("SELECT count(DISTINCT label) FROM cogs", "DISTINCT"),
    ("SELECT label, count(*) FROM cogs GROUP BY label HAVING count(*) > 3", "HAVING"),
    ("SELECT label FROM cogs GROUP BY label ORDER BY count(*)", "only the selected columns"),
    ("SELECT label, hamming_1024(bundle_1024(rec), bundle_1024(rec)) FROM cogs GROUP BY label", "select list item"),
    ("SELECT label, count(*) FROM cogs GROUP BY ROLLUP(label)", "ROLLUP"),
    ("SELECT * FROM (SELECT id FROM cogs ORDER BY id LIMIT 3) t", "LIMIT inside a subquery|ORDER BY inside"),
    ("SELECT id, random() FROM cogs", "volatile function random"),
    ("SELECT 1", "does not read the table"),
    ("SELECT * FROM cogs UNION ALL SELECT * FROM cogs", "UNION"),
    ("SELECT * FROM hamming_topk('cogs', 'rec', 'dq', 3)", "only the partitioned table"),
]


@pytest.mark.parametrize(("query", "reason"), REFUSED)
def test_sql_refuses_what_does_not_split(ray_session, data, query, reason):
    with pytest.raises(dist.UnsupportedQueryError, match=f"partition by partition: .*({reason})"):
        dist.sql(data[0], query, widths=[W], bind_queries={"dq": data[2][0]})


def test_sql_argument_errors(ray_session, data):
    with pytest.raises(TypeError, match="query and table must be strings"):
        dist.sql(data[0], 42)
    with pytest.raises(ValueError, match="must be one record"):
        dist.sql(data[0], "SELECT id FROM cogs", bind_queries={"dq": data[2][:2]})


# ---------------------------------------------------------------------------- faults and import


class _GatedHandler(pafs.FileSystemHandler):
    """The local filesystem, except that opening a file waits until ``gate`` exists:
    tasks then sit inside ``knn`` while the test kills one of their workers."""

    def __init__(self, gate: str):
        self.gate, self.fs = gate, pafs.LocalFileSystem()

    def __eq__(self, other):
        return isinstance(other, _GatedHandler) and other.gate == self.gate

    def get_type_name(self):
        return "gated"

    def normalize_path(self, path):
        return path

    def get_file_info(self, paths):
        return self.fs.get_file_info(paths)

    def get_file_info_selector(self, selector):
        return self.fs.get_file_info(selector)

    def open_input_file(self, path):
        while not os.path.exists(self.gate):
            time.sleep(0.01)
        return self.fs.open_input_file(path)

    def open_input_stream(self, path):
        return self.fs.open_input_stream(path)

    def _read_only(self, *args):
        raise OSError("read-only test filesystem")

    create_dir = delete_dir = delete_dir_contents = delete_root_dir_contents = delete_file = _read_only
    move = copy_file = open_output_stream = open_append_stream = _read_only


def _our_workers_in(task_title: str) -> list[int]:
    """PIDs of this session's Ray workers (descendants of this process) running ``task_title``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if not f.read().startswith(task_title.encode()):
                    continue
        except OSError:
            continue
        pid = int(entry)
        while pid > 1:  # walk up the parents: only our own Ray's workers qualify
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
            if pid == os.getpid():
                found.append(int(entry))
                break
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds worker processes through /proc")
@pytest.mark.parametrize("retries", [3, 0])
def test_a_worker_killed_mid_query_does_not_change_the_result(ray_session, data, tmp_path, retries):
    """With retries the answer is unchanged; without, the same kill fails the call (so the
    kill did land inside a task)."""
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this file
    _, paths, recs, valid, _, _ = data
    gate = tmp_path / "open"
    gated = pafs.PyFileSystem(_GatedHandler(str(gate)))
    result = {}

    def query():
        try:
            result["found"] = dist.knn(paths * 3, recs[7], 8, filesystem=gated, task_options={"max_retries": retries})
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            result["error"] = e

    runner = threading.Thread(target=query)
    runner.start()
    deadline, victims = time.monotonic() + 60, []
    while not victims and time.monotonic() < deadline:
        victims = _our_workers_in("ray::_run_partition")
        time.sleep(0.05)
    assert victims, "no worker ever ran a knn task"
    os.kill(victims[0], signal.SIGKILL)  # killed while its task waits inside knn
    gate.touch()
    runner.join(120)
    if retries == 0:
        assert isinstance(result.get("error"), ray.exceptions.WorkerCrashedError), result
        return
    assert "error" not in result, result.get("error")
    n = len(recs)
    keys = np.concatenate([np.flatnonzero(valid) + r * n for r in range(3)])  # the files three times over
    d = hdc.hamming(recs[7], np.tile(recs, (3, 1))[keys])
    order = np.lexsort((keys, d))[:8]
    np.testing.assert_array_equal(result["found"].indices, keys[order])
    np.testing.assert_array_equal(result["found"].distances, d[order])


def test_joins_the_cluster_named_by_ray_address(ray_session, data):
    """A process that has not called ray.init joins the running cluster named by RAY_ADDRESS
    (here the one this module started) instead of starting its own."""
    root, _, recs, valid, _, _ = data
    script = (
        "import sys, numpy as np, ray, cogtensor.distributed as dist\n"
        "q = np.frombuffer(bytes.fromhex(sys.argv[2]), np.uint8)\n"
        "found = dist.knn(sys.argv[1], q, 5)\n"
        "print(ray.get_runtime_context().gcs_address, *found.indices.tolist())\n"
    )
    address = ray.get_runtime_context().gcs_address
    env = {**os.environ, "RAY_ADDRESS": address}
    out = subprocess.run([sys.executable, "-c", script, str(root), bytes(recs[100]).hex()], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    joined, *indices = out.stdout.split()
    assert joined == address
    assert [int(i) for i in indices] == _topk_reference(recs[100], recs, valid, 5)[1][0].tolist()


def test_import_without_ray_names_the_extra(monkeypatch):
    for name in [m for m in sys.modules if m.startswith("cogtensor.distributed")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r'pip install "cogtensor\[ray\]"'):
        import cogtensor.distributed  # noqa: F401
