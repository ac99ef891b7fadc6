"""Finding and reading policy files (issue 15): nothing skipped without a word, nothing read past its limit."""

from __future__ import annotations

import decimal
import os
import shutil
from pathlib import Path

import pytest

import policy_engine
from policy_engine import LoadLimits, PolicyError

from .conftest import POLICIES, example


def problems_of(*paths: Path, limits: LoadLimits | None = None) -> list[str]:
    with pytest.raises(PolicyError) as raised:
        policy_engine.load(*paths, limits=limits)
    return [str(problem) for problem in raised.value.problems]


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    """A copy of the bundled policies (without their tests) in a folder of its own."""
    folder = tmp_path / "pack"
    folder.mkdir()
    for policy in POLICIES.glob("*.yaml"):
        if not policy.name.endswith(".test.yaml"):
            shutil.copy(policy, folder / policy.name)
    return folder


def test_a_policy_file_with_an_upper_case_suffix_is_named_not_skipped(pack: Path) -> None:
    (pack / "extra.YAML").write_text("kind: spot-margin\n")
    assert problems_of(pack) == [
        f"{pack}/extra.YAML: $: policy files end in .yaml or .yml in lower case; this one is not loaded;"
        " did you mean `extra.yaml`?"
    ]


def test_a_link_loop_is_a_problem_not_a_silent_skip(pack: Path) -> None:
    (pack / "sub").mkdir()
    (pack / "sub" / "back").symlink_to(pack, target_is_directory=True)
    assert problems_of(pack) == [
        f"{pack}/sub/back: $: leads to {pack.resolve()}, which is already searched"
        " (a link loop, or a second link to it)"
    ]


def test_a_broken_link_named_like_a_policy_is_a_problem(pack: Path) -> None:
    (pack / "gone.yaml").symlink_to(pack / "nowhere.yaml")
    assert problems_of(pack) == [f"{pack}/gone.yaml: $: not a readable file (a broken link?)"]


def test_a_sub_folder_that_cannot_be_read_is_a_problem(pack: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """(Tests may run as root, which reads any folder: the refusal is simulated where the search lists it.)"""
    locked = pack / "locked"
    locked.mkdir()
    listing = Path.iterdir

    def refuse(self: Path) -> object:
        if self == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return listing(self)

    monkeypatch.setattr(Path, "iterdir", refuse)
    assert problems_of(pack) == [f"{locked}: $: cannot read this folder: Permission denied"]


def test_a_policy_file_that_cannot_be_read_is_a_problem_not_a_crash(
    pack: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unreadable = pack / "margin-trading.yaml"
    opening = Path.open

    def refuse(self: Path, *args: object, **kwargs: object) -> object:
        if self == unreadable:
            raise PermissionError(13, "Permission denied", str(self))
        return opening(self, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "open", refuse)
    assert problems_of(unreadable) == [f"{unreadable}: $: cannot read the file: Permission denied"]


def test_a_huge_file_is_refused_by_its_size_without_being_read(pack: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 4 GiB sparse file used to be read whole before the size check."""
    huge = pack / "huge.yaml"
    with huge.open("wb") as file:
        file.truncate(4 << 30)
    reads: list[int] = []
    real_read = os.read

    def counted(fd: int, n: int) -> bytes:
        reads.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(os, "read", counted)
    assert problems_of(huge) == [
        f"{huge}: $: the file has 4,294,967,296 bytes; the limit is 1,000,000 (LoadLimits.max_file_bytes)"
    ]
    assert sum(reads) <= 1_000_001


def test_a_limit_is_a_setting(pack: Path) -> None:
    policy = pack / "margin-trading.yaml"
    size = policy.stat().st_size
    assert problems_of(policy, limits=LoadLimits(max_file_bytes=100)) == [
        f"{policy}: $: the file has {size:,} bytes; the limit is 100 (LoadLimits.max_file_bytes)"
    ]


def test_loading_ignores_and_keeps_the_callers_decimal_context(pack: Path) -> None:
    """At prec=3 with Inexact and FloatOperation trapped the pack loads as usual, and the caller's flags stay clear."""
    policy = pack / "crypto-loans.yaml"
    policy.write_text(policy.read_text().replace("retry_interval_hours: 12\n", "retry_interval_hours: 12.345\n"))
    reference = policy_engine.load(pack)
    with decimal.localcontext() as context:
        context.prec = 3
        context.traps[decimal.Inexact] = True
        context.traps[decimal.FloatOperation] = True
        context.clear_flags()
        engine = policy_engine.load(pack)
        assert not any(context.flags.values())
    assert [ref.sha256 for ref in engine.policies] == [ref.sha256 for ref in reference.policies]
    account = example("loan-topup.json")
    account["spot_balances"] = {"BTC": "0"}  # the top-up fails: a retry 12.345 hours later, not 12.3
    account["prices"]["BTC"] = "8850"
    with decimal.localcontext() as context:
        context.prec = 3
        at_prec_3 = engine.evaluate(account, "2026-03-01").to_json()
    assert at_prec_3 == reference.evaluate(account, "2026-03-01").to_json()
    assert '"next_attempt_at":"2026-03-01T12:20:42Z"' in at_prec_3
