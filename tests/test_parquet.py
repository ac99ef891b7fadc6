"""Batch over Parquet: the same decisions as JSON Lines, in queryable columns, streamed and atomically written."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import policy_engine
from policy_engine import parquet
from policy_engine.batch import BatchOptions, ChunkResult, run_batch
from policy_engine.cli import main
from policy_engine.parquet import OUTPUT_SCHEMA, ParquetReader, plan_partitions, read_table
from policy_engine.population import population_lines

from .conftest import AS_OF, POLICIES, ROOT

FROM_FIELDS = (
    "from a table of account fields, DuckDB's `SELECT to_json(t) AS account FROM t`"
    " or Spark's `to_json(struct(*)) AS account` makes it"
)
"""The hint for a table without an `account` column, as the message words it."""

BAD_ROWS = {
    # row number -> account JSON text (None: a null cell)
    2: '{"kind": "spot-margn", "account_id": "typo"}',
    5: '{"kind": "spot-margin", "account_id": "x",',
    7: None,
    9: "",
}


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def texts() -> list[str | None]:
    """Accounts as JSON text (no newline), good ones and the bad rows of `BAD_ROWS`, 24 in all."""
    engine = policy_engine.load(POLICIES)
    rows: list[str | None] = [line.rstrip("\n") for line in population_lines(engine, 20, seed=5, as_of=AS_OF)]
    for number in sorted(BAD_ROWS):
        rows.insert(number - 1, BAD_ROWS[number])
    return rows


def write_accounts(path: Path, texts: list[str | None], *, row_group_rows: int = 5) -> None:
    table = pa.table({"note": [f"n{i}" for i in range(len(texts))], "account": pa.array(texts, pa.string())})
    pq.write_table(table, path, row_group_size=row_group_rows)


def batch_argv(source: Path, out: Path, *extra: str) -> list[str]:
    return ["batch", str(source), "--out", str(out), "--as-of", AS_OF, "--policies", str(POLICIES), *extra]


@pytest.mark.parametrize("trace", ["full", "none"])
def test_the_decision_column_is_the_jsonl_line(tmp_path: Path, texts: list[str | None], trace: str) -> None:
    """Row N of the Parquet output is line N of the JSON Lines output of the same accounts: the `decision`
    column is that line (without its newline), the other columns are read from it, error rows carry the
    same problems."""
    accounts = tmp_path / "accounts.parquet"
    write_accounts(accounts, texts)
    lines = tmp_path / "accounts.jsonl"
    lines.write_text("".join(f"{text or ''}\n" for text in texts))
    assert run(*batch_argv(lines, tmp_path / "out.jsonl", "--trace", trace))[0] == 0
    code, stdout, stderr = run(*batch_argv(accounts, tmp_path / "out.parquet", "--trace", trace))
    assert (code, stdout) == (0, ""), stderr
    assert "errors 4 (lines 2, 5, 7, 9)" in stderr.splitlines()
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.schema == OUTPUT_SCHEMA
    expected = (tmp_path / "out.jsonl").read_text().splitlines()
    assert table.num_rows == len(expected) == 24
    for number, (row, line) in enumerate(zip(table.to_pylist(), expected, strict=True), 1):
        assert row["row"] == number
        assert row["as_of"].isoformat() == "2026-03-01T00:00:00+00:00"
        jsonl = json.loads(line)
        if "error" in jsonl:
            assert number in BAD_ROWS
            assert (row["decision"], row["status"], row["policy_id"], row["input_sha256"]) == (None, None, None, None)
            assert (row["account_id"], row["kind"]) == (jsonl["account"]["id"], jsonl["account"]["kind"])
            if texts[number - 1] is not None:  # a null cell has no JSON Lines twin (its blank line is checked apart)
                for problem in jsonl["error"]["problems"]:
                    problem["file"] = str(accounts)
                assert row["problems"] == jsonl["error"]["problems"]
            continue
        assert row["decision"] == line
        assert row["problems"] is None
        policy = jsonl["policy"]
        assert (row["account_id"], row["kind"], row["status"]) == (
            jsonl["account"]["id"],
            jsonl["account"]["kind"],
            jsonl["outcome"]["status"],
        )
        assert (row["policy_id"], row["policy_version"], row["policy_sha256"]) == (
            policy["id"],
            policy["version"],
            policy["sha256"],
        )
        assert row["input_sha256"] == jsonl["input_sha256"]
        assert ("trace" in jsonl) == (trace == "full")


def test_error_rows_name_the_row_and_the_problem(tmp_path: Path, texts: list[str | None]) -> None:
    """A null cell, an empty one and JSON cut short are error rows citing the input and the row number."""
    accounts = tmp_path / "accounts.parquet"
    write_accounts(accounts, texts)
    assert run(*batch_argv(accounts, tmp_path / "out.parquet"))[0] == 0
    rows = {row["row"]: row for row in pq.read_table(tmp_path / "out.parquet").to_pylist()}
    problems = {number: rows[number]["problems"] for number in (5, 7, 9)}
    assert problems == {
        5: [
            {
                "file": str(accounts),
                "line": 5,
                "col": 43,
                "json_path": "$",
                "message": "invalid JSON: Expecting property name enclosed in double quotes",
                "suggestion": None,
            }
        ],
        7: [
            {
                "file": str(accounts),
                "line": 7,
                "col": 0,
                "json_path": "$",
                "message": "expected an object (an account), got null",
                "suggestion": None,
            }
        ],
        9: [
            {
                "file": str(accounts),
                "line": 9,
                "col": 0,
                "json_path": "$",
                "message": "blank line; expected an account (a JSON object)",
                "suggestion": None,
            }
        ],
    }


def test_a_folder_of_parts_in_natural_order_with_workers(tmp_path: Path, texts: list[str | None]) -> None:
    """A folder's parts are read as one table, `part.2` before `part.10`, hidden and `_` files skipped;
    two workers and one write the same table."""
    folder = tmp_path / "accounts"
    (folder / "zone=b").mkdir(parents=True)
    write_accounts(folder / "part.2.parquet", texts[:10])
    write_accounts(folder / "part.10.parquet", texts[10:17])
    write_accounts(folder / "zone=b" / "part.0.parquet", texts[17:])
    pq.write_table(pa.table({"other": [1]}), folder / "_metadata.parquet")
    (folder / ".part.3.parquet.crc").write_text("checksum")
    whole = tmp_path / "whole.parquet"
    write_accounts(whole, texts)
    assert [partition.rows for partition in plan_partitions(folder)] == [10, 7, 7]
    outputs = []
    runs = (("whole", whole, "1"), ("one", folder, "1"), ("two", folder, "2"))
    for name, source, workers in runs:
        out = tmp_path / f"{name}.parquet"
        code, _, stderr = run(*batch_argv(source, out, "--workers", workers, "--chunk-size", "4", "--trace", "none"))
        assert code == 0, stderr
        outputs.append(pq.read_table(out))
    assert outputs[1].equals(outputs[2])
    assert outputs[0].column("decision").equals(outputs[1].column("decision"))
    assert outputs[1].column("row").to_pylist() == list(range(1, 25))


def test_chunks_stream_across_row_groups(tmp_path: Path, texts: list[str | None]) -> None:
    """The reader yields chunks of `chunk_size` rows numbered from 1, whatever the row groups (read one by one)."""
    accounts = tmp_path / "accounts.parquet"
    write_accounts(accounts, texts, row_group_rows=7)
    reader = ParquetReader(accounts, chunk_size=5)
    chunks = list(reader)
    assert reader.total_rows == 24
    assert [(chunk.first_line, len(chunk.rows)) for chunk in chunks] == [(1, 5), (6, 5), (11, 5), (16, 5), (21, 4)]
    assert [row for chunk in chunks for row in chunk.rows] == texts


def test_jsonl_in_parquet_out_by_option_and_back(tmp_path: Path, texts: list[str | None]) -> None:
    """The format follows the name unless --input-format / --output-format says otherwise."""
    lines = tmp_path / "accounts.txt"
    lines.write_text("".join(f"{text or ''}\n" for text in texts[:3]))
    out = tmp_path / "decisions.out"
    assert run(*batch_argv(lines, out, "--output-format", "parquet"))[0] == 0
    assert pq.read_table(out).column("row").to_pylist() == [1, 2, 3]
    back = tmp_path / "back.jsonl"
    assert run(*batch_argv(out, back, "--input-format", "parquet"))[0] == 2  # no `account` column in decisions


def test_input_problems_all_at_once_before_anything_is_written(tmp_path: Path) -> None:
    """Every part's footer is checked first: each problem named, exit 2, no output."""
    folder = tmp_path / "accounts"
    folder.mkdir()
    pq.write_table(pa.table({"accounts": ["{}"]}), folder / "part-0.parquet")
    pq.write_table(pa.table({"account": [1]}), folder / "part-1.parquet")
    (folder / "part-2.parquet").write_text("not parquet")
    out = tmp_path / "out.parquet"
    code, _, stderr = run(*batch_argv(folder, out))
    assert code == 2
    assert stderr.splitlines() == [
        f"{folder / 'part-0.parquet'}: $: no `account` column; expected each account as JSON text in a column"
        " `account` (columns found: accounts); " + FROM_FIELDS + "; did you mean `account`?",
        f"{folder / 'part-1.parquet'}: $.account: expected the column `account` to hold JSON text (string or"
        " binary), got int64",
        f"{folder / 'part-2.parquet'}: $: cannot read the accounts as Parquet: Parquet magic bytes not found in"
        " footer. Either the file is corrupted or this is not a parquet file.",
        "3 problems found",
    ]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["accounts"]
    empty = tmp_path / "empty"
    empty.mkdir()
    expected = f"{empty}: $: no Parquet files (*.parquet, *.pq) in this folder\n1 problem found\n"
    assert run(*batch_argv(empty, out))[2] == expected


