"""The shared table kit: marginal bands, brackets with cumulative amounts, zones, rule tables, rounded ratios.

Every table is compiled from YAML text written in the test, so that each
problem carries the real line and column of the value at fault, and each
trace step the real `file:line` of the row it used.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from policy_engine._expressions import ExprType
from policy_engine._plain import json_text
from policy_engine._stepjson import DETAIL_JSON_TEXT
from policy_engine.bands import BandTable, Closed, compile_bands
from policy_engine.compiler import compile_ratio, places_problem, rounding_of
from policy_engine.errors import Problem
from policy_engine.loader import parse_yaml
from policy_engine.model import PolicyDocument, PolicyRef
from policy_engine.rules import RuleTable, compile_rule_table, compile_status_table
from policy_engine.trace import StepSpec, Trace

D = Decimal
FILE = "given/kit.yaml"
"""The path as the user named it: problems cite this one."""
SOURCE = "policies/kit.yaml"
"""The path traces cite."""

Steps = list[tuple[StepSpec, Any]]


def document(text: str) -> PolicyDocument:
    """A policy document parsed from `text`, with the positions of all its values."""
    parsed, problems = parse_yaml(text, file=FILE)
    assert problems == []
    assert parsed is not None
    ref = PolicyRef(
        id="kit",
        kind="kit-test",
        version=1,
        effective_from=datetime(2026, 1, 1, tzinfo=UTC),
        sha256="0" * 64,
        file=FILE,
    )
    return PolicyDocument(file=FILE, source_name=SOURCE, yaml=parsed, ref=ref)


def rendered(steps: Steps, env: dict[str, Any]) -> list[dict[str, Any]]:
    return Trace(tuple(steps), env, {}).to_list()


def texts(problems: list[Problem]) -> list[str]:
    """Problems as the user reads them, in the order an error reports them."""
    return [str(problem) for problem in sorted(problems, key=lambda p: p.sort_key)]


# --- marginal bands (domain.md section 2) ---------------------------------------------------------

BTC_BANDS = """\
collateral:
  BTC:
    - {from: 0, to: 100000000, rate: 1}
    - {from: 100000000, rate: 0.975}
