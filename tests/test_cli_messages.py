"""Messages in the house style for cases issue 16 found: stdin named alike, no `got None`, empty strings."""

from __future__ import annotations

import io
from pathlib import Path

from policy_engine.cli import main

from .conftest import EXAMPLES, POLICIES, bundled_kinds


def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _simulate(prices: str, *, stdin: str = "") -> tuple[int, str, str]:
    return run("simulate", str(EXAMPLES / "margin-a-regular.json"), "--prices", prices, "--policies", str(POLICIES),
               stdin=stdin)


def test_a_price_path_on_stdin_is_named_stdin() -> None:
    """`--prices -` problems name `<stdin>`, as every other standard input read does (they said `-`)."""
    code, _, err = _simulate("-", stdin="timestamp,asset,price\n2026-02-01,BTC,abc\n")
    assert (code, err) == (
        2, "<stdin>:2:16: $.price: expected a decimal price > 0, got 'abc'\n1 problem found\n")


def test_an_empty_expression_says_what_belongs_there(tmp_path: Path) -> None:
    """`when: ""` is named by the schema's description of the field, not "at least this many characters: 1"."""
    policy = tmp_path / "margin.yaml"
    policy.write_text(
        (POLICIES / "margin-trading.yaml").read_text().replace("when: margin_level <= liquidation_level", 'when: ""')
    )
    assert run("validate", str(policy)) == (
        1,
        "",
        f"{policy}:64:11: $.rules[0].when: expected a boolean expression over margin_level, the tier's thresholds"
        " and the derived figures, got an empty string\n1 problem found\n",
    )


def test_a_policy_without_kind_says_the_key_is_missing(tmp_path: Path) -> None:
    """No `kind:` line: "missing required key `kind`" and the kinds there are, never `got None`."""
    policy = tmp_path / "margin.yaml"
    policy.write_text((POLICIES / "margin-trading.yaml").read_text().replace("kind: margin-trading\n", ""))
    assert run("validate", str(policy)) == (
        1,
        "",
        f"{policy}:6:1: $.kind: missing required key `kind`; expected a policy kind ({', '.join(bundled_kinds())})"
        "\n1 problem found\n",
    )