def test_parquet_from_stdin_is_refused(tmp_path: Path) -> None:
    code, _, stderr = run("batch", "-", "--out", str(tmp_path / "o.jsonl"), "--input-format", "parquet")
    expected = "<stdin>: $: Parquet cannot be read from standard input; name the file\n1 problem found\n"
    assert (code, stderr) == (2, expected)


@pytest.mark.parametrize(("failure", "code"), [(KeyboardInterrupt(), 130), (OSError(28, "No space left on device"), 2)])
def test_an_interrupted_parquet_run_leaves_no_output(
    tmp_path: Path, texts: list[str | None], monkeypatch: pytest.MonkeyPatch, failure: BaseException, code: int
) -> None:
    """The writer failing after two row groups (Ctrl-C, a full disk) removes the temporary file; an older
    output stays as it was."""
    accounts = tmp_path / "accounts.parquet"
    write_accounts(accounts, texts)
    out = tmp_path / "out.parquet"
    out.write_text("an older run\n")
    write = parquet.ParquetWriter.write
    written: list[int] = []

    def failing(self: parquet.ParquetWriter, result: ChunkResult) -> None:
        if len(written) == 2:
            raise failure
        write(self, result)
        written.append(result.first_line)

    monkeypatch.setattr(parquet.ParquetWriter, "write", failing)
    exit_code, _, stderr = run(*batch_argv(accounts, out, "--chunk-size", "5"))
    assert written == [1, 6]
    reason = "batch interrupted" if code == 130 else f"batch: {failure}"
    assert (exit_code, stderr) == (code, f"policy-engine: {reason}; {out} was not written\n")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["accounts.parquet", "out.parquet"]
    assert out.read_text() == "an older run\n"


