"""Walk an account through a price path, feeding each decision's effects into the next.

A price path is CSV (`timestamp,asset,price` with a header) or JSON Lines
(`{"timestamp": ..., "asset": ..., "price": ...}`) in time order; consecutive
rows with one instant form one price point.  At each point the account is
repriced and evaluated under the policy version in force then; the product
applies the decision's effects (a top-up moves collateral, a state machine
advances) and says when it next needs to be woken up without a price change
(a retry that is due), so a retry between two price points is made at its due
time with the last known prices.  The walk stops at liquidation.

Everything streams, so memory stays flat however long the path is:
`PricePath` checks a price file in one pass (every bad row reported at once,
with its line) and reads it again row by row for the walk; `Walk` yields one
timeline entry per evaluation and keeps only the account's current state;
`write_timeline` writes entries as they come.  `simulate()` collects a whole
timeline, for small paths.

A price path must be in time order: a row earlier than the one before it is
a located problem, not sorted for the user, because sorting needs the whole
path in memory (`sort` it first; rows of one instant may come in any order).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from decimal import Decimal, getcontext, setcontext
from types import MappingProxyType
from typing import Any, Literal, TextIO

import orjson

from .arithmetic import engine_context
from .decision import canonical_json
from .engine import Engine
from .errors import AccountError, Problem
from .price_path import PathLimits, PricePath, PricePoint, assets_of, read_price_path
from .product import Account, Simulation
from .walk_limits import DEFAULT_WALK_LIMITS, WalkLimits

MAX_WAKEUPS_PER_INTERVAL = 1_000


SPOOL_BYTES = 1 << 20
"""Text and JSON timelines are held in memory up to this size, then in a temporary file (see `write_timeline`)."""

Format = Literal["text", "json", "jsonl"]
FORMATS: tuple[Format, ...] = ("text", "json", "jsonl")


# --- the walk -------------------------------------------------------------------------------------

_UNREAD: Any = object()


class Walk:
    """A simulation under way: iterate it for the timeline's entries, one per evaluation, as they are made.

    The account, its product's hooks and the first price point are checked
    when the walk is made (an `AccountError` before any entry); the path is
    read one point ahead at most, and only when a retry falls due after the
    current point.  Once the entries are exhausted, `summary` holds the rest
    of the timeline: `account`, `ended` (`end_of_path`, `liquidation`, or
    `evaluation_limit` or `time_limit` when a bound of `limits` stopped it),
    `evaluations`, `final_account` and `retries_cut_short_after`.
    """

    def __init__(
        self,
        engine: Engine,
        account: Mapping[str, Any],
        path: Iterable[PricePoint],
        *,
        source: str,
        limits: WalkLimits = DEFAULT_WALK_LIMITS,
    ) -> None:
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
        points = iter(path)
        first = next(points, None)
        if first is None:
            raise AccountError([Problem(file=getattr(path, "source", "prices"), message="the price path is empty")])
        engine.evaluate(account, as_of=first.at, source=source)  # a bad account fails before the walk starts
        held = hooks.assets(account)
        priced = assets_of(path)
        if priced is not None and not priced & held:
            raise AccountError([_nothing_held(priced, held, source)])
        self._engine, self._hooks, self._account, self._source = engine, hooks, account, source
        self.limits = limits
        self._held = held if priced is None else None  # a path read as it goes is checked when it ends
        self._entries = self._walk(first, points)
        self.evaluations = 0
        self.statuses: dict[str, int] = {}
        """Evaluations so far by status (`simulate --fail-on`)."""
        self.summary: dict[str, Any] | None = None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._entries

    def __next__(self) -> dict[str, Any]:
        return next(self._entries)

    def _walk(self, first: PricePoint, points: Iterator[PricePoint]) -> Iterator[dict[str, Any]]:
        engine, hooks, source = self._engine, self._hooks, self._source
        most, time_limit = self.limits.max_evaluations, self.limits.time_limit
        deadline = None if time_limit is None else time.monotonic_ns() + time_limit // timedelta(microseconds=1) * 1000
        previous_status: str | None = None
        truncated: list[datetime] = []
        priced: set[str] = set()
        state: Mapping[str, Any] = self._account
        point: PricePoint | None = first
        while point is not None:
            if self._held is not None:
                priced.update(point.prices)
            state = _in_engine_context(hooks.reprice, state, point.prices)
            moment, reason = point.at, "price"
            following: PricePoint | None = _UNREAD
            for _ in range(MAX_WAKEUPS_PER_INTERVAL):
                if self.evaluations >= most or (deadline is not None and time.monotonic_ns() >= deadline):
                    # another evaluation is due: the walk stops short of it, and says which bound stopped it
                    ended = "evaluation_limit" if self.evaluations >= most else "time_limit"
                    self.summary = self._summary(state, ended, truncated)
                    return
                decision = engine.evaluate(state, as_of=moment, source=source)
                status = decision.status
                summary, advanced, wake = _effects(hooks, state, decision.outcome)
                entry: dict[str, Any] = {
                    "at": moment,
                    "trigger": reason,
                    "policy_version": decision.policy.version,
                    "status_changed_from": None,
                    **summary,
                }
                if previous_status not in (None, status):
                    entry["status_changed_from"] = previous_status
                previous_status = status
                self.evaluations += 1
                self.statuses[status] = self.statuses.get(status, 0) + 1
                yield entry
                if advanced is None:
                    self.summary = self._summary(state, "liquidation", truncated)
                    return
                state = advanced
                if wake is None or wake <= moment:
                    break
                if following is _UNREAD:
                    following = next(points, None)
                if following is not None and wake >= following.at:
                    break
                moment, reason = wake, "retry"
            else:
                truncated.append(point.at)  # more retries due before the next price point than are simulated
            point = next(points, None) if following is _UNREAD else following
        if self._held is not None and not priced & self._held:
            raise AccountError([_nothing_held(frozenset(priced), self._held, source)])
        self.summary = self._summary(state, "end_of_path", truncated)

    def _summary(self, state: Mapping[str, Any], ended: str, truncated: list[datetime]) -> dict[str, Any]:
        return {
            "account": {"kind": self._account.get("kind"), "id": self._account.get("account_id")},
            "ended": ended,
            "evaluations": self.evaluations,
            "final_account": state,
            "retries_cut_short_after": truncated,
        }


def _finished(timeline: Walk) -> dict[str, Any]:
    """The summary of a walk whose entries are exhausted."""
    if timeline.summary is None:
        raise RuntimeError("the walk is not over: its entries are not exhausted")
    return timeline.summary


def _in_engine_context(
    reprice: Callable[[Account, Mapping[str, Decimal]], Account],
    state: Mapping[str, Any],
    prices: Mapping[str, Decimal],
) -> Mapping[str, Any]:
    """`reprice(state, prices)` in the engine's decimal context, as evaluations are (never across a `yield`)."""
    callers_context = getcontext()
    setcontext(engine_context())
    try:
        repriced: Mapping[str, Any] = reprice(state, prices)
    finally:
        setcontext(callers_context)
    return repriced


