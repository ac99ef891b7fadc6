"""Invariants of haircut bands and of the max-collateral rule, for any band table and any request.

Haircut bands: the value after haircuts never exceeds the value, never
decreases as the value grows, and does not jump at a band edge.  The rule:
its maximum is never negative, never lets the platform total pass the band's
`up_to` share of the limit, and a loan's capped top-up never moves more than
the maximum a transfer request at the same total is told.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine import Engine
from policy_engine.loader import parse_yaml
from policy_engine.model import PolicyDocument, PolicyRef
from policy_engine.products.collateral_policy import CompiledCollateralPolicy, compile_collateral
from policy_engine.trace import StepSpec, Trace

from .conftest import AS_OF, example

D = Decimal
Steps = list[tuple[StepSpec, Any]]
EPSILON = D("0.00000001")

RULE = """\
max_collateral:
  ranks: [9]
  account_types: {counted: [cross], excluded: [isolated]}
  quantity_rounding: ROUND_DOWN
  bands:
    - {from: 0, max_transfer_in: unlimited}
  messages: {refused: x, capped: x, blocked: x}
"""


def policy_document(text: str, *, kind: str, policy_id: str) -> PolicyDocument:
    """A schema-free document of `kind` parsed from `text` (file `generated.yaml`), in force from 2026-01-01."""
    parsed, problems = parse_yaml(text, file="generated.yaml")
    assert problems == []
    assert parsed is not None
    ref = PolicyRef(
        id=policy_id,
        kind=kind,
        version=1,
        effective_from=datetime(2026, 1, 1, tzinfo=UTC),
        sha256="0" * 64,
        file="generated.yaml",
    )
    return PolicyDocument(file=ref.file, source_name=ref.file, yaml=parsed, ref=ref)


@cache
def policy_with_bands(bands: tuple[tuple[Decimal, Decimal], ...]) -> CompiledCollateralPolicy:
    """A collateral policy whose asset X has haircut bands starting at each (from, ratio)."""
    rows = []
    for index, (lower, ratio) in enumerate(bands):
        upper = f", to: {bands[index + 1][0]}" if index + 1 < len(bands) else ""
        rows.append(f"      - {{from: {lower}{upper}, ratio: {ratio}}}")
    text = "assets:\n  X:\n    rank: 1\n    precision: 8\n    haircut:\n" + "\n".join(rows) + "\n" + RULE
    compiled, found = compile_collateral(policy_document(text, kind="collateral", policy_id="generated"))
    assert found == []
    assert compiled is not None
    return compiled


@st.composite
def band_tables(draw: st.DrawFn) -> tuple[tuple[Decimal, Decimal], ...]:
    """From 0, up to five more edges in increasing order, ratios in [0, 1] that do not increase."""
    edges = draw(st.lists(st.decimals(min_value=D("0.01"), max_value=D(10**9), places=2), max_size=5, unique=True))
    ratios = draw(
        st.lists(
            st.decimals(min_value=D(0), max_value=D(1), places=4), min_size=len(edges) + 1, max_size=len(edges) + 1
        )
    )
    return tuple(zip([D(0), *sorted(edges)], sorted(ratios, reverse=True), strict=True))


VALUES = st.decimals(min_value=D(0), max_value=D(10**10), places=8)


def haircut(policy: CompiledCollateralPolicy, value: Decimal) -> Decimal:
    steps: Steps = []
    return policy.haircut_value("X", value, steps)


@settings(max_examples=60, deadline=None)
@given(bands=band_tables(), value=VALUES)
def test_the_value_after_haircuts_never_exceeds_the_value(
    bands: tuple[tuple[Decimal, Decimal], ...], value: Decimal
) -> None:
    """0 <= haircut value <= value: a ratio never adds value."""
    assert D(0) <= haircut(policy_with_bands(bands), value) <= value


@settings(max_examples=60, deadline=None)
@given(bands=band_tables(), first=VALUES, second=VALUES)
def test_the_value_after_haircuts_is_monotone(
    bands: tuple[tuple[Decimal, Decimal], ...], first: Decimal, second: Decimal
) -> None:
    """More value never counts for less."""
    low, high = sorted((first, second))
    policy = policy_with_bands(bands)
    assert haircut(policy, low) <= haircut(policy, high)


@settings(max_examples=60, deadline=None)
@given(bands=band_tables())
def test_the_value_after_haircuts_is_continuous_at_every_edge(bands: tuple[tuple[Decimal, Decimal], ...]) -> None:
    """Just below, at and just above each edge, the counted value moves by at most what the value moved,
    and by exactly the ratio of the band the step lies in (marginal bands have no jump)."""
    policy = policy_with_bands(bands)
    for index, (edge, ratio) in enumerate(bands[1:], start=1):
        below, at, above = (haircut(policy, edge + delta) for delta in (-EPSILON, D(0), EPSILON))
        assert at - below == EPSILON * bands[index - 1][1]
        assert above - at == EPSILON * ratio


@settings(max_examples=60, deadline=None)
@given(bands=band_tables(), value=VALUES)
def test_the_haircut_step_is_the_kit_marginal_step(bands: tuple[tuple[Decimal, Decimal], ...], value: Decimal) -> None:
    """The total computed at once is the table kit's marginal total, digit for digit, and the step renders the
    kit's band-by-band detail (each band, its part, its ratio, its line)."""
    policy = policy_with_bands(bands)
    steps: Steps = []
    total = policy.haircut_value("X", value, steps)
    kit_steps: Steps = []
    kit_total = policy.assets["X"].haircut.table.apply_marginal(value, kit_steps)
    assert str(total) == str(kit_total)
    assert Trace(tuple(steps), {}, {}).to_list() == Trace(tuple(kit_steps), {}, {}).to_list()