"""


@cache
def btc_table() -> BandTable:
    table, problems = compile_bands(
        document(BTC_BANDS),
        ("collateral", "BTC"),
        name="btc_counted",
        input_name="btc_value",
        description="BTC value counted band by band",
        direction="non-increasing",
    )
    assert problems == []
    assert table is not None
    return table


def test_marginal_domain_example_counts_119_5_million() -> None:
    """The domain example: 120M of BTC at 100% up to 100M and 97.5% above counts exactly 119,500,000."""
    assert btc_table().marginal(D("120000000")).total == D("119500000")


@pytest.mark.parametrize(
    ("value", "parts", "total"),
    [
        ("0", [], "0"),
        ("0.01", [("0.01", "0.01")], "0.01"),
        ("1", [("1", "1")], "1"),
        ("50000000", [("50000000", "50000000")], "50000000"),
        ("99999999.99", [("99999999.99", "99999999.99")], "99999999.99"),
        ("100000000", [("100000000", "100000000")], "100000000"),
        ("100000000.01", [("100000000", "100000000"), ("0.01", "0.00975")], "100000000.00975"),
        ("100000001", [("100000000", "100000000"), ("1", "0.975")], "100000000.975"),
        ("120000000", [("100000000", "100000000"), ("20000000", "19500000")], "119500000"),
    ],
)
def test_marginal_on_and_around_every_edge(value: str, parts: list[tuple[str, str]], total: str) -> None:
    """Each band counts only the part of the value inside it: zero counts nothing, the edge stays in band 1."""
    marginal = btc_table().marginal(D(value))
    assert marginal.total == D(total)
    assert [(part.band.index, part.amount, part.counted) for part in marginal.parts] == [
        (index, D(amount), D(counted)) for index, (amount, counted) in enumerate(parts)
    ]


def test_marginal_step_renders_each_band_with_its_yaml_row() -> None:
    """The marginal step shows the total, and per band its part, rate, counted value and YAML row."""
    steps: Steps = []
    total = btc_table().apply_marginal(D("120000000"), steps)
    assert total == D("119500000")
    assert rendered(steps, {"btc_value": D("120000000")}) == [
        {
            "step": "btc_counted",
            "kind": "bands",
            "description": "BTC value counted band by band",
            "source": "policies/kit.yaml:2",
            "path": "$.collateral.BTC",
            "inputs": {"btc_value": D("120000000")},
            "value": D("119500000"),
            "detail": {
                "bands": [
                    {
                        "index": 0,
                        "from": D("0"),
                        "to": D("100000000"),
                        "rate": D("1"),
                        "source": "policies/kit.yaml:3",
                        "path": "$.collateral.BTC[0]",
                        "amount": D("100000000"),
                        "counted": D("100000000"),
                    },
                    {
                        "index": 1,
                        "from": D("100000000"),
                        "to": None,
                        "rate": D("0.975"),
                        "source": "policies/kit.yaml:4",
                        "path": "$.collateral.BTC[1]",
                        "amount": D("20000000"),
                        "counted": D("19500000"),
                    },
                ]
            },
        }
    ]


def test_marginal_step_below_the_second_band_lists_one_band() -> None:
    """A value inside the first band is counted by that band alone; the step lists only it."""
    table = btc_table()
    steps: Steps = []
    assert table.apply_marginal(D("5"), steps) == D("5")
    spec, value = steps[0]
    assert spec.render(value, {"btc_value": D("5")}, {})["detail"] == {
        "bands": [
            {
                "index": 0,
                "from": D("0"),
                "to": D("100000000"),
                "rate": D("1"),
                "source": "policies/kit.yaml:3",
                "path": "$.collateral.BTC[0]",
                "amount": D("5"),
                "counted": D("5"),
            }
        ]
    }


# --- lint ------------------------------------------------------------------------------------------

BAD_BANDS = """\
risk:
  bands:
    - {from: 5, to: 10, rate: 1}
    - {from: 12, to: 20, rate: 0.9}
    - {from: 18, to: 30, rate: 0.95}
    - {from: 30, to: 25, rate: 0.7}
    - {from: 25, rate: 0.6}
    - {from: 40, to: 50, rate: -0.1}
"""


def test_band_lint_reports_every_problem_at_once_where_it_is() -> None:
    """Start, gap, overlap, `to` <= `from`, open band not last, closed top, rate range, direction: all at once."""
    table, problems = compile_bands(
        document(BAD_BANDS),
        ("risk", "bands"),
        name="haircut",
        input_name="value",
        description="haircut",
        direction="non-increasing",
    )
    assert table is None
    assert texts(problems) == [
        "given/kit.yaml:3:14: $.risk.bands[0].from: expected the first band to start at 0, got 5",
        "given/kit.yaml:4:14: $.risk.bands[1].from: expected 10 (where the previous band ends), got 12:"
        " a gap between bands",
        "given/kit.yaml:5:14: $.risk.bands[2].from: expected 20 (where the previous band ends), got 18:"
        " an overlap between bands",
        "given/kit.yaml:5:32: $.risk.bands[2].rate: expected non-increasing rates: 0.95 after 0.9 in the band before",
        "given/kit.yaml:6:22: $.risk.bands[3].to: expected a value above `from` (30), got 25",
        "given/kit.yaml:7:7: $.risk.bands[4]: only the last band may be open (no `to`); band 6 follows this one",
        "given/kit.yaml:8:22: $.risk.bands[5].to: expected the last band to be open (no `to`) so that every value"
        " falls in a band, got to: 50",
        "given/kit.yaml:8:32: $.risk.bands[5].rate: expected a rate in [0, 1], got -0.1",
    ]


def test_band_lint_refuses_an_empty_band() -> None:
    """`to` equal to `from` is an empty band; a rate above 1 is outside [0, 1]; block-style rows are located too."""
    text = """\
bands:
  - from: 0
    to: 10
    rate: 1
  - from: 10
    to: 10
    rate: 1.5
  - from: 10
    rate: 0.5
