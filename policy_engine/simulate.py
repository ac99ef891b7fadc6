"""Walk an account through a price path, feeding each decision's effects into the next.

A price path is CSV (`timestamp,asset,price` with a header) or JSON Lines
(`{"timestamp": ..., "asset": ..., "price": ...}`); rows with one timestamp
form one price point.  At each point the account is repriced and evaluated
under the policy version in force then; the product applies the decision's
effects (a top-up moves collateral, a state machine advances) and says when
it next needs to be woken up without a price change (a retry that is due),
so a retry between two price points is made at its due time with the last
known prices.  The walk stops at liquidation.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ._numbers import in_range, iso, parse_decimal, parse_instant
from .arithmetic import engine_decimal_context
from .engine import Engine
from .errors import AccountError, Problem
from .product import Simulation

MAX_WAKEUPS_PER_INTERVAL = 1_000


@dataclass(frozen=True, slots=True)
class PricePoint:
    at: datetime
    prices: Mapping[str, Decimal]


def _rows(text: str, source: str, problems: list[Problem]) -> Iterator[tuple[int, Mapping[str, Any]]]:
    stripped = text.lstrip()
    if stripped.startswith("{"):
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line, parse_float=Decimal)
            except json.JSONDecodeError as error:
                problems.append(
                    Problem(file=source, line=number, col=error.colno, message=f"invalid JSON: {error.msg}")
                )
                continue
            if not isinstance(row, dict):
                problems.append(Problem(file=source, line=number, col=1, message="expected a JSON object per line"))
                continue
            yield number, row
        return
    reader = csv.DictReader(io.StringIO(text))
    missing = {"timestamp", "asset", "price"} - set(reader.fieldnames or ())
    if missing:
        problems.append(
            Problem(
                file=source,
                line=1,
                col=1,
                message="expected a CSV header with the columns"
                f" timestamp, asset, price; missing {', '.join(sorted(missing))}",
            )
        )
        return
    for row in reader:
        yield reader.line_num, row


def read_price_path(text: str, *, source: str) -> list[PricePoint]:
    """Price points in time order; every bad row is reported, with its line."""
    problems: list[Problem] = []
    points: dict[datetime, dict[str, Decimal]] = {}
    first_seen: dict[tuple[datetime, str], tuple[int, Decimal]] = {}
    for number, row in _rows(text.removeprefix("\ufeff"), source, problems):
        moment = parse_instant(str(row.get("timestamp", "")))
        price = parse_decimal(row.get("price"))
        asset = row.get("asset")
        if moment is None:
            problems.append(
                Problem(
                    file=source,
                    line=number,
                    json_path="$.timestamp",
                    message=f"expected an ISO 8601 date or date-time with an offset, got {row.get('timestamp')!r}",
                )
            )
        if price is None or price <= 0 or not in_range(price):
            problems.append(
                Problem(
                    file=source,
                    line=number,
                    json_path="$.price",
                    message=f"expected a decimal price > 0, got {row.get('price')!r}",
                )
            )
        if not isinstance(asset, str) or not asset:
            problems.append(Problem(file=source, line=number, json_path="$.asset", message="expected an asset symbol"))
        if moment is not None and price is not None and price > 0 and isinstance(asset, str) and asset:
            moment = moment.astimezone(UTC)
            seen = first_seen.setdefault((moment, asset), (number, price))
            if seen[1] != price:
                problems.append(
                    Problem(
                        file=source,
                        line=number,
                        json_path="$.price",
                        message=f"{asset} at {iso(moment)} is priced {seen[1]} on line {seen[0]}"
                        f" and {price} here; one instant has one price",
                    )
                )
            points.setdefault(moment, {})[asset] = price
    if problems:
        raise AccountError(problems)
    if not points:
        raise AccountError([Problem(file=source, message="the price path is empty")])
    return [PricePoint(at, prices) for at, prices in sorted(points.items())]


def simulate(engine: Engine, account: Mapping[str, Any], path: list[PricePoint], *, source: str) -> dict[str, Any]:
    """The timeline of `account` along `path`: one entry per evaluation.

    Refused (`AccountError`) for a product without simulation hooks.
    """
    product = engine.product_for(account, source=source)
    hooks = product.simulation
    if hooks is None:
        raise AccountError(
            [
                Problem(
                    file=source,
                    json_path="$.kind",
                    message=f"{product.account_kind} accounts cannot be simulated: the"
                    f" `{product.policy_kind}` product has no simulation hooks",
                )
            ]
        )
    engine.evaluate(account, as_of=path[0].at, source=source)  # a bad account fails before the walk starts
    priced = {asset for point in path for asset in point.prices}
    held = hooks.assets(account)
    if not priced & held:
        raise AccountError(
            [
                Problem(
                    file=source,
                    message=f"the price path prices {', '.join(sorted(priced))} but"
                    f" none of the account's assets ({', '.join(sorted(held))})",
                )
            ]
        )
    with engine_decimal_context():  # the hooks' arithmetic runs in the engine's context, as evaluations do
        return _walk(engine, hooks, account, path, source=source)


def _walk(
    engine: Engine, hooks: Simulation, account: Mapping[str, Any], path: list[PricePoint], *, source: str
) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []
    previous_status: str | None = None
    truncated: list[datetime] = []
    state: Mapping[str, Any] = account
    for index, point in enumerate(path):
        following = path[index + 1].at if index + 1 < len(path) else None
        state = hooks.reprice(state, point.prices)
        moment, reason = point.at, "price"
        for _ in range(MAX_WAKEUPS_PER_INTERVAL):
            decision = engine.evaluate(state, as_of=moment, source=source)
            entry: dict[str, Any] = {
                "at": moment,
                "trigger": reason,
                "policy_version": decision.policy.version,
                "status_changed_from": None,
                **hooks.summarize(decision.outcome),
            }
            if previous_status not in (None, decision.status):
                entry["status_changed_from"] = previous_status
            previous_status = decision.status
            entries.append(entry)
            advanced = hooks.advance(state, decision.outcome)
            if advanced is None:
                return _timeline(account, entries, state, ended="liquidation", truncated=truncated)
            state = advanced
            wake = hooks.wake_at(decision.outcome)
            if wake is None or wake <= moment or (following is not None and wake >= following):
                break
            moment, reason = wake, "retry"
        else:
            truncated.append(point.at)  # more retries due before the next price point than are simulated
    return _timeline(account, entries, state, ended="end_of_path", truncated=truncated)


def _timeline(
    account: Mapping[str, Any],
    entries: list[dict[str, Any]],
    state: Mapping[str, Any],
    *,
    ended: str,
    truncated: list[datetime] | None = None,
) -> dict[str, Any]:
    return {
        "account": {"kind": account.get("kind"), "id": account.get("account_id")},
        "ended": ended,
        "entries": entries,
        "final_account": state,
        "retries_cut_short_after": truncated or [],
    }


def timeline_text(timeline: Mapping[str, Any]) -> str:
    """One line per evaluation, readable at a glance."""
    account = timeline["account"]
    lines = [
        f"Simulation of {account['id']} ({account['kind']}): {len(timeline['entries'])} evaluations,"
        f" ended by {str(timeline['ended']).replace('_', ' ')}"
    ]
    if timeline["retries_cut_short_after"]:
        lines.append(
            f"note: more than {MAX_WAKEUPS_PER_INTERVAL} retries fell due after "
            + ", ".join(timeline["retries_cut_short_after"])
            + "; the rest of those intervals was skipped"
        )
    for entry in timeline["entries"]:
        changed = f" (was {entry['status_changed_from']})" if entry["status_changed_from"] else ""
        notes = "; ".join(entry["notes"])
        line = f"{entry['at']}  {entry['trigger']:5}  {entry['figure']:16}  {entry['status']}{changed}"
        lines.append((f"{line}  {notes}" if notes else line).rstrip())
    return "\n".join(lines) + "\n"
