"""The fuzz targets (tests/fuzz) over their seeds, hypothesis-made mutations, and atheris for a bounded time."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .fuzz.targets import TARGETS, seeds

ROOT = Path(__file__).resolve().parents[1]
FUZZ_SECONDS = {"prices": 10, "account": 20, "policy": 25}
FUZZ_SEED = 1
"""libFuzzer's seed in CI: each run explores the same mutations (a faster machine only gets further), so a red
run is a crash anyone can reproduce. Explore with a random seed and longer: `python -m tests.fuzz account
-max_total_time=600` (SECURITY.md)."""
"""Atheris' time per target in the suite: at most 60 s in all (issue 15)."""


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_every_seed_passes_its_target(target: str) -> None:
    """The bundled files themselves decide or are refused only with the documented errors."""
    found = seeds(target)
    assert found, f"no seed corpus for {target}"
    for seed in found:
        TARGETS[target](seed)


@st.composite
def mutated(draw: st.DrawFn, target: str) -> bytes:
    """A seed with a few random byte edits: flips, insertions, deletions, a cut, or a splice of another seed."""
    corpus = seeds(target)
    data = bytearray(draw(st.sampled_from(corpus)))
    for _ in range(draw(st.integers(1, 4))):
        edit = draw(st.sampled_from(["flip", "insert", "delete", "cut", "splice"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if edit == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif edit == "insert":
            data[at:at] = draw(
                st.binary(min_size=1, max_size=8) | st.sampled_from([b"\n", b"{", b"[", b":", b"'", b"-"])
            )
        elif edit == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif edit == "cut":
            del data[at:]
        else:
            other = draw(st.sampled_from(corpus))
            data[at:] = other[draw(st.integers(0, max(len(other) - 1, 0))) :]
    return bytes(data)


@pytest.mark.parametrize(("target", "examples"), [("prices", 300), ("account", 300), ("policy", 40)])
def test_mutated_seeds_raise_only_documented_errors(target: str, examples: int) -> None:
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(mutated(target))
    def run(data: bytes) -> None:
        TARGETS[target](data)

    run()


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris is not installed (Linux and macOS)")
@pytest.mark.parametrize("target", sorted(FUZZ_SECONDS))
def test_atheris_finds_no_crash_in_its_time(target: str, tmp_path: Path) -> None:
    """Coverage-guided fuzzing from the seeds for a bounded time; a crash leaves its input in the output."""
    seconds = FUZZ_SECONDS[target]
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.fuzz",
            target,
            f"-max_total_time={seconds}",
            f"-seed={FUZZ_SEED}",
            "-timeout=20",
            "-rss_limit_mb=2048",
            f"-artifact_prefix={tmp_path}/",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=False,
    )
    crashes = sorted(path.name for path in tmp_path.iterdir())
    assert (run.returncode, crashes) == (0, []), run.stderr[-4000:]