"""
    _, problems = compile_bands(document(text), ("bands",), name="b", input_name="v", description="b")
    assert texts(problems) == [
        "given/kit.yaml:6:9: $.bands[1].to: expected a value above `from` (10), got 10",
        "given/kit.yaml:7:11: $.bands[1].rate: expected a rate in [0, 1], got 1.5",
    ]


def test_band_lint_of_an_empty_table_and_a_custom_start_and_range() -> None:
    """No rows is a problem at the table; `start` and `rate_range` are the product's to choose."""
    empty, problems = compile_bands(document("bands: []\n"), ("bands",), name="b", input_name="v", description="b")
    assert empty is None
    assert texts(problems) == ["given/kit.yaml:1:8: $.bands: expected at least one band"]
    text = "bands:\n  - {from: 1, to: 2, rate: 3}\n  - {from: 2, rate: 5}\n"
    table, problems = compile_bands(
        document(text),
        ("bands",),
        name="b",
        input_name="v",
        description="b",
        start=D(1),
        rate_range=(D(2), D(4)),
    )
    assert table is None
    assert texts(problems) == ["given/kit.yaml:3:21: $.bands[1].rate: expected a rate in [2, 4], got 5"]


def test_band_lint_non_decreasing_direction() -> None:
    """`direction="non-decreasing"` refuses a rate lower than the band before's, and accepts an equal one."""
    text = "bands:\n  - {from: 0, to: 1, rate: 0.2}\n  - {from: 1, to: 2, rate: 0.2}\n  - {from: 2, rate: 0.1}\n"
    _, problems = compile_bands(
        document(text), ("bands",), name="b", input_name="v", description="b", direction="non-decreasing"
    )
    assert texts(problems) == [
        "given/kit.yaml:4:21: $.bands[2].rate: expected non-decreasing rates: 0.1 after 0.2 in the band before"
    ]


# --- brackets with cumulative amounts (domain.md section 4) ---------------------------------------

BRACKET_ROWS = [
    ("0", "300000", "0.004", "0"),
    ("300000", "800000", "0.005", "300"),
    ("800000", "3000000", "0.0065", "1500"),
    ("3000000", "12000000", "0.01", "12000"),
    ("12000000", "70000000", "0.02", "132000"),
]


def brackets_yaml(cums: list[str | None]) -> str:
    lines = ["futures:", "  brackets:", "    BTCUSDT:"]
    for (lower, upper, rate, _), cum in zip(BRACKET_ROWS, cums, strict=True):
        shown = "" if cum is None else f", cum: {cum}"
        lines.append(f"      - {{from: {lower}, to: {upper}, rate: {rate}{shown}}}")
    return "\n".join(lines) + "\n"


def compile_brackets(cums: list[str | None], closed: Closed = "lower") -> tuple[BandTable | None, list[Problem]]:
    return compile_bands(
        document(brackets_yaml(cums)),
        ("futures", "brackets", "BTCUSDT"),
        name="mm_bracket",
        input_name="notional",
        description="maintenance margin bracket of the notional",
        cumulative_key="cum",
        open_top=False,
        direction="non-decreasing",
        closed=closed,
    )


@cache
def brackets(closed: Closed = "lower") -> BandTable:
    table, problems = compile_brackets([row[3] for row in BRACKET_ROWS], closed)
    assert problems == []
    assert table is not None
    return table


def test_declared_cums_of_btcusdt_are_accepted() -> None:
    """The published BTCUSDT brackets: every declared cum equals the recomputed one."""
    assert [band.cumulative for band in brackets().bands] == [D(row[3]) for row in BRACKET_ROWS]


def test_omitted_cums_are_computed() -> None:
    """A bracket may leave its cum out; the kit computes it from the brackets before it."""
    table, problems = compile_brackets(["0", None, None, "12000", None])
    assert problems == []
    assert table is not None
    assert [band.cumulative for band in table.bands] == [D("0"), D("300"), D("1500"), D("12000"), D("132000")]


def test_a_wrong_declared_cum_is_refused_with_the_recomputed_value() -> None:
    """A wrong cum is located, the message shows the formula's value, the suggestion the line to write.

    The brackets after it are checked against the recomputed value, so one mistake is one problem.
    """
    table, problems = compile_brackets(["0", "300", "1400", "12000", "132000"])
    assert table is None
    assert texts(problems) == [
        "given/kit.yaml:6:56: $.futures.brackets.BTCUSDT[2].cum: expected 1500 = 800000 x (0.0065 - 0.005)"
        " + 300 (the previous band's cum), got 1400; did you mean `cum: 1500`?"
    ]
    assert problems[0].suggestion == "cum: 1500"


