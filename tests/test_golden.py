"""Golden files: the CLI's text explanations of the bundled examples, byte for byte.

They change only on purpose: run `UPDATE_GOLDEN=1 pytest tests/test_golden.py`
and review the diff of `tests/golden/` like any other change.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from policy_engine.cli import main

from .conftest import AS_OF, EXAMPLES, POLICIES

GOLDEN = Path(__file__).parent / "golden"

CASES = [
    (
        "margin-a-regular.txt",
        ["evaluate", str(EXAMPLES / "margin-a-regular.json"), "--format", "text", "--as-of", AS_OF],
    ),
    (
        "margin-b-takeover.txt",
        ["evaluate", str(EXAMPLES / "margin-b-takeover.json"), "--format", "text", "--as-of", AS_OF],
    ),
    (
        "margin-c-regular-then-takeover.txt",
        ["evaluate", str(EXAMPLES / "margin-c-regular-then-takeover.json"), "--format", "text", "--as-of", AS_OF],
    ),
    (
        "loan-topup.txt",
        ["evaluate", str(EXAMPLES / "loan-topup.json"), "--format", "text", "--as-of", "2020-07-25T17:18:38Z"],
    ),
    (
        "loan-simulation.txt",
        ["simulate", str(EXAMPLES / "loan-topup.json"), "--prices", str(EXAMPLES / "loan-prices.csv")],
    ),
    (
        "futures-isolated-long.txt",
        ["evaluate", str(EXAMPLES / "futures-isolated-long.json"), "--format", "text", "--as-of", AS_OF],
    ),
    (
        "futures-auto-add-simulation.txt",
        ["simulate", str(EXAMPLES / "futures-auto-add.json"), "--prices", str(EXAMPLES / "futures-prices.csv")],
    ),
]


@pytest.mark.parametrize(("golden", "argv"), CASES, ids=[name.removesuffix(".txt") for name, _ in CASES])
def test_cli_text_matches_golden_file(golden: str, argv: list[str]) -> None:
    """The text a person reads is exactly the reviewed golden file."""
    out, err = io.StringIO(), io.StringIO()
    code = main([*argv, "--policies", str(POLICIES)], stdout=out, stderr=err)
    assert (code, err.getvalue()) == (0, "")
    path = GOLDEN / golden
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(out.getvalue())
    assert out.getvalue() == path.read_text()