def _effects(
    hooks: Simulation, state: Mapping[str, Any], outcome: Mapping[str, Any]
) -> tuple[dict[str, Any], Mapping[str, Any] | None, datetime | None]:
    """The product's summary of a decision, the account after its effects, and when to wake it up."""
    callers_context = getcontext()
    setcontext(engine_context())
    try:
        entry = hooks.summarize(outcome)
        advanced = hooks.advance(state, outcome)
        wake = hooks.wake_at(outcome) if advanced is not None else None
    finally:
        setcontext(callers_context)
    return entry, advanced, wake


def _nothing_held(priced: frozenset[str], held: frozenset[str], source: str) -> Problem:
    return Problem(
        file=source,
        message=f"the price path prices {', '.join(sorted(priced))} but"
        f" none of the account's assets ({', '.join(sorted(held))})",
    )


def walk(
    engine: Engine,
    account: Mapping[str, Any],
    path: Iterable[PricePoint],
    *,
    source: str,
    limits: WalkLimits = DEFAULT_WALK_LIMITS,
) -> Walk:
    """The simulation of `account` along `path`, entry by entry (see `Walk`), within `limits`.

    Refused (`AccountError`) for a product without simulation hooks.  A path
    that is neither a `PricePath` nor a sequence is read as the walk goes, so
    a path that prices none of the account's assets is refused when it ends.
    """
    return Walk(engine, account, path, source=source, limits=limits)


def simulate(
    engine: Engine,
    account: Mapping[str, Any],
    path: Iterable[PricePoint],
    *,
    source: str,
    limits: WalkLimits = DEFAULT_WALK_LIMITS,
) -> dict[str, Any]:
    """The whole timeline of `account` along `path`, in memory: for small paths (`walk` streams it).

    Keys: `account`, `ended`, `entries` (one per evaluation), `final_account`
    and `retries_cut_short_after`.
    """
    timeline = walk(engine, account, path, source=source, limits=limits)
    entries = list(timeline)
    summary = _finished(timeline)
    return {
        "account": summary["account"],
        "ended": summary["ended"],
        "entries": entries,
        "final_account": summary["final_account"],
        "retries_cut_short_after": summary["retries_cut_short_after"],
    }


# --- writing a timeline ---------------------------------------------------------------------------


def _native(value: Any) -> Any:
    """What orjson cannot write itself, as `to_plain` writes it: Decimal as text, a read-only map as a dict."""
    kind = type(value)  # exact types first: an ABC check per value costs more than the rest of the entry
    if kind is Decimal:
        return format(value, "f")
    if kind is MappingProxyType:
        return value.copy()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cannot serialise {type(value).__name__} in a timeline")