def test_every_wrong_cum_is_reported() -> None:
    """Two wrong cums, two problems, each at its own line."""
    _, problems = compile_brackets(["1", "300", "1500", "12000", "132001"])
    assert texts(problems) == [
        "given/kit.yaml:4:49: $.futures.brackets.BTCUSDT[0].cum: expected 0 = 0 x (0.004 - 0)"
        " + 0 (the previous band's cum), got 1; did you mean `cum: 0`?",
        "given/kit.yaml:8:57: $.futures.brackets.BTCUSDT[4].cum: expected 132000 = 12000000 x (0.02 - 0.01)"
        " + 12000 (the previous band's cum), got 132001; did you mean `cum: 132000`?",
    ]


LOOKUPS_LOWER = [
    ("-0.01", None),
    ("0", 0),
    ("299999.99", 0),
    ("300000", 1),
    ("300000.01", 1),
    ("799999.99", 1),
    ("800000", 2),
    ("2999999.99", 2),
    ("3000000", 3),
    ("11999999.99", 3),
    ("12000000", 4),
    ("69999999.99", 4),
    ("70000000", None),
    ("70000000.01", None),
]
LOOKUPS_UPPER = [
    ("-0.01", None),
    ("0", 0),
    ("0.01", 0),
    ("300000", 0),
    ("300000.01", 1),
    ("800000", 1),
    ("800000.01", 2),
    ("3000000", 2),
    ("3000000.01", 3),
    ("12000000", 3),
    ("12000000.01", 4),
    ("70000000", 4),
    ("70000000.01", None),
]


@pytest.mark.parametrize(("value", "index"), LOOKUPS_LOWER)
def test_bracket_lookup_closed_lower(value: str, index: int | None) -> None:
    """`[from, to)`: an edge belongs to the bracket above it; below the first or at a closed top, no bracket."""
    band = brackets("lower").find(D(value))
    assert (None if band is None else band.index) == index


@pytest.mark.parametrize(("value", "index"), LOOKUPS_UPPER)
def test_bracket_lookup_closed_upper(value: str, index: int | None) -> None:
    """`(from, to]`: an edge belongs to the bracket below it (the first bracket also holds its own `from`)."""
    band = brackets("upper").find(D(value))
    assert (None if band is None else band.index) == index


def maintenance(table: BandTable, notional: Decimal) -> Decimal | None:
    band = table.find(notional)
    if band is None:
        return None
    assert band.rate is not None
    assert band.cumulative is not None
    return notional * band.rate - band.cumulative


@pytest.mark.parametrize(
    ("edge", "amount"),
    [("300000", "1200"), ("800000", "3700"), ("3000000", "18000"), ("12000000", "108000")],
)
def test_value_times_rate_minus_cum_agrees_on_both_sides_of_each_edge(edge: str, amount: str) -> None:
    """At an edge, the bracket below (closed upper) and the one above (closed lower) give the same amount."""
    assert maintenance(brackets("lower"), D(edge)) == D(amount)
    assert maintenance(brackets("upper"), D(edge)) == D(amount)
    below = brackets("upper").find(D(edge))
    above = brackets("lower").find(D(edge))
    assert below is not None
    assert above is not None
    assert above.index == below.index + 1


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=0, max_value=70_000_000, places=2, allow_nan=False, allow_infinity=False))
@example(D(0))
@example(D(300_000))
@example(D(800_000))
@example(D(3_000_000))
@example(D(12_000_000))
@example(D(70_000_000))
def test_value_times_rate_minus_cum_is_continuous(notional: Decimal) -> None:
    """`notional x rate - cum` is the marginal sum whichever way edges are closed: continuous at every edge."""
    lower = maintenance(brackets("lower"), notional)
    upper = maintenance(brackets("upper"), notional)
    marginal = brackets("lower").marginal(notional).total
    if notional == D(70_000_000):
        assert (lower, upper) == (None, marginal)
    else:
        assert lower == upper == marginal


