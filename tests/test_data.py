"""cogtensor.data: datasets, samplers, collate and DataLoader against torch.utils.data; Arrow sources
(ArrowDataset over tables and files, from_query over DataFusion, Ray batches) incl. zero-copy; transforms."""

import collections
import threading

import datafusion
import numpy as np
import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet as pq
import pytest
import torch
import torch.utils.data as tud
from torch_reference import torch_of

import cogtensor as ct
from cogtensor import arrow
from cogtensor import data as D
from cogtensor.data import transforms as T

Point = collections.namedtuple("Point", ["x", "y"])


def assert_same(ours, theirs):
    """Same structure (types of containers), same tensors (dtype, shape, values), same leaves."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, ct.Tensor), type(ours)
        assert ours.dtype.name == str(theirs.dtype).removeprefix("torch.")
        torch.testing.assert_close(torch_of(ours.numpy()), theirs, rtol=0, atol=0)
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and list(ours) == list(theirs)
        for k in theirs:
            assert_same(ours[k], theirs[k])
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert_same(a, b)
    else:
        assert ours == theirs


def both_loaders(data: np.ndarray, labels: np.ndarray, **kwargs):
    ours = D.DataLoader(D.TensorDataset(ct.tensor(data), ct.tensor(labels)), **kwargs)
    theirs = tud.DataLoader(tud.TensorDataset(torch.from_numpy(data), torch.from_numpy(labels)), **kwargs)
    return ours, theirs


# ------------------------------------------------------------- DataLoader vs torch
@pytest.mark.parametrize("n, batch_size, drop_last", [(10, 3, False), (10, 3, True), (9, 3, True), (1, 4, False),
                                                      (0, 2, False), (7, 1, False), (5, 5, True)])
def test_unshuffled_batches_match_torch(n, batch_size, drop_last):
    rng = np.random.default_rng(n)
    ours, theirs = both_loaders(rng.standard_normal((n, 3)).astype(np.float32), rng.integers(0, 9, n),
                                batch_size=batch_size, drop_last=drop_last)
    assert len(ours) == len(theirs)
    got, want = list(ours), list(theirs)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert_same(a, b)


def test_non_contiguous_dataset_tensors():
    base = np.arange(60, dtype=np.float64).reshape(5, 12)
    ours = D.DataLoader(D.TensorDataset(ct.tensor(base).transpose(0, 1)[::2]), batch_size=4)
    theirs = tud.DataLoader(tud.TensorDataset(torch.from_numpy(base).t()[::2]), batch_size=4)
    for a, b in zip(ours, theirs, strict=True):
        assert_same(a, b)


class Samples(tud.Dataset):
    """Samples of every structure default_collate handles (also a torch Dataset)."""

    def __init__(self, make, n=5):
        self.make, self.n = make, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return self.make(i)


STRUCTURES = {
    "dict": lambda i: {"x": np.full((2, 2), i, np.float32), "label": i, "w": 0.5 * i, "name": f"s{i}"},
    "tuple": lambda i: (np.arange(3) + i, float(i), True if i % 2 else False),
    "namedtuple": lambda i: Point(np.float64(i), np.int32(i)),
    "list": lambda i: [i, [i, 2 * i], {"deep": np.array([i, i], np.int16)}],
    "bytes": lambda i: (bytes([i]), np.uint8(i)),
    "mixed_numbers": lambda i: [i if i % 2 else float(i)],
}


@pytest.mark.parametrize("kind", sorted(STRUCTURES))
def test_collate_matches_torch(kind):
    make = STRUCTURES[kind]  # plain numpy / Python samples: the same for both loaders
    ours = list(D.DataLoader(Samples(make), batch_size=2))
    theirs = list(tud.DataLoader(Samples(make), batch_size=2))
    for a, b in zip(ours, theirs, strict=True):
        assert_same(a, b)


def test_collate_of_cogtensor_samples_and_errors():
    batch = D.default_collate([ct.ones(2, dtype=ct.int32), ct.zeros(2, dtype=ct.float16)])
    assert batch.dtype is ct.float16 and batch.shape == (2, 2)  # torch.stack promotes int32 + float16 -> float16
    with pytest.raises(ValueError, match="equal size"):
        D.default_collate([ct.ones(2), ct.ones(3)])
    with pytest.raises(RuntimeError, match="equal size"):
        D.default_collate([[1, 2], [1]])
    with pytest.raises(TypeError, match="default_collate"):
        D.default_collate([object()])
    with pytest.raises(TypeError, match="default_collate"):
        D.default_collate([np.array(["a"]), np.array(["b"])])


def test_no_auto_batching_converts_like_torch():
    make = lambda i: {"a": np.arange(2) + i, "t": (np.float32(i), "s")}  # noqa: E731
    ours = list(D.DataLoader(Samples(make), batch_size=None))
    theirs = list(tud.DataLoader(Samples(make), batch_size=None))
    for a, b in zip(ours, theirs, strict=True):
        assert_same(a, b)


def test_custom_collate_fn_and_getitems():
    class WithGetItems(Samples):
        calls = 0

        def __getitems__(self, indices):
            WithGetItems.calls += 1
            return [self[i] for i in indices]

    ds = WithGetItems(lambda i: i)
    batches = list(D.DataLoader(ds, batch_size=2, collate_fn=lambda b: sum(b)))
    assert batches == [1, 5, 4] and WithGetItems.calls == 3


# --------------------------------------------------------------------- shuffling
def test_shuffle_is_a_permutation_per_epoch_and_reproducible():
    n = 103
    ds = D.TensorDataset(ct.arange(n))
    loader = D.DataLoader(ds, batch_size=10, shuffle=True, generator=ct.Generator().manual_seed(3))
    epochs = [np.concatenate([b[0].numpy() for b in loader]) for _ in range(3)]
    for order in epochs:
        assert sorted(order.tolist()) == list(range(n))
    assert not np.array_equal(epochs[0], epochs[1])
    again = D.DataLoader(ds, batch_size=10, shuffle=True, generator=ct.Generator().manual_seed(3))
    assert np.array_equal(np.concatenate([b[0].numpy() for b in again]), epochs[0])


def test_shuffle_without_generator_follows_manual_seed():
    ds = D.TensorDataset(ct.arange(20))

    def order():
        return np.concatenate([b[0].numpy() for b in D.DataLoader(ds, batch_size=6, shuffle=True)])
    ct.manual_seed(11)
    first = order()
    ct.manual_seed(11)
    assert np.array_equal(order(), first) and sorted(first.tolist()) == list(range(20))


def test_samplers():
    g = lambda: ct.Generator().manual_seed(0)  # noqa: E731
    assert list(D.SequentialSampler(range(4))) == [0, 1, 2, 3]
    drawn = list(D.RandomSampler(range(5), replacement=True, num_samples=50, generator=g()))
    assert len(drawn) == 50 and set(drawn) <= set(range(5))
    chained = list(D.RandomSampler(range(4), num_samples=10, generator=g()))
    assert sorted(chained[:4]) == sorted(chained[4:8]) == [0, 1, 2, 3] and len(chained) == 10
    assert sorted(D.SubsetRandomSampler([7, 3, 9], generator=g())) == [3, 7, 9]
    for n, bs, drop in [(10, 3, False), (10, 3, True), (0, 2, False), (4, 4, True)]:
        ours = D.BatchSampler(D.SequentialSampler(range(n)), bs, drop)
        theirs = tud.BatchSampler(tud.SequentialSampler(range(n)), bs, drop)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)
    with pytest.raises(ValueError, match="num_samples"):
        D.RandomSampler([])
    with pytest.raises(TypeError, match="replacement"):
        D.RandomSampler(range(3), replacement=1)
    with pytest.raises(ValueError, match="batch_size"):
        D.BatchSampler(range(3), 0, False)


def test_custom_sampler_and_batch_sampler():
    ds = D.TensorDataset(ct.arange(10) * 10)
    loader = D.DataLoader(ds, batch_size=2, sampler=[9, 0, 4])
    assert [b[0].tolist() for b in loader] == [[90, 0], [40]]
    loader = D.DataLoader(ds, batch_sampler=[[1, 2, 3], [5]])
    assert [b[0].tolist() for b in loader] == [[10, 20, 30], [50]] and len(loader) == 2


@pytest.mark.parametrize("kwargs", [
    {"sampler": [0], "shuffle": True}, {"batch_sampler": [[0]], "batch_size": 2},
    {"batch_sampler": [[0]], "drop_last": True},
    {"batch_size": None, "drop_last": True}, {"num_workers": -1}, {"timeout": -1}, {"prefetch_factor": 2},
    {"persistent_workers": True}, {"batch_size": 0},
])
def test_option_errors_match_torch(kwargs):
    with pytest.raises(ValueError) as theirs:
        tud.DataLoader(tud.TensorDataset(torch.zeros(3)), **kwargs)
    with pytest.raises(ValueError) as ours:
        D.DataLoader(D.TensorDataset(ct.zeros(3)), **kwargs)
    assert str(ours.value) == str(theirs.value)


def test_frozen_attributes():
    loader = D.DataLoader(D.TensorDataset(ct.zeros(3)))
    with pytest.raises(ValueError, match="batch_size attribute should not be set"):
        loader.batch_size = 2


# ------------------------------------------------------- datasets and random_split
@pytest.mark.parametrize("n, lengths", [(10, [3, 7]), (10, [0.3, 0.7]), (11, [0.5, 0.25, 0.25]), (7, [1 / 3] * 3),
                                        (30, [0.3, 0.3, 0.4])])
def test_random_split_lengths_match_torch(n, lengths):
    ours = D.random_split(range(n), lengths, generator=ct.Generator().manual_seed(0))
    theirs = tud.random_split(range(n), lengths, generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    assert sorted(i for s in ours for i in s) == list(range(n))
    again = D.random_split(range(n), lengths, generator=ct.Generator().manual_seed(0))
    assert [list(s) for s in ours] == [list(s) for s in again]


def test_random_split_errors_and_warning():
    with pytest.raises(ValueError, match="Sum of input lengths"):
        D.random_split(range(5), [2, 2])
    with pytest.raises(ValueError, match="not between 0 and 1"):
        D.random_split(range(5), [1.5, -0.5])
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        D.random_split(range(1), [0.5, 0.5])


def test_subset_concat_and_tensor_dataset():
    x = ct.tensor(np.arange(12.0).reshape(6, 2))
    ds = D.TensorDataset(x, ct.arange(6))
    sub = D.Subset(ds, [5, 1, 3])
    assert len(sub) == 3 and sub[0][1].item() == 5
    batches = list(D.DataLoader(sub, batch_size=2))  # through TensorDataset's batch fetch
    assert batches[0][1].tolist() == [5, 1] and batches[1][0].tolist() == [[6.0, 7.0]]
    cat = ds + D.TensorDataset(ct.zeros(2, 2), ct.arange(2) + 100)
    assert len(cat) == 8 and cat[6][1].item() == 100 and cat[-1][1].item() == 101
    with pytest.raises(IndexError):
        cat[8]
    with pytest.raises(ValueError, match="size mismatch"):
        D.TensorDataset(ct.zeros(3), ct.zeros(4))
    batch = next(iter(D.DataLoader(ds, batch_size=6)))
    batch[0].add_(1.0)  # batches are copies, as torch's stack makes: the dataset is untouched
    assert x[0, 0].item() == 0.0


class Stream(D.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


@pytest.mark.parametrize("batch_size, drop_last", [(3, False), (3, True), (None, False), (10, False)])
def test_iterable_dataset_matches_torch(batch_size, drop_last):
    class TorchStream(tud.IterableDataset):
        def __iter__(self):
            return iter(range(7))

        def __len__(self):
            return 7

    ours = D.DataLoader(Stream(7), batch_size=batch_size, drop_last=drop_last)
    theirs = tud.DataLoader(TorchStream(), batch_size=batch_size, drop_last=drop_last)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert_same(a, b)
    with pytest.raises(ValueError, match="expected unspecified shuffle"):
        D.DataLoader(Stream(3), shuffle=True)


def test_worker_threads_give_the_same_batches():
    seen = set()

    class Recording(Samples):
        def __getitem__(self, i):
            info = D.get_worker_info()
            seen.add(info.id if info else None)
            return np.full(2, i)

    started = []
    plain = [b.tolist() for b in D.DataLoader(Recording(lambda i: i, n=50), batch_size=4)]
    loader = D.DataLoader(Recording(lambda i: i, n=50), batch_size=4, num_workers=2, worker_init_fn=started.append,
                          persistent_workers=True)
    for _ in range(2):
        assert [b.tolist() for b in loader] == plain
    assert seen - {None} <= {0, 1} and sorted(started) in ([0], [0, 1])
    assert threading.current_thread() is threading.main_thread() and D.get_worker_info() is None
    loader._pool.shutdown()


# ------------------------------------------------------------------ Arrow sources
def arrow_table(n=10, rng=None):
    rng = rng or np.random.default_rng(0)
    emb = rng.standard_normal((n, 4)).astype(np.float32)
    return pa.table({
        "emb": arrow.fixed_size_list_from_numpy(emb),
        "img": arrow.fixed_shape_tensor_from_numpy(rng.standard_normal((n, 2, 3)).astype(np.float32)),
        "rec": arrow.records_from_numpy(rng.integers(0, 256, (n, 8), dtype=np.uint8)),
        "label": pa.array(rng.integers(0, 5, n)), "w": pa.array(rng.random(n).astype(np.float32)),
        "flag": pa.array(rng.random(n) < 0.5), "name": pa.array([f"row{i}" for i in range(n)]),
        "seq": pa.array([[float(i), float(-i)] for i in range(n)], pa.list_(pa.float64())),
        "small": pa.array(np.arange(n, dtype=np.uint16)),
    }), emb


def reference_columns(table):
    return {
        "emb": arrow.to_numpy(table["emb"]), "img": arrow.to_numpy(table["img"]), "rec": arrow.to_numpy(table["rec"]),
        "label": table["label"].to_numpy(), "w": table["w"].to_numpy(), "flag": table["flag"].to_numpy(),
        "name": table["name"].to_pylist(), "seq": np.array(table["seq"].to_pylist()),
        "small": table["small"].to_numpy().astype(np.int32),
    }


def check_batch(batch: dict, ref: dict, rows):
    for name, values in ref.items():
        if name == "name":
            assert batch[name] == [values[i] for i in rows]
        else:
            assert isinstance(batch[name], ct.Tensor)
            np.testing.assert_array_equal(batch[name].numpy(), np.asarray(values)[rows])


@pytest.mark.parametrize("shuffle", [False, True])
def test_arrow_dataset_batches_equal_the_rows(shuffle):
    table, _ = arrow_table(23)
    ref, ds = reference_columns(table), D.ArrowDataset(table)
    sampler = D.RandomSampler(ds, generator=ct.Generator().manual_seed(1)) if shuffle else None
    order = list(D.RandomSampler(ds, generator=ct.Generator().manual_seed(1))) if shuffle else list(range(23))
    batches = list(D.DataLoader(ds, batch_size=5, sampler=sampler))
    for k, batch in enumerate(batches):
        check_batch(batch, ref, order[5 * k:5 * k + 5])
    assert batches[-1]["label"].shape == (3,)
    row = ds[-2]
    assert row["name"] == "row21" and row["img"].shape == (2, 3) and row["label"].shape == ()
    with pytest.raises(IndexError):
        ds[23]


@pytest.mark.parametrize("rows", [[0, 1, 2], [4, 0, 4, 9], [7]])
def test_arrow_batches_equal_default_collate_of_the_rows(rows):
    table, _ = arrow_table(10)
    for columns in (None, ["name", "emb", "flag"], "img"):
        ds = D.ArrowDataset(table, columns=columns)
        fast = next(iter(D.DataLoader(ds, batch_size=len(rows), sampler=rows)))
        slow = next(iter(D.DataLoader(ds, batch_size=len(rows), sampler=rows, collate_fn=D.default_collate)))
        reference = D.default_collate([ds[i] for i in rows])
        for got in (fast, slow):
            assert type(got) is type(reference)
            flat_got, flat_ref = (list(b.values()) if isinstance(b, dict) else b if isinstance(b, list) else [b]
                                  for b in (got, reference))
            for a, b in zip(flat_got, flat_ref, strict=True):
                assert type(a) is type(b)
                assert a == b if isinstance(b, (tuple, list)) else np.array_equal(a.numpy(), b.numpy())


def test_arrow_dataset_batches_are_zero_copy_views():
    table, emb = arrow_table(16)
    ds = D.ArrowDataset(table, columns=["emb", "img", "rec", "w"])
    batch = next(iter(D.DataLoader(ds, batch_size=8)))
    assert isinstance(batch, list) and len(batch) == 4
    buffers = [table[c].chunk(0) for c in ("emb", "img", "rec", "w")]
    raw = [np.frombuffer(b.buffers()[-1], np.uint8) for b in
           (buffers[0].values, buffers[1].storage.values, buffers[2], buffers[3])]
    for tensor, memory in zip(batch, raw):
        assert np.shares_memory(tensor.numpy(), memory)
        assert not tensor.numpy().flags.writeable  # Arrow memory is immutable: in-place ops raise, never corrupt
    np.testing.assert_array_equal(batch[0].numpy(), emb[:8])
    with pytest.raises(ct.ValueRangeError, match="read-only"):
        batch[0].add_(1.0)


def test_arrow_dataset_chunked_table_and_layouts():
    table, emb = arrow_table(20)
    chunked = pa.Table.from_batches(table.to_batches(max_chunksize=6))
    x = next(iter(D.DataLoader(D.ArrowDataset(chunked, columns="emb"), batch_size=8)))  # spans two chunks: joined
    np.testing.assert_array_equal(x.numpy(), emb[:8])
    ds = D.ArrowDataset(chunked, columns=["label", "emb"], transform={"emb": lambda e: e * 2})
    label, doubled = ds[7]
    np.testing.assert_array_equal(doubled.numpy(), emb[7] * 2)
    swapped = D.ArrowDataset(chunked, columns=["label", "emb"], transform=lambda b: (b[1], b[0]))
    first = next(iter(D.DataLoader(swapped, batch_size=4)))
    np.testing.assert_array_equal(first[0].numpy(), emb[:4])
    with pytest.raises(ValueError, match="no column 'nope'"):
        D.ArrowDataset(table, columns=["nope"])
    with pytest.raises(ValueError, match="transform names columns"):
        D.ArrowDataset(table, columns=["emb"], transform={"label": abs})


def test_arrow_dataset_files(tmp_path):
    table, _ = arrow_table(12)
    ref = reference_columns(table)
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=5)
    with pa.OSFile(str(tmp_path / "t.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    for path in (tmp_path / "t.parquet", tmp_path / "t.arrow"):
        ds = D.ArrowDataset(path, columns=["emb", "label", "name"])
        batches = list(D.DataLoader(ds, batch_size=4))
        for k, (e, lab, names) in enumerate(batches):
            rows = list(range(4 * k, 4 * k + 4))
            np.testing.assert_array_equal(e.numpy(), ref["emb"][rows])
            assert lab.tolist() == ref["label"][rows].tolist() and names == tuple(ref["name"][i] for i in rows)
    pyarrow.csv.write_csv(table.select(["label", "w", "name"]), tmp_path / "t.csv")
    ds = D.ArrowDataset(tmp_path / "t.csv", columns=["label", "w"])
    lab, w = next(iter(D.DataLoader(ds, batch_size=12)))
    assert lab.tolist() == ref["label"].tolist()
    np.testing.assert_allclose(w.numpy(), ref["w"], rtol=1e-6)
    with pytest.raises(ValueError, match="unknown format"):
        D.ArrowDataset(tmp_path / "t.csv", format="xml")
    with pytest.raises(FileNotFoundError):
        D.ArrowDataset(tmp_path / "missing.parquet")


def test_column_conversion_errors():
    with pytest.raises(ValueError, match="'x' holds 1 null"):
        D.arrow_to_tensor(pa.array([1.0, None]), "x")
    with pytest.raises(ValueError, match="lists of lengths 1..2"):
        D.arrow_to_tensor(pa.array([[1.0], [1.0, 2.0]]), "l")
    with pytest.raises(TypeError, match="timestamp"):
        D.arrow_to_tensor(pa.array([0], pa.timestamp("s")), "t")
    with pytest.raises(TypeError, match="uint64"):
        D.arrow_to_tensor(pa.array([1], pa.uint64()), "u")
    assert D.arrow_to_tensor(pa.array(["a", "b"]).dictionary_encode()) == ["a", "b"]
    empty = D.arrow_to_tensor(arrow.fixed_size_list_from_numpy(np.zeros((3, 2), np.float32)).slice(3))
    assert empty.shape == (0, 2)


# ------------------------------------------------------------- DataFusion streaming
@pytest.fixture
def ctx():
    context = datafusion.SessionContext()
    table, _ = arrow_table(100)
    context.register_record_batches("t", [table.select(["emb", "rec", "label", "name"]).to_batches(max_chunksize=30)])
    return context


def test_from_query_streams_exact_batches(ctx):
    df = ctx.sql("SELECT emb, rec, label, name FROM t WHERE label < 4 ORDER BY name")
    whole = df.to_arrow_table()
    got = list(D.from_query(df, batch_size=16, columns=["emb", "label", "name"]))
    full, rest = divmod(whole.num_rows, 16)
    assert [len(b[2]) for b in got] == [16] * full + ([rest] if rest else [])
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in got]), arrow.to_numpy(whole["emb"]))
    assert sum((b[2] for b in got), []) == whole["name"].to_pylist()
    dropped = list(D.from_query(df, batch_size=16, columns="label", drop_last=True))
    assert all(b.shape == (16,) for b in dropped) and len(dropped) == whole.num_rows // 16
    via_loader = list(D.DataLoader(D.from_query(df, 16, columns="rec"), batch_size=None))
    np.testing.assert_array_equal(np.concatenate([b.numpy() for b in via_loader]), arrow.to_numpy(whole["rec"]))


class CountingFrame:
    """A DataFrame stand-in that records every record batch the stream hands out."""

    def __init__(self, df):
        self.df, self.pulled = df, []

    def execute_stream(self):
        for batch in self.df.execute_stream():
            self.pulled.append(batch.to_pyarrow())
            yield self.pulled[-1]


def test_from_query_pulls_lazily_and_shares_memory(ctx):
    frame = CountingFrame(ctx.sql("SELECT emb, label FROM t"))
    stream = iter(D.from_query(frame, batch_size=10, columns=["emb", "label"]))
    emb, _ = next(stream)
    assert len(frame.pulled) == 1  # one record batch (30 rows) pulled for the first 10-row batch
    source = frame.pulled[0].column("emb").values.buffers()[1]
    assert np.shares_memory(emb.numpy(), np.frombuffer(source, np.uint8))
    next(stream), next(stream), next(stream)  # rows 30..39 straddle nothing; 3 batches in
    assert len(frame.pulled) == 2


def test_from_query_over_a_huge_result_never_materialises_it():
    ctx = datafusion.SessionContext()
    df = ctx.sql("SELECT value AS x, CAST(value AS DOUBLE) * 0.5 AS y FROM range(10000000000)")  # 10^10 rows
    stream = iter(D.from_query(df, batch_size=1000, columns=["x", "y"]))
    seen = []
    for _ in range(3):  # partitions run in parallel: rows come in no fixed order
        x, y = next(stream)
        assert x.shape == (1000,) and x.dtype is ct.int64
        np.testing.assert_array_equal(y.numpy(), x.numpy() * 0.5)
        seen.extend(x.tolist())
    assert len(set(seen)) == 3000


def test_from_query_errors(ctx):
    with pytest.raises(ValueError, match="no column 'zzz'"):
        D.from_query(ctx.sql("SELECT label FROM t"), 4, columns=["zzz"])
    with pytest.raises(ValueError, match="batch_size"):
        D.from_query(ctx.sql("SELECT label FROM t"), 0)
    with pytest.raises(TypeError, match="DataFusion DataFrame"):
        D.from_query(pa.table({"a": [1]}), 4)


def test_rebatch_cuts_exactly():
    batches = [pa.record_batch({"x": list(range(s, s + k))}) for s, k in [(0, 3), (3, 0), (3, 10), (13, 2)]]
    cut = list(D.rebatch(batches, 4))
    assert [b.num_rows for b in cut] == [4, 4, 4, 3]
    assert sum((b.column("x").to_pylist() for b in cut), []) == list(range(15))
    assert isinstance(cut[1], pa.RecordBatch)  # rows 4..7 lie inside one input batch: a zero-copy slice


@pytest.mark.filterwarnings("ignore")
def test_ray_dataset_batches():
    ray = pytest.importorskip("ray")
    table, emb = arrow_table(40)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        ds = ray.data.from_arrow(table.select(["emb", "label"]))
        got = list(D.arrow_batches_to_tensors(ds.iter_batches(batch_size=16, batch_format="pyarrow"),
                                              columns=["emb", "label"]))
    finally:
        ray.shutdown()
    assert [x.shape[0] for x, _ in got] == [16, 16, 8]
    np.testing.assert_array_equal(np.concatenate([x.numpy() for x, _ in got]), emb)
    assert sum((y.tolist() for _, y in got), []) == table["label"].to_pylist()


# ---------------------------------------------------------------------- transforms
def test_normalize_matches_torch_and_is_differentiable():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    mean, std = [0.1, -0.2, 0.3], [0.5, 2.0, 1.5]
    m, s = (torch.tensor(v, dtype=torch.float64)[:, None, None] for v in (mean, std))  # torchvision: x's dtype
    expected = (torch.from_numpy(x) - m) / s
    np.testing.assert_allclose(T.Normalize(mean, std)(x), expected.numpy(), rtol=1e-12)
    xt = ct.tensor(x).requires_grad_()
    out = T.Normalize(mean, std)(xt)
    np.testing.assert_allclose(out.detach().numpy(), expected.numpy(), rtol=1e-12)
    out.sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), np.broadcast_to(1 / np.array(std)[:, None, None], x.shape))
    buf = x[0].astype(np.float32)
    assert T.Normalize(mean, std, inplace=True)(buf) is buf
    with pytest.raises(TypeError, match="float tensor"):
        T.Normalize(mean, std)(np.zeros((3, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="division by zero"):
        T.Normalize(mean, [1, 0, 1])(x)
    with pytest.raises(ValueError, match="2 values for 3 channels"):
        T.Normalize([0, 0], [1, 1])(x)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_random_crop_takes_windows_of_the_padded_image(mode):
    imgs = np.random.default_rng(1).standard_normal((6, 2, 5, 7)).astype(np.float32)
    crop = T.RandomCrop((4, 5), padding=(1, 2), fill=-9.0, padding_mode=mode, generator=ct.Generator().manual_seed(2))
    out = crop(imgs)
    assert out.shape == (6, 2, 4, 5)
    kwargs = {"constant_values": -9.0} if mode == "constant" else {}
    padded = np.pad(imgs, [(0, 0), (0, 0), (2, 2), (1, 1)], mode=mode, **kwargs)
    offsets = []
    for img, got in zip(padded, out):
        found = [(i, j) for i in range(9 - 4 + 1) for j in range(9 - 5 + 1)
                 if np.array_equal(img[:, i:i + 4, j:j + 5], got)]
        assert found
        offsets.append(found[0])
    assert len(set(offsets)) > 1  # each image its own window
    again = T.RandomCrop((4, 5), padding=(1, 2), fill=-9.0, padding_mode=mode, generator=ct.Generator().manual_seed(2))
    np.testing.assert_array_equal(again(imgs), out)


def test_random_crop_single_images_tensors_and_errors():
    img = ct.tensor(np.arange(16.0).reshape(1, 4, 4))
    out = T.RandomCrop(2, generator=ct.Generator().manual_seed(0))(img)
    assert isinstance(out, ct.Tensor) and out.shape == (1, 2, 2)
    assert T.RandomCrop(4)(img).tolist() == img.tolist()
    assert T.RandomCrop(6, pad_if_needed=True)(np.ones((3, 4, 4))).shape == (3, 6, 6)
    with pytest.raises(ValueError, match="larger than input image size"):
        T.RandomCrop(5)(img)
    for bad in ({"size": 0}, {"size": (1, 2, 3)}, {"size": 2, "padding": -1}, {"size": 2, "padding_mode": "wrap"}):
        with pytest.raises(ValueError):
            T.RandomCrop(**bad)


def test_random_horizontal_flip():
    imgs = np.random.default_rng(2).standard_normal((400, 1, 2, 3))
    out = T.RandomHorizontalFlip(0.5, generator=ct.Generator().manual_seed(0))(imgs)
    flipped = np.array([np.array_equal(o, i[..., ::-1]) for o, i in zip(out, imgs)])
    kept = np.array([np.array_equal(o, i) for o, i in zip(out, imgs)])
    assert (flipped ^ kept).all() and 150 < flipped.sum() < 250
    np.testing.assert_array_equal(T.RandomHorizontalFlip(0.5, generator=ct.Generator().manual_seed(0))(imgs), out)
    one = ct.tensor(imgs[0])
    assert T.RandomHorizontalFlip(1.0)(one).tolist() == imgs[0][..., ::-1].tolist()
    assert T.RandomHorizontalFlip(0.0)(one) is one
    with pytest.raises(ValueError, match="probability"):
        T.RandomHorizontalFlip(1.5)


def test_compose_in_an_arrow_dataset():
    rng = np.random.default_rng(3)
    imgs = rng.random((10, 1, 6, 6)).astype(np.float32)
    table = pa.table({"img": arrow.fixed_shape_tensor_from_numpy(imgs), "y": pa.array(np.arange(10))})
    tf = T.Compose([T.RandomCrop(4, padding=1, generator=ct.Generator().manual_seed(0)),
                    T.RandomHorizontalFlip(generator=ct.Generator().manual_seed(1)), T.Normalize([0.5], [0.25])])
    ds = D.ArrowDataset(table, columns=["img", "y"], transform={"img": tf})
    x, y = next(iter(D.DataLoader(ds, batch_size=10)))
    assert x.shape == (10, 1, 4, 4) and y.tolist() == list(range(10))
    assert x.numpy().min() >= -2.0 and x.numpy().max() <= 2.0
    assert ds[0][0].shape == (1, 4, 4)