_COMPACT = orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z
_INDENTED = _COMPACT | orjson.OPT_INDENT_2


def entry_json(entry: Mapping[str, Any], *, indent: int | None = None) -> str:
    """The text `canonical_json(entry, indent=...)` gives, written by orjson in one pass.

    A value orjson refuses (an integer beyond 64 bits, a key that is not a
    string) is written by `canonical_json` itself.
    """
    try:
        return (orjson.dumps(entry, default=_native, option=_INDENTED if indent else _COMPACT) + b"\n").decode()
    except orjson.JSONEncodeError:
        return canonical_json(entry, indent=indent)


def _shown(value: Any) -> Any:
    """A value as the JSON form writes it (Decimals and instants as text, lists item by item), for text lines."""
    if type(value) is str:
        return value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, list | tuple):
        return [_shown(item) for item in value]
    return value


def _text_head(summary: Mapping[str, Any], evaluations: int) -> str:
    account = {key: _shown(value) for key, value in summary["account"].items()}
    head = (
        f"Simulation of {account['id']} ({account['kind']}): {evaluations} evaluations,"
        f" ended by {str(summary['ended']).replace('_', ' ')}\n"
    )
    cut_short = _shown(summary["retries_cut_short_after"])
    if cut_short:
        head += (
            f"note: more than {MAX_WAKEUPS_PER_INTERVAL} retries fell due after "
            + ", ".join(cut_short)
            + "; the rest of those intervals was skipped\n"
        )
    return head


def _text_line(entry: Mapping[str, Any]) -> str:
    changed = _shown(entry["status_changed_from"])
    changed_text = f" (was {changed})" if changed else ""
    notes = "; ".join(map(_shown, entry["notes"]))
    line = (
        f"{_shown(entry['at'])}  {_shown(entry['trigger']):5}  {_shown(entry['figure']):16}"
        f"  {_shown(entry['status'])}{changed_text}"
    )
    return (f"{line}  {notes}" if notes else line).rstrip() + "\n"


def timeline_text(timeline: Mapping[str, Any]) -> str:
    """A collected timeline (`simulate()`), one line per evaluation, readable at a glance."""
    entries = timeline["entries"]
    return _text_head(timeline, len(entries)) + "".join(_text_line(entry) for entry in entries)


_ENTRIES_MARK = "\ue000entries\ue000"
"""Stands in for the entries when the rest of the JSON document is written (a string no account can make
appear alone on a line at that depth: the entries are the only list at depth 2)."""


def write_timeline(timeline: Walk, out: TextIO, format: Format = "text") -> None:
    """Write the timeline as the walk goes; memory stays flat whatever the path's length.

    `jsonl` streams: one canonical JSON line per entry as it is made, then one
    summary line (the only one with `ended`); a walk that fails midway leaves
    no summary line.  `text` and `json` begin with what is known only at the
    end (the count of evaluations, how the walk ended), so their entries are
    spooled (in memory up to `SPOOL_BYTES`, then in a temporary file) and
    written after the head: `json` gives the bytes of
    `canonical_json(simulate(...), indent=2)`, `text` those of `timeline_text`.
    """
    if format == "jsonl":
        for entry in timeline:
            out.write(entry_json(entry))
        out.write(entry_json(_finished(timeline)))
        return
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="w+", encoding="utf-8", newline="") as spool:
        if format == "text":
            for entry in timeline:
                spool.write(_text_line(entry))
        else:
            separator = ""
            for entry in timeline:  # each entry as canonical_json writes it two levels deep
                spool.write(separator + "    " + entry_json(entry, indent=2).rstrip("\n").replace("\n", "\n    "))
                separator = ",\n"
        summary = _finished(timeline)
        spool.seek(0)
        if format == "text":
            out.write(_text_head(summary, timeline.evaluations))
            shutil.copyfileobj(spool, out)
            return
        document = {key: value for key, value in summary.items() if key != "evaluations"}
        head, mark, tail = canonical_json({**document, "entries": [_ENTRIES_MARK]}, indent=2).partition(
            f'\n    "{_ENTRIES_MARK}"\n'
        )
        if not mark:
            raise RuntimeError("canonical_json no longer writes a list one item a line")
        out.write(head + "\n")
        shutil.copyfileobj(spool, out)
        out.write("\n" + tail)


__all__ = [
    "DEFAULT_WALK_LIMITS",
    "FORMATS",
    "MAX_WAKEUPS_PER_INTERVAL",
    "PathLimits",
    "PricePath",
    "PricePoint",
    "Walk",
    "WalkLimits",
    "entry_json",
    "read_price_path",
    "simulate",
    "timeline_text",
    "walk",
    "write_timeline",
]
