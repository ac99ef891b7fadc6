"""Accounts and logs from outside (issue 15): read with a bound, and a log that cannot be written stops the decision."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import policy_engine
from policy_engine import DecisionLogError
from policy_engine.cli import MAX_INPUT_BYTES, main

from .conftest import EXAMPLES, POLICIES


def run(*argv: str, stdin: io.StringIO | io.TextIOWrapper | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=stdin or io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_an_endless_account_file_is_refused_at_the_bound() -> None:
    """`evaluate /dev/zero` used to grow until memory ran out."""
    code, out, err = run("evaluate", "/dev/zero", "--policies", str(POLICIES), "--max-input-bytes", "1000")
    assert (code, out) == (2, "")
    assert err.splitlines()[0] == (
        "/dev/zero: $: the account is larger than 1,000 bytes; refused before reading the rest"
    )


def test_a_huge_account_on_standard_input_is_refused_without_reading_it_all() -> None:
    class Endless(io.RawIOBase):
        served = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
            if self.served > 2 * MAX_INPUT_BYTES:
                raise AssertionError("read far past the bound")
            buffer[:] = b" " * len(buffer)
            self.served += len(buffer)
            return len(buffer)

    stdin = io.TextIOWrapper(io.BufferedReader(Endless()), encoding="utf-8")
    code, _, err = run("evaluate", "-", "--policies", str(POLICIES), stdin=stdin)
    assert code == 2
    assert err.splitlines()[0] == (
        f"<stdin>: $: the account is larger than {MAX_INPUT_BYTES:,} bytes; refused before reading the rest"
    )


def test_an_account_within_the_bound_is_read(tmp_path: Path) -> None:
    account = EXAMPLES / "margin-a-regular.json"
    size = account.stat().st_size
    assert run("evaluate", str(account), "--as-of", "2026-03-01", "--max-input-bytes", str(size))[0] == 0
    assert run("evaluate", str(account), "--as-of", "2026-03-01", "--max-input-bytes", str(size - 1))[0] == 2


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_a_decision_log_that_cannot_be_written_is_exit_2_and_no_decision() -> None:
    """`--log-file /dev/full` used to end in an internal error (OSError): now a located problem, nothing printed."""
    code, out, err = run(
        "evaluate", str(EXAMPLES / "margin-a-regular.json"), "--policies", str(POLICIES), "--log-file", "/dev/full"
    )
    assert (code, out) == (2, "")
    assert err.splitlines()[0] == "/dev/full: $: cannot write the decision log: No space left on device"


def test_the_library_raises_a_decision_log_error() -> None:
    class Broken(io.StringIO):
        name = "broken.log"

        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")

    engine = policy_engine.load(POLICIES, decision_log=Broken())
    with pytest.raises(DecisionLogError) as raised:
        engine.evaluate(
            {
                "kind": "spot-margin",
                "account_id": "x",
                "mode": "cross_classic",
                "leverage": 5,
                "assets": [],
                "liabilities": [],
            },
            "2026-03-01",
        )
    assert [str(problem) for problem in raised.value.problems] == [
        "broken.log: $: cannot write the decision log: No space left on device"
    ]


def test_an_account_nested_past_the_bound_is_a_located_problem_not_a_recursion_error(tmp_path: Path) -> None:
    """An ignored field nested 600 deep used to end in an internal error (RecursionError while freezing)."""
    account = (EXAMPLES / "margin-a-regular.json").read_text().rstrip().removesuffix("}")
    path = tmp_path / "deep.json"
    path.write_text(account + ', "extra": ' + "[" * 600 + "]" * 600 + "}")
    code, out, err = run("evaluate", str(path), "--policies", str(POLICIES))
    assert (code, out) == (2, "")
    assert err.splitlines()[0] == (
        f"{path}: $.extra{'[0]' * 32}: the account nests objects and arrays more than 32 levels deep; an account has 3"
    )


def test_an_account_nested_past_the_parsers_stack_is_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "deeper.json"
    path.write_text('{"a":' * 5000 + "1" + "}" * 5000)
    code, _, err = run("evaluate", str(path), "--policies", str(POLICIES))
    assert (code, err.splitlines()[0]) == (
        2,
        f"{path}: $: the account nests objects and arrays more than 32 levels deep; an account has 3",
    )