def test_bracket_lookup_step_cites_the_bracket_row() -> None:
    """The lookup step's value is the bracket's number; its detail is the bracket, cum included, with its line."""
    steps: Steps = []
    band = brackets().lookup(D("1000000"), steps)
    assert band is not None
    assert band.index == 2
    assert rendered(steps, {"notional": D("1000000")}) == [
        {
            "step": "mm_bracket",
            "kind": "lookup",
            "description": "maintenance margin bracket of the notional",
            "source": "policies/kit.yaml:3",
            "path": "$.futures.brackets.BTCUSDT",
            "inputs": {"notional": D("1000000")},
            "value": 3,
            "detail": {
                "band": {
                    "index": 2,
                    "from": D("800000"),
                    "to": D("3000000"),
                    "rate": D("0.0065"),
                    "cumulative": D("1500"),
                    "source": "policies/kit.yaml:6",
                    "path": "$.futures.brackets.BTCUSDT[2]",
                }
            },
        }
    ]


def test_bracket_lookup_step_with_no_bracket() -> None:
    """Above a closed top the lookup finds none and records a step with no value and no detail."""
    steps: Steps = []
    assert brackets().lookup(D("70000000"), steps) is None
    assert rendered(steps, {"notional": D("70000000")})[0]["value"] is None
    assert rendered(steps, {"notional": D("70000000")})[0]["detail"] is None


# --- zones -----------------------------------------------------------------------------------------

ZONES = """\
zones:
  - {from: 0, to: 0.5, zone: green}
  - {from: 0.5, to: 0.8, zone: yellow}
  - {from: 0.8, zone: red}
"""


@cache
def zones() -> BandTable:
    table, problems = compile_bands(
        document(ZONES),
        ("zones",),
        name="zone",
        input_name="margin_ratio",
        description="zone of the margin ratio",
        rate_key=None,
        label_key="zone",
    )
    assert problems == []
    assert table is not None
    return table


@pytest.mark.parametrize(
    ("ratio", "label"),
    [("0", "green"), ("0.49", "green"), ("0.5", "yellow"), ("0.79", "yellow"), ("0.8", "red"), ("3", "red")],
)
def test_zone_lookup_returns_the_label(ratio: str, label: str) -> None:
    """A zone table's lookup returns the band whose label names the zone."""
    band = zones().find(D(ratio))
    assert band is not None
    assert band.label == label


def test_zone_step_value_is_the_label_and_cites_the_row() -> None:
    """The zone step's rendered value is the label; its detail is the band with the line of its row."""
    steps: Steps = []
    zones().lookup(D("0.6"), steps)
    assert rendered(steps, {"margin_ratio": D("0.6")}) == [
        {
            "step": "zone",
            "kind": "lookup",
            "description": "zone of the margin ratio",
            "source": "policies/kit.yaml:1",
            "path": "$.zones",
            "inputs": {"margin_ratio": D("0.6")},
            "value": "yellow",
            "detail": {
                "band": {
                    "index": 1,
                    "from": D("0.5"),
                    "to": D("0.8"),
                    "label": "yellow",
                    "source": "policies/kit.yaml:3",
                    "path": "$.zones[1]",
                }
            },
        }
    ]


# --- rule tables -----------------------------------------------------------------------------------

ADVICE = """\
advice:
  never_add:
    - id: stop_loss_crossed
      when: price <= stop_loss
      reason: the stop-loss level is crossed
    - id: margin_share
      when: margin_share > 0.7
      reason: position margin exceeds 70% of the account
    - id: added_before
      when: added_before
      reason: margin was already added once
"""
ADVICE_SCOPE = {
    "price": ExprType.DECIMAL,
    "stop_loss": ExprType.DECIMAL,
    "margin_share": ExprType.DECIMAL,
    "added_before": ExprType.BOOL,
}
ADVICE_ENV: dict[str, Any] = {
    "price": D("90"),
    "stop_loss": D("95"),
    "margin_share": D("0.5"),
    "added_before": True,
}