def test_population_writes_parquet_batch_input(tmp_path: Path) -> None:
    """`population --out x.parquet`: the same accounts as its JSON Lines, with `account_id` and `kind` beside."""
    lines, table = tmp_path / "accounts.jsonl", tmp_path / "accounts.parquet"
    common = ["--count", "7", "--seed", "3", "--as-of", AS_OF, "--policies", str(POLICIES)]
    assert run("population", *common, "--out", str(lines))[0] == 0
    assert run("population", *common, "--out", str(table))[0] == 0
    rows = pq.read_table(table).to_pylist()
    expected = [json.loads(line) for line in lines.read_text().splitlines()]
    assert [row["account"] + "\n" for row in rows] == lines.read_text().splitlines(keepends=True)
    assert [(row["account_id"], row["kind"]) for row in rows] == [(a["account_id"], a["kind"]) for a in expected]
    assert read_table(table).equals(pq.read_table(table))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["batch", "in.parquet", "--out", "out.jsonl"], "Parquet input and output"),
        (["batch", "in.jsonl", "--out", "out.parquet"], "Parquet input and output"),
        (["population", "--count", "1", "--out", "out.parquet"], "Parquet input and output"),
        (["batch", "in.parquet", "--out", "out", "--engine", "dask"], "--engine dask"),
    ],
)
def test_a_missing_extra_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], message: str
) -> None:
    """Without pyarrow (or dask), the command says which extra to install, and exits 2 without writing."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.jsonl").write_text("{}\n")
    (tmp_path / "in.parquet").write_text("")
    hidden: dict[str, Any] = {"pyarrow": None, "pyarrow.parquet": None, "distributed": None}
    for module in list(sys.modules):
        if module.startswith(("policy_engine.parquet", "policy_engine.dask_batch")):
            monkeypatch.delitem(sys.modules, module)
    for module, value in hidden.items():
        monkeypatch.setitem(sys.modules, module, value)
    argv = [*argv, "--policies", str(POLICIES)]
    code, _, stderr = run(*argv)
    extra = "dask" if message == "--engine dask" else "parquet"
    missing = "distributed" if extra == "dask" else "pyarrow"
    where = "--engine dask" if extra == "dask" else next(arg for arg in argv if arg.endswith(".parquet"))
    assert (code, stderr) == (
        2,
        f"{where}: $: {message} needs the optional extra `{extra}` ({missing} is not installed):"
        f" pip install 'policy-engine[{extra}]'\n1 problem found\n",
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.jsonl", "in.parquet"]


_PROBE = """
import io, sys
from policy_engine.cli import main
code = main(["batch", "-", "--out", sys.argv[1], "--as-of", "2026-03-01"], stdin=io.StringIO("{}\\n"),
            stdout=io.StringIO(), stderr=io.StringIO())
