"""The cogtensor command (demo, info, sql) and the README quick start that CI runs."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from cogtensor import cli, hdc, sql
from cogtensor.arrow import records_from_numpy, to_numpy

ROOT = Path(__file__).resolve().parents[1]


def test_demo_finds_what_it_planted():
    result = cli.demo(classes=5, per_class=60, train=20, seed=1)
    assert result["prototype_accuracy"] > 0.95
    assert set(result["top10_labels"]) == {3}
    assert result["cascade_recall_at_10"] >= 0.9
    assert result["decoded_ok"]


def test_cli_entry_points():
    out = subprocess.run([sys.executable, "-m", "cogtensor.cli", "info"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "isa" in json.loads(out.stdout)
    bad = subprocess.run([sys.executable, "-m", "cogtensor.cli", "frobnicate"], capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_ci_runs_the_readme_quick_start():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start\s+```bash\n(.*?)```", readme, re.S).group(1).strip().splitlines()
    assert block == ['pip install ".[test]" && cogtensor demo', "pytest"]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert block[0] in ci and any(line.split("#")[0].strip() == block[1] for line in ci)


# ---------------------------------------------------------------- cogtensor sql

QUERIES = [
    "SELECT id, label, hamming(rec, (SELECT rec FROM cogs WHERE id = 7)) AS d FROM cogs ORDER BY d, id LIMIT 10",
    "SELECT label, bundle(rec) AS proto, count(*) AS n FROM cogs GROUP BY label ORDER BY label",
    "SELECT id, bind(rec, permute(rec, 3)) AS r, popcount(rec) AS p FROM cogs WHERE id < 20 ORDER BY id",
]


@pytest.fixture(scope="module")
def cogs():
    recs = hdc.random(300, 8192, seed=11)
    return pa.table({"id": np.arange(300), "label": np.arange(300) % 4, "rec": records_from_numpy(recs)})


@pytest.fixture(scope="module")
def cogs_parquet(cogs, tmp_path_factory):
    path = tmp_path_factory.mktemp("cogs") / "cogs.parquet"
    pq.write_table(cogs, path, row_group_size=64)  # several row groups: several batches
    return path


def run_cli(capsys, *argv):
    code = cli.main(["sql", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("query", QUERIES)
def test_sql_on_parquet_equals_the_in_memory_path(capsys, tmp_path, cogs, cogs_parquet, query):
    code, out, err = run_cli(capsys, query, "--table", f"cogs={cogs_parquet}", "--output", tmp_path / "out.parquet")
    assert code == 0, err
    ctx = sql.context()
    ctx.register_record_batches("cogs", [cogs.to_batches(max_chunksize=50)])
    expected = ctx.sql(query).to_arrow_table()
    assert pq.read_table(tmp_path / "out.parquet").equals(expected)


def test_sql_parquet_records_round_trip(capsys, tmp_path, cogs, cogs_parquet):
    code, _, _ = run_cli(capsys, "SELECT id, hamming(rec, (SELECT rec FROM cogs WHERE id = 7)) AS d FROM cogs "
                         "ORDER BY d, id LIMIT 5", "-t", f"cogs={cogs_parquet}", "-o", tmp_path / "near.parquet")
    assert code == 0
    near = pq.read_table(tmp_path / "near.parquet")
    recs = to_numpy(cogs.column("rec").combine_chunks())
    expected = hdc.topk(recs[7], recs, 5)
    assert near.column("id").to_pylist() == expected.indices.tolist()
    assert near.column("d").to_pylist() == expected.distances.tolist()
    code, _, _ = run_cli(capsys, "SELECT * FROM cogs ORDER BY id", "-t", f"cogs={cogs_parquet}", "-o", tmp_path / "all.parquet")
    assert code == 0 and pq.read_table(tmp_path / "all.parquet").equals(cogs)


def test_sql_prints_records_abbreviated(capsys, cogs_parquet, cogs):
    code, out, _ = run_cli(capsys, "SELECT id, rec FROM cogs ORDER BY id", "--table", f"cogs={cogs_parquet}",
                           "--max-rows", "3")
    assert code == 0
    first = cogs.column("rec")[0].as_py()[:8].hex()
    assert f"| {first}… |" in out
    assert max(map(len, out.splitlines())) < 80
    assert "(first 3 of 300 rows" in out and "| 3  |" not in out


@pytest.mark.parametrize("suffix", [".arrow", ".feather", ".ipc", ".csv"])
def test_sql_registers_by_extension(capsys, tmp_path, cogs, suffix):
    path = tmp_path / f"t{suffix}"
    small = cogs.select(["id", "label"])
    if suffix == ".csv":
        pacsv.write_csv(small, path)
    elif suffix == ".ipc":  # the stream format
        with pa.ipc.new_stream(path, small.schema) as writer:
            writer.write_table(small)
    else:
        feather.write_feather(cogs, path)
    code, out, err = run_cli(capsys, "SELECT count(*) AS n, sum(label) AS s FROM t", "--table", f"t={path}")
    assert code == 0, err
    assert "| 300 | 450 |" in out


def test_sql_file_with_several_statements(capsys, tmp_path, cogs_parquet):
    script = tmp_path / "script.sql"
    script.write_text("-- prototypes; then a query per result\n"
                      "CREATE TABLE protos AS SELECT label, bundle(rec) AS p FROM cogs GROUP BY label;\n"
                      "SELECT count(*) AS classes FROM protos;\n"
                      "SELECT label, 'a;b' AS s FROM protos ORDER BY label;  -- last; written by --output\n")
    code, out, err = run_cli(capsys, "-f", script, "--table", f"cogs={cogs_parquet}", "-o", tmp_path / "o.parquet")
    assert code == 0, err
    assert "| classes |" in out and "| 4       |" in out and "| a;b |" in out
    assert pq.read_table(tmp_path / "o.parquet").column("label").to_pylist() == [0, 1, 2, 3]


def test_sql_width_and_dim_options(capsys):
    code, out, err = run_cli(capsys, "SELECT hamming_16(hdc_random_16(1), hdc_random_16(1)) AS d, "
                             "int8_dot_4(quantize_4(arrow_cast(make_array(1.0, 2.0, 3.0, 4.0), "
                             "'FixedSizeList(4, Float32)')), quantize_4(arrow_cast(make_array(1.0, 0.0, 0.0, 0.0), "
                             "'FixedSizeList(4, Float32)'))) AS dot", "--width", "16", "--dim", "4")
    assert code == 0, err
    assert "| 0 | 4064 |" in out  # [1, 2, 3, 4] -> [32, 64, 95, 127], [1, 0, 0, 0] -> [127, 0, 0, 0]


@pytest.mark.parametrize(("argv", "message"), [
    (["SELEC 1"], "ParserError"),
    (["SELECT * FROM missing"], "missing"),
    (["SELECT 1", "--table", "t"], "--table expects NAME=PATH"),
    (["SELECT 1", "--table", "1t=x.parquet"], "must be a SQL identifier"),
    (["SELECT 1", "--table", "t=/no/such/file.parquet"], "no such file"),
    (["SELECT 1", "--table", "t={cli}"], "cannot tell the format"),
    (["SELECT cog_container(rec, 7) FROM cogs", "--table", "cogs={parquet}"],
     "cog_container: container index must be 0, 1, 2 or 3, got 7"),
    (["-f", "/no/such/script.sql"], "No such file"),
    (["-- nothing"], "no SQL statement"),
    (["CREATE TABLE x AS SELECT 1 AS a", "--output", "{tmp}/x.parquet"], "no statement returned a result"),
    (["SELECT 1", "--width", "0"], "widths must be positive"),
])
def test_sql_errors_are_one_line(capsys, tmp_path, cogs_parquet, argv, message):
    argv = [a.format(cli=cli.__file__, parquet=cogs_parquet, tmp=tmp_path) for a in argv]
    code, out, err = run_cli(capsys, *argv)
    assert code == 1
    assert err.startswith("cogtensor sql: error: ") and err.count("\n") == 1, err
    assert message in err and "Traceback" not in err


def test_sql_error_exit_code_from_the_console(tmp_path):
    bad = subprocess.run([sys.executable, "-m", "cogtensor.cli", "sql", "SELECT cog_container(x, 9)"],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


@pytest.mark.parametrize("argv", [["sql"], ["sql", "SELECT 1", "-f", "x.sql"], ["sql", "SELECT 1", "--max-rows", "0"],
                                  ["sql", "SELECT 1", "--width", "x"]])
def test_sql_usage_errors_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_demo_runs_the_sql_examples_and_saves_the_sample(tmp_path, capsys):
    out = subprocess.run([sys.executable, "-m", "cogtensor.cli", "demo", "--save-sample", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "all checks passed" in out.stdout
    for name in ["nearest_neighbours", "class_prototypes", "digits_classification", "quantized_search"]:
        assert f"sql/{name}.sql" in out.stdout
    code, printed, err = run_cli(capsys, "-f", ROOT / "sql" / "quantized_search.sql", "--dim", "64",
                                 "--table", f"cogs={tmp_path / 'cogs.parquet'}")
    assert code == 0, err
    assert "| queries | top1_agreement" in printed


def test_sql_sample_tables(capsys):
    code, out, err = run_cli(capsys, "--sample", "-f", ROOT / "sql" / "nearest_neighbours.sql")
    assert code == 0, err
    assert out.splitlines()[1].split() == ["|", "id", "|", "label", "|", "distance", "|"]
    assert "(5 rows)" in out


def test_demo_exits_1_when_a_check_fails(monkeypatch, capsys):
    small = cli.demo(classes=4, per_class=20, train=5)
    monkeypatch.setattr(cli, "demo", lambda: small)
    monkeypatch.setattr(cli, "sql_demo", lambda *a, **k: [("digits_classification", "accuracy 0.5", None, False, 0.1)])
    assert cli.main(["demo"]) == 1
    assert "SOME CHECKS FAILED" in capsys.readouterr().out
    monkeypatch.setattr(cli, "sql_demo", lambda *a, **k: [("digits_classification", "accuracy 0.9", None, True, 0.1)])
    assert cli.main(["demo"]) == 0