def advice(hit: Any) -> RuleTable:
    table, problems = compile_rule_table(
        document(ADVICE), ("advice", "never_add"), ADVICE_SCOPE, {}, outcome_keys=("reason",), hit=hit
    )
    assert problems == []
    assert table is not None
    return table


CHECK_STOP_LOSS = {
    "step": "rule:stop_loss_crossed",
    "kind": "rule",
    "description": "rule `stop_loss_crossed`: does `price <= stop_loss` hold?",
    "expression": "price <= stop_loss",
    "source": "policies/kit.yaml:3",
    "path": "$.advice.never_add[0]",
    "comparison": {
        "left": {"name": "price", "value": D("90")},
        "operator": "<=",
        "right": {"name": "stop_loss", "value": D("95")},
        "result": True,
    },
    "value": True,
}


def test_collect_returns_every_rule_that_held_in_yaml_order() -> None:
    """`hit="collect"` at a nested path runs every rule, records each check, then one step listing the ids."""
    steps: Steps = []
    fired = advice("collect").decide(ADVICE_ENV, steps)
    assert [(rule.id, dict(rule.outcome)) for rule in fired] == [
        ("stop_loss_crossed", {"reason": "the stop-loss level is crossed"}),
        ("added_before", {"reason": "margin was already added once"}),
    ]
    assert rendered(steps, ADVICE_ENV) == [
        CHECK_STOP_LOSS,
        {
            "step": "rule:margin_share",
            "kind": "rule",
            "description": "rule `margin_share`: does `margin_share > 0.7` hold?",
            "expression": "margin_share > 0.7",
            "source": "policies/kit.yaml:6",
            "path": "$.advice.never_add[1]",
            "inputs": {"margin_share": D("0.5")},
            "value": False,
        },
        {
            "step": "rule:added_before",
            "kind": "rule",
            "description": "rule `added_before`: does `added_before` hold?",
            "expression": "added_before",
            "source": "policies/kit.yaml:9",
            "path": "$.advice.never_add[2]",
            "inputs": {"added_before": True},
            "value": True,
        },
        {
            "step": "advice.never_add",
            "kind": "collect",
            "description": "every rule of $.advice.never_add that held",
            "source": "policies/kit.yaml:2",
            "path": "$.advice.never_add",
            "value": ["stop_loss_crossed", "added_before"],
        },
    ]


def test_collect_with_no_rule_holding_lists_none() -> None:
    """When no rule holds, `collect` returns nothing and its result step lists no ids."""
    env = {**ADVICE_ENV, "price": D("100"), "added_before": False}
    steps: Steps = []
    assert advice("collect").collect(env, steps) == ()
    assert [step["value"] for step in rendered(steps, env)] == [False, False, False, []]


def test_first_stops_at_the_first_rule_that_holds() -> None:
    """`hit="first"` returns the first rule that holds and checks none after it."""
    steps: Steps = []
    fired = advice("first").decide(ADVICE_ENV, steps)
    assert [rule.id for rule in fired] == ["stop_loss_crossed"]
    assert rendered(steps, ADVICE_ENV) == [CHECK_STOP_LOSS]
    env = {**ADVICE_ENV, "price": D("100")}
    steps = []
    assert [rule.id for rule in advice("first").decide(env, steps)] == ["added_before"]
    assert [step["step"] for step in rendered(steps, env)] == [
        "rule:stop_loss_crossed",
        "rule:margin_share",
        "rule:added_before",
    ]


def test_rule_table_problems_are_located_at_load() -> None:
    """A duplicate id, an unknown name and a non-boolean condition: every one reported, at its line and column."""
    text = """\
advice:
  never_add:
    - id: stop_loss_crossed
      when: price <= stop_los
    - id: stop_loss_crossed
      when: margin_share > 0.7
    - id: sum
      when: price + 1
"""
    table, problems = compile_rule_table(
        document(text), ("advice", "never_add"), ADVICE_SCOPE, {}, outcome_keys=("reason",), hit="collect"
    )
    assert table is None
    assert texts(problems) == [
        "given/kit.yaml:4:13: $.advice.never_add[0].when: at column 10 of `price <= stop_los`:"
        " unknown name `stop_los`; did you mean `stop_loss`?",
        "given/kit.yaml:5:11: $.advice.never_add[1].id: duplicate rule id `stop_loss_crossed` (first used by rule 0)",
        "given/kit.yaml:8:13: $.advice.never_add[2].when: at column 1 of `price + 1`:"
        " expected a boolean expression, got decimal",
    ]