print(code, sorted(m for m in ("pyarrow", "dask", "distributed") if m in sys.modules))
"""


def test_the_jsonl_batch_imports_neither_pyarrow_nor_dask(tmp_path: Path) -> None:
    """The core install needs neither extra: a JSON Lines batch does not import them."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(tmp_path / "out.jsonl")], capture_output=True, text=True, check=True,
        cwd=ROOT,
    )
    assert result.stdout == "0 []\n"


def test_chunks_are_gathered_into_row_groups(tmp_path: Path, texts: list[str | None]) -> None:
    """The writer gathers chunks until a row group holds `row_group_rows` (or `row_group_bytes`); the
    rows are the same whatever the row groups."""
    accounts = tmp_path / "accounts.parquet"
    write_accounts(accounts, texts)
    options = BatchOptions(as_of=datetime(2026, 3, 1, tzinfo=UTC), output_format="parquet")
    sizes = {}
    for name, limits in (("rows", {"row_group_rows": 10}), ("bytes", {"row_group_bytes": 1}), ("default", {})):
        out = tmp_path / f"{name}.parquet"
        run_batch(ParquetReader(accounts, chunk_size=4), parquet.ParquetWriter(out, **limits), options=options)
        metadata = pq.read_metadata(out)
        sizes[name] = [metadata.row_group(index).num_rows for index in range(metadata.num_row_groups)]
    assert sizes == {"rows": [12, 12], "bytes": [4] * 6, "default": [24]}
    assert pq.read_table(tmp_path / "rows.parquet").equals(pq.read_table(tmp_path / "default.parquet"))