def test_the_bundled_btc_bands_are_continuous_at_100_million(engine: Engine) -> None:
    """The published table: one hundred-millionth of a dollar either side of 100M counts at 100% and 97.5%."""
    policy = engine.policy_for("margin-transfer", AS_OF)
    assert isinstance(policy, CompiledCollateralPolicy)
    counted = [policy.haircut_value("BTC", D(100000000) + delta, []) for delta in (-EPSILON, D(0), EPSILON)]
    assert counted == [D("99999999.99999999"), D(100000000), D(100000000) + EPSILON * D("0.975")]


# --- the max-collateral rule --------------------------------------------------------------------------------------


LIMITED = st.sampled_from([("ASSET1", D(1000000)), ("ASSET2", D(2000000)), ("ASSET3", D(3000000))])
SHARES = st.decimals(min_value=D(0), max_value=D("1.3"), places=6)
PRICES = st.decimals(min_value=D("0.0001"), max_value=D(100000), places=4)


@settings(max_examples=100, deadline=None)
@given(limited=LIMITED, share=SHARES, price=PRICES)
def test_the_maximum_respects_the_band_it_is_in(
    engine: Engine, limited: tuple[str, Decimal], share: Decimal, price: Decimal
) -> None:
    """Never negative; below 80% never past 80% of the limit; from 90% never past the limit; from 100% zero."""
    asset, limit = limited
    total = limit * share
    policy = engine.policy_for("margin-transfer", AS_OF)
    assert isinstance(policy, CompiledCollateralPolicy)
    found = policy.transfer_limit(asset, platform_total=total, price=price, steps=[], account_type="cross_pro")
    maximum = found.max_quantity
    assert maximum is not None
    assert maximum >= 0
    assert found.ratio == share
    if share < D("0.8"):
        assert total + maximum <= limit * D("0.8")
        assert total + maximum > limit * D("0.8") - D("0.00000001")  # all the room there is, rounded down
    elif share < D("0.9"):
        assert maximum <= D(50000) / price
    elif share < 1:
        assert total + maximum <= limit
        assert maximum <= D(50000) / price
    else:
        assert maximum == 0


@settings(max_examples=80, deadline=None)
@given(
    share=st.decimals(min_value=D("0.5"), max_value=D("1.1"), places=7),
    balance=st.decimals(min_value=D(0), max_value=D(100000), places=8),
    principal=st.decimals(min_value=D(80), max_value=D("89.99"), places=2),
)
def test_a_capped_top_up_never_exceeds_the_cap(
    engine: Engine, share: Decimal, balance: Decimal, principal: Decimal
) -> None:
    """Whatever the platform total, wallet and need: the quantity moved is at most what the rule allows, and
    exactly the least of the need, the wallet and the rule's maximum."""
    total = D(3000000) * share
    account = example("collateral-loan-topup-capped.json")
    account["collateral"]["platform_total"] = str(total)
    account["loan"]["principal"] = str(principal)
    account["spot_balances"] = {"ASSET3": str(balance)}
    top_up = engine.evaluate(account, AS_OF).outcome["top_up"]
    request = {
        "kind": "margin-transfer",
        "account_id": "cap",
        "account_type": "cross_classic",
        "asset": "ASSET3",
        "quantity": str(top_up["required_quantity"]),
        "price": "1",
        "platform_total": str(total),
        "auto": True,
    }
    transfer = engine.evaluate(request, AS_OF).outcome
    cap = transfer["max_quantity"]
    assert top_up["attempted"]
    assert top_up["quantity"] <= cap
    assert top_up["quantity"] == min(top_up["required_quantity"], balance, cap)
    assert (top_up["capped_by"] is not None) == (cap < min(top_up["required_quantity"], balance))
    if top_up["quantity"] == 0:
        assert (top_up["result"], top_up["next_state"]["failed_attempts"]) == ("failed", 1)