STATUS = """\
ltv:
  places: 4
  rounding: ROUND_HALF_UP
loan:
  status_rules:
    - id: liquidation
      when: ltv >= 0.9
      status: liquidation
    - id: margin_call
      when: ltv >= 0.8
      status: margin_call
  fallback:
    status: ok
thresholds:
  fine: 0.8
  too_fine: 0.80005
"""


def test_status_table_at_custom_paths() -> None:
    """`compile_status_table` reads its rules and default at the paths given; the default step cites its line."""
    doc = document(STATUS)
    rounding = rounding_of(4, "ROUND_HALF_UP")
    table, problems = compile_status_table(
        doc,
        {"ltv": ExprType.DECIMAL},
        {"ltv": rounding},
        path=("loan", "status_rules"),
        default_path=("loan", "fallback", "status"),
    )
    assert problems == []
    assert table is not None
    assert [rule.id for rule in table.rules] == ["liquidation", "margin_call"]
    env: dict[str, Any] = {"ltv_raw": D("0.79994"), "ltv": D("0.7999")}
    steps: Steps = []
    assert table.decide(env, steps) == ("ok", None)
    assert table.status_of(env) == "ok"
    assert rendered(steps, env)[-1] == {
        "step": "status",
        "kind": "status",
        "description": "no rule held: the default status applies",
        "source": "policies/kit.yaml:13",
        "path": "$.loan.fallback.status",
        "value": "ok",
    }
    env = {"ltv_raw": D("0.79996"), "ltv": D("0.8000")}
    steps = []
    status, rule = table.decide(env, steps)
    assert (status, None if rule is None else rule.id) == ("margin_call", "margin_call")
    assert table.status_of(env) == "margin_call"
    assert rendered(steps, env)[1:] == [
        {
            "step": "rule:margin_call",
            "kind": "rule",
            "description": "rule `margin_call`: does `ltv >= 0.8` hold?",
            "expression": "ltv >= 0.8",
            "source": "policies/kit.yaml:9",
            "path": "$.loan.status_rules[1]",
            "inputs": {"ltv": {"raw": D("0.79996"), "compared": D("0.8000"), "rounding": "4 places, ROUND_HALF_UP"}},
            "value": True,
        },
        {
            "step": "status",
            "kind": "status",
            "description": "status set by the first rule that held",
            "value": "margin_call",
        },
    ]


# --- places lint and rounded ratio -----------------------------------------------------------------


def test_places_problem_refuses_a_threshold_finer_than_the_comparison() -> None:
    """A threshold with more places than the compared value has can never be met exactly: a located problem."""
    doc = document(STATUS)
    rounding = rounding_of(4, "ROUND_HALF_UP")
    assert places_problem(doc, ("thresholds", "fine"), rounding, "LTVs") is None
    problem = places_problem(doc, ("thresholds", "too_fine"), rounding, "LTVs")
    assert str(problem) == (
        "given/kit.yaml:16:13: $.thresholds.too_fine: expected at most 4 decimal places"
        " (LTVs are compared at that precision), got 0.80005"
    )


def test_rounded_ratio_step_records_raw_and_compared_values() -> None:
    """`compile_ratio`: the env holds raw and rounded values; the step shows both and cites the rounding's line."""
    ratio = compile_ratio(
        document(STATUS),
        name="ltv",
        numerator="debt_value",
        denominator="collateral_value",
        rounding_path=("ltv",),
        description="LTV, rounded for comparison",
    )
    env: dict[str, Any] = {"debt_value": D("79.996"), "collateral_value": D("100")}
    steps: Steps = []
    assert ratio.compute(env["debt_value"], env["collateral_value"], env, steps) == D("0.79996")
    assert (env["ltv_raw"], env["ltv"]) == (D("0.79996"), D("0.8000"))
    assert str(env["ltv"]) == "0.8000"
    assert rendered(steps, env) == [
        {
            "step": "ltv",
            "kind": "derive",
            "description": "LTV, rounded for comparison",
            "expression": "debt_value / collateral_value",
            "source": "policies/kit.yaml:1",
            "path": "$.ltv",
            "inputs": {"debt_value": D("79.996"), "collateral_value": D("100")},
            "value": D("0.79996"),
            "detail": {"compared": D("0.8000"), "rounding": "4 places, ROUND_HALF_UP"},
        }
    ]


