"""`compile_templates`, the kit piece the collateral product added: message templates checked at load.

Loans' notifications and the max-collateral rule's messages both use it.
"""

from __future__ import annotations

from pathlib import Path

import policy_engine
from policy_engine import PolicyError, kit

from .conftest import POLICIES
from .test_table_kit import FILE, document, texts

MESSAGES = """\
messages:
  ok: "$asset may move $quantity; costs $$5"
  braces: "${asset}s"
  typo: "at most $max_quantiy"
  broken: "50 $ and more"
"""


def test_templates_are_checked_against_the_names_filled_in() -> None:
    """Valid ones compile; an unknown placeholder gets a did-you-mean, a stray `$` says how to write one."""
    templates, problems = kit.compile_templates(
        document(MESSAGES), ("messages",), {"asset", "quantity", "max_quantity"}
    )
    assert sorted(templates) == ["braces", "ok", "typo"]
    assert templates["ok"].substitute(asset="BTC", quantity="1") == "BTC may move 1; costs $5"
    assert templates["braces"].substitute(asset="BTC") == "BTCs"
    assert texts(problems) == [
        f"{FILE}:4:9: $.messages.typo: unknown placeholder `$max_quantiy`; expected one of $asset, $max_quantity,"
        " $quantity; did you mean `max_quantity`?",
        f"{FILE}:5:11: $.messages.broken: invalid template: write $name or ${{name}}, and $$ for a dollar sign",
    ]


def test_no_templates_at_the_path_is_no_problem() -> None:
    assert kit.compile_templates(document("other: 1\n"), ("messages",), {"asset"}) == ({}, [])


def test_loan_notifications_use_it(tmp_path: Path) -> None:
    """A misspelled placeholder in the bundled loan policy's notifications is located at load."""
    text = (
        (POLICIES / "crypto-loans.yaml")
        .read_text()
        .replace('LTV $ltv_before -> $ltv_after."\n', 'LTV $ltv_befor."\n', 1)
    )
    (tmp_path / "crypto-loans.yaml").write_text(text)
    try:
        policy_engine.load(tmp_path)
    except PolicyError as error:
        found = [str(problem) for problem in error.problems]
    else:
        found = []
    line = next(number for number, row in enumerate(text.splitlines(), 1) if "$ltv_befor." in row)
    assert found == [
        f"{tmp_path}/crypto-loans.yaml:{line}:13: $.auto_top_up.notifications.top_up: unknown placeholder"
        " `$ltv_befor`; expected one of $asset, $attempts, $ltv_after, $ltv_before, $next_attempt_at, $quantity;"
        " did you mean `ltv_before`?"
    ]
