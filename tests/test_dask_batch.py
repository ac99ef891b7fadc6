"""The batch on a Dask cluster: partitioned Parquet in and out, the local run's rows, row for row."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import distributed
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import policy_engine
from policy_engine import batch, dask_batch
from policy_engine.batch import BatchOptions, EngineSpec
from policy_engine.cli import main
from policy_engine.dask_batch import PolicyBundle, run_on_dask
from policy_engine.parquet import plan_partitions, read_table
from policy_engine.population import population_lines

from .conftest import AS_OF, POLICIES


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A 2-worker local cluster in this process (threads: starts in about a second), shared by the tests here."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def accounts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three part files of 30 accounts (one of them a bad row), row groups of 4: several tasks per part."""
    folder = tmp_path_factory.mktemp("dask") / "accounts"
    folder.mkdir()
    engine = policy_engine.load(POLICIES)
    texts = [line.rstrip("\n") for line in population_lines(engine, 29, seed=8, as_of=AS_OF)]
    texts.insert(12, '{"kind": "spot-margin"}')
    for index, (start, end) in enumerate([(0, 10), (10, 22), (22, 30)]):
        pq.write_table(pa.table({"account": texts[start:end]}), folder / f"part.{index}.parquet", row_group_size=4)
    return folder


def local_run(accounts: Path, out: Path, trace: str) -> pa.Table:
    argv = ["batch", str(accounts), "--out", str(out), "--as-of", AS_OF, "--policies", str(POLICIES)]
    code, _, stderr = run(*argv, "--trace", trace)
    assert code == 0, stderr
    return pq.read_table(out)


@pytest.mark.parametrize("trace", ["full", "none"])
def test_the_cli_on_a_two_worker_cluster_gives_the_local_rows(
    tmp_path: Path, accounts: Path, scheduler: str, trace: str
) -> None:
    """--engine dask --scheduler: a part file per partition (row groups, at least --partition-rows rows),
    whose rows read in name order are the local run's, row for row, error row included."""
    out = tmp_path / "decisions"
    argv = ["batch", str(accounts), "--out", str(out), "--as-of", AS_OF, "--policies", str(POLICIES)]
    code, stdout, stderr = run(
        *argv, "--engine", "dask", "--scheduler", scheduler, "--partition-rows", "5", "--trace", trace,
        "--summary", "json",
    )  # fmt: skip
    assert (code, stderr) == (0, "")
    # part 0: row groups 4+4 | 2; part 1: 4+4 | 4; part 2: 4+4
    assert sorted(path.name for path in out.iterdir()) == [f"part-{index:05d}.parquet" for index in range(5)]
    assert [pq.read_metadata(part).num_rows for part in sorted(out.iterdir())] == [8, 2, 8, 4, 8]
    expected = local_run(accounts, tmp_path / "local.parquet", trace)
    assert read_table(out).equals(expected)
    assert expected.column("problems").to_pylist()[12][0]["line"] == 13
    assert '"workers":2' in stdout
    assert '"rows":30' in stdout
    assert '"first_error_lines":[13]' in stdout
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []


def test_an_earlier_output_folder_is_replaced_whole_or_kept(
    tmp_path: Path, accounts: Path, scheduler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failing task leaves no output and the earlier folder as it was; a run that completes replaces it."""
    out = tmp_path / "decisions"
    out.mkdir()
    (out / "part-00009.parquet").write_text("an older run")
    options = BatchOptions(as_of=datetime(2026, 3, 1, tzinfo=UTC), source=str(accounts))
    spec = EngineSpec(policies=(str(POLICIES),))
    decide = dask_batch.decide_partition

    def failing(job: dask_batch.PartitionJob) -> object:
        if job.partition.first_row > 1:
            raise RuntimeError("a worker died")
        return decide(job)

    monkeypatch.setattr(dask_batch, "decide_partition", failing)
    with pytest.raises(RuntimeError, match="a worker died"):
        run_on_dask(accounts, out, options=options, spec=spec, scheduler=scheduler, partition_rows=5)
    assert [path.name for path in tmp_path.iterdir()] == ["decisions"]
    assert [path.name for path in out.iterdir()] == ["part-00009.parquet"]
    monkeypatch.setattr(dask_batch, "decide_partition", decide)
    summary = run_on_dask(accounts, out, options=options, spec=spec, scheduler=scheduler)
    assert (summary.rows, summary.errors) == (30, 1)
    assert sorted(path.name for path in out.iterdir()) == [f"part-0000{index}.parquet" for index in range(3)]
    assert [path.name for path in tmp_path.iterdir()] == ["decisions"]


def test_policies_travel_as_bytes_under_the_names_decisions_cite(tmp_path: Path) -> None:
    """A worker loads the bundle's files from its own folder and gets the very policies the client loaded,
    `file` (the folder's name and the path inside it) and digests included."""
    margin = next(POLICIES.glob("margin*.yaml"))
    bundle = PolicyBundle.of((str(POLICIES), str(margin)))
    written = bundle.write(tmp_path)
    assert written == (str(tmp_path / "0" / POLICIES.name), str(tmp_path / "1" / POLICIES.name / margin.name))
    engine = policy_engine.load(POLICIES)
    assert policy_engine.load(written[0]).policies == engine.policies
    assert bundle.digest == PolicyBundle.of((str(POLICIES), str(margin))).digest
    assert bundle.digest != PolicyBundle.of((str(POLICIES),)).digest


def test_the_dask_engine_reads_and_writes_parquet_only(tmp_path: Path) -> None:
    """JSON Lines and a decision log are refused with --engine dask, every problem at once, before anything runs."""
    argv = ["batch", "in.jsonl", "--out", str(tmp_path / "out"), "--engine", "dask", "--log-file", "log"]
    code, _, stderr = run(*argv)
    assert (code, stderr) == (
        2,
        "--engine: $: expected Parquet with --engine dask, got jsonl\n"
        "--log-file: $: not kept with --engine dask; leave it out\n"
        "2 problems found\n",
    )
    assert list(tmp_path.iterdir()) == []


def test_a_worker_with_other_policies_refuses_the_task(tmp_path: Path, accounts: Path) -> None:
    """A worker whose engine is not the client's (other versions or digests) decides nothing: the task
    raises the policy error in a form that crosses processes, and writes no part."""
    options = BatchOptions(as_of=datetime(2026, 3, 1, tzinfo=UTC), source="x", output_format="parquet")
    job = dask_batch.PartitionJob(
        bundle=PolicyBundle.of((str(POLICIES),)),
        spec=EngineSpec(policies=()),
        expected=(),
        options=options,
        partition=plan_partitions(accounts)[0],
        chunk_size=4,
        out_path=str(tmp_path / "part.parquet"),
    )
    with pytest.raises(batch._Relayed) as raised:
        dask_batch.decide_partition(job)
    assert raised.value.kind is policy_engine.PolicyError
    assert [problem.message for problem in raised.value.problems] == [
        "a worker loaded other policies than the client; check the workers' policy-engine version"
    ]
    assert list(tmp_path.iterdir()) == []


def test_a_worker_loads_each_policy_set_once_and_keeps_a_few(
    tmp_path: Path, accounts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tasks of one policy set share the worker's engine, whatever their options; the worker keeps the
    engines of the `ENGINES_KEPT` policy sets used last."""
    monkeypatch.setattr(dask_batch, "_ENGINES", {})
    loads: list[tuple[str, ...]] = []
    load = EngineSpec.load

    def counted(self: EngineSpec, decision_log: None = None) -> policy_engine.Engine:
        loads.append(self.policies)
        return load(self, decision_log)

    monkeypatch.setattr(EngineSpec, "load", counted)
    bundle = PolicyBundle.of((str(POLICIES),))
    expected = policy_engine.load(POLICIES).policies
    partitions = plan_partitions(accounts, partition_rows=5)
    for index, trace in enumerate([True, False, True]):
        job = dask_batch.PartitionJob(
            bundle=bundle,
            spec=EngineSpec(policies=()),
            expected=expected,
            options=BatchOptions(as_of=datetime(2026, 3, 1, index, tzinfo=UTC), trace=trace, output_format="parquet"),
            partition=partitions[index],
            chunk_size=4,
            out_path=str(tmp_path / f"part-{index}.parquet"),
        )
        assert dask_batch.decide_partition(job).rows == partitions[index].rows
    assert len(loads) == 1
    others = [PolicyBundle(roots=bundle.roots, digest=f"other-{index}") for index in range(dask_batch.ENGINES_KEPT)]
    for other in others:
        dask_batch._cached_decider(replace(job, bundle=other))
    assert len(loads) == 1 + dask_batch.ENGINES_KEPT
    assert list(dask_batch._ENGINES) == [other.digest for other in others]  # the first set, used longest ago, left