def test_a_value_above_a_closed_top_is_reported_as_excess_not_dropped() -> None:
    """Marginal application beyond a closed last band counts what the bands count and names the rest."""
    table = brackets()
    inside, beyond = table.marginal(D(70_000_000)), table.marginal(D(80_000_000))
    assert (inside.total, inside.excess) == (beyond.total, D(0))
    assert beyond.excess == D(10_000_000)
    steps: list[tuple[Any, Any]] = []
    table.apply_marginal(D(80_000_000), steps)
    ((spec, value),) = steps
    rendered = spec.render(value, {"notional": D(80_000_000)}, {})
    assert rendered["detail"]["excess"] == D(10_000_000)
    assert rendered["value"] == beyond.total


def test_one_table_used_twice_shows_each_input_with_its_own_band() -> None:
    """Two lookups in one evaluation (per asset, say) each render the value they looked up, not the last one."""
    steps: Steps = []
    zones().lookup(D("0.3"), steps)
    zones().lookup(D("0.9"), steps)
    shown = [(step["inputs"], step["value"]) for step in rendered(steps, {"margin_ratio": D("0.9")})]
    assert shown == [({"margin_ratio": D("0.3")}, "green"), ({"margin_ratio": D("0.9")}, "red")]


def test_marginal_steps_keep_their_own_input() -> None:
    """Two marginal applications of one table render their own inputs and totals."""
    steps: Steps = []
    table = brackets()
    first, second = table.apply_marginal(D(1_000_000), steps), table.apply_marginal(D(5_000_000), steps)
    shown = [(step["inputs"], step["value"]) for step in rendered(steps, {})]
    assert shown == [({"notional": D(1_000_000)}, first), ({"notional": D(5_000_000)}, second)]


# --- the marginal step's detail written as text (the trace writer's fast path) ----------------------


@settings(max_examples=200, deadline=None)
@given(
    which=st.sampled_from(["btc", "brackets-lower", "brackets-upper"]),
    value=st.decimals(min_value=0, max_value=10**9, places=4, allow_nan=False, allow_infinity=False),
)
def test_the_marginal_detail_text_is_the_detail_written_canonically(which: str, value: D) -> None:
    """`with_json_text`'s twin of the marginal detail gives the canonical bytes of the dict form, in every band,
    on edges, with cumulative amounts, and beyond a closed top (the `excess` key)."""
    table = btc_table() if which == "btc" else brackets("upper" if which == "brackets-upper" else "lower")
    steps: Steps = []
    table.apply_marginal(value, steps)
    ((spec, recorded),) = steps
    assert spec.detail is not None
    text = getattr(spec.detail, DETAIL_JSON_TEXT)
    assert text(recorded, {}) == json_text(spec.detail(recorded, {}))
    assert spec.render_json(recorded, {}, {}) == json_text(spec.render(recorded, {}, {}))


def test_a_step_copied_with_another_detail_drops_the_text_twin() -> None:
    """The twin rides on the detail function, so `dataclasses.replace(detail=...)` cannot pair it with the wrong one."""
    steps: Steps = []
    btc_table().apply_marginal(D("120000000"), steps)
    ((spec, recorded),) = steps
    copied = dataclasses.replace(spec, detail=lambda recorded, _env: {"value": recorded[0]})
    assert getattr(copied.detail, DETAIL_JSON_TEXT, None) is None
    assert copied.render_json(recorded, {}, {}) == '{"description":"BTC value counted band by band",' + (
        '"detail":{"value":"120000000"},"inputs":{"btc_value":"120000000"},"kind":"bands",'
        '"path":"$.collateral.BTC","source":"policies/kit.yaml:2","step":"btc_counted","value":"119500000.000"}'
    )
