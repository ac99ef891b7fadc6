"""Fuzz targets: each takes arbitrary bytes and may fail only with the package's documented errors.

A target returns normally or raises `PolicyError`, `AccountError` or
`EvaluationError` (each carrying located problems); anything else (a
`RecursionError`, a `UnicodeEncodeError`, a decision that `to_json` cannot
write) is a crash.  The targets run two ways: under atheris, coverage-guided
(`python -m tests.fuzz TARGET`, see `__main__.py`), and in the test suite over
a seed corpus and hypothesis-made mutations of it (`tests/test_fuzz.py`).
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from policy_engine import AccountError, Engine, EvaluationError, PolicyError, load
from policy_engine.accounts import parse_account
from policy_engine.price_path import PricePath

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
EXAMPLES = ROOT / "examples"
AS_OF = datetime(2026, 3, 1, tzinfo=UTC)

EXPECTED = (PolicyError, AccountError, EvaluationError)
"""The errors a target may raise: the documented ones, each with located problems."""

Target = Callable[[bytes], None]


@cache
def _engine() -> Engine:
    return load(POLICIES)


@cache
def _policy_file() -> Path:
    """A file, one per process, that each run of the policy target overwrites."""
    return Path(tempfile.mkdtemp(prefix="fuzz-policy-")) / "policy.yaml"


def _problems_located(error: PolicyError | AccountError | EvaluationError) -> None:
    if not error.problems:
        raise AssertionError(f"{type(error).__name__} without problems")
    for problem in error.problems:
        str(problem).encode()  # every message can be printed


def policy(data: bytes) -> None:
    """`data` as a policy file, loaded on its own; a policy that loads decides the examples or refuses them."""
    _policy_file().write_bytes(data)
    try:
        engine = load(_policy_file())
    except PolicyError as error:
        _problems_located(error)
        return
    for example in sorted(EXAMPLES.glob("*.json")):
        account(example.read_bytes(), engine)


def account(data: bytes, engine: Engine | None = None) -> None:
    """`data` as an account file (JSON or YAML), evaluated on the bundled policies and written out."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return  # the CLI refuses undecodable bytes before parsing; covered by its own tests
    try:
        parsed = parse_account(text, source="fuzz.json")
        if not isinstance(parsed, dict):
            return
        decision = (engine or _engine()).evaluate(parsed, AS_OF, source="fuzz.json")
    except EXPECTED as error:
        _problems_located(error)
        return
    decision.to_json()
    decision.to_json(trace=False)


def prices(data: bytes) -> None:
    """`data` as a price-path file, checked and then read point by point."""
    try:
        with PricePath(io.BytesIO(data), source="fuzz.csv") as path:
            for _point in path:
                pass
    except AccountError as error:
        _problems_located(error)


TARGETS: dict[str, Target] = {"policy": policy, "account": account, "prices": prices}


def seeds(target: str) -> list[bytes]:
    """The seed corpus of a target: the bundled files of its kind."""
    if target == "policy":
        return [path.read_bytes() for path in sorted(POLICIES.glob("*.yaml"))]
    if target == "account":
        return [path.read_bytes() for path in sorted(EXAMPLES.glob("*.json"))]
    return [path.read_bytes() for path in sorted(EXAMPLES.glob("*prices*"))]
