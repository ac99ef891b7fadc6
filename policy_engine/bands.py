"""Band tables: contiguous value ranges, each with its own rate, looked up or applied marginally.

One primitive serves three shapes found in risk policies:

- marginal bands, like tax brackets: a value counts band by band, each part
  at its band's rate (collateral haircuts: 120M of BTC at 100% up to 100M
  and 97.5% above counts 119.5M);
- bracket lookup with cumulative amounts: the value falls in one bracket,
  and each bracket's `cum` makes `value x rate - cum` continuous across
  bracket edges; lint recomputes `cum` from the bands and rejects a wrong
  declared one (futures maintenance margin);
- zones: a lookup whose band carries a label (green, yellow, red).

Bands are rows `{from, to, rate, ...}` at any path (the key names are the
product's choice).  Lint: the first band starts where the product says (0 by
default), each band starts where the previous one ends (no gap, no
overlap), `to` is above `from`, only the last band may be open (no `to`), the
last one must be when every value must fall in a band, rates lie in the
range the product gives and move in the direction it asks.  Trace steps cite
the YAML line of the band used, or of each band a marginal value spans.

Each step keeps the value it looked up, so one table may serve several
lookups in one evaluation (per asset, per position).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from ._plain import json_text
from .errors import JsonPath, Problem, format_json_path
from .model import PolicyDocument
from .trace import Env, StepSpec, with_json_text

ZERO = Decimal(0)
ONE = Decimal(1)
Closed = Literal["lower", "upper"]
Direction = Literal["non-increasing", "non-decreasing"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Band:
    """One row: `[lower, upper)` (or `(lower, upper]`), its rate and cumulative amount, and its YAML place."""

    index: int
    lower: Decimal
    upper: Decimal | None
    """None for an open last band."""
    rate: Decimal | None
    cumulative: Decimal | None
    """`lower x (rate - previous rate) + previous cumulative`, when the table has cumulative amounts."""
    label: Any
    entry: Mapping[str, Any]
    """The whole YAML row, for the product's own fields (a label, a maximum leverage)."""
    source: str
    path: str
    text: str = field(init=False, repr=False, compare=False)
    """`to_dict()` as canonical JSON text, written once: the trace's band parts are built around it."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", json_text(self.to_dict()))

    def to_dict(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"index": self.index, "from": self.lower, "to": self.upper}
        if self.label is not None:
            shown["label"] = self.label
        if self.rate is not None:
            shown["rate"] = self.rate
        if self.cumulative is not None:
            shown["cumulative"] = self.cumulative
        shown["source"] = self.source
        shown["path"] = self.path
        return shown


@dataclass(frozen=True, kw_only=True, slots=True)
class BandPart:
    """The part of a value that falls in one band, and what it counts for at the band's rate."""

    band: Band
    amount: Decimal
    counted: Decimal


@dataclass(frozen=True, slots=True)
class Marginal:
    """A value applied band by band: the total it counts for, and each band's part."""

    total: Decimal
    parts: tuple[BandPart, ...]
    excess: Decimal = ZERO
    """The amount above a closed last band, which no band counts; the product decides what it means."""


# A lookup step records (input value, band); a marginal step (input value, Marginal).  The input is
# kept in the step, not read back from the evaluation's values, so that one table used twice in an
# evaluation (per asset, per position) shows each input with its own result.


def _band_value(recorded: tuple[Decimal, Band | None]) -> Any:
    band = recorded[1]
    if band is None:
        return None
    return band.label if band.label is not None else band.index + 1


def _band_detail(recorded: tuple[Decimal, Band | None], _env: Env) -> Any:
    band = recorded[1]
    return None if band is None else {"band": band.to_dict()}


def _marginal_value(recorded: tuple[Decimal, Marginal]) -> Decimal:
    return recorded[1].total


def _marginal_detail(recorded: tuple[Decimal, Marginal], _env: Env) -> Any:
    result = recorded[1]
    detail: dict[str, Any] = {
        "bands": [{**part.band.to_dict(), "amount": part.amount, "counted": part.counted} for part in result.parts]
    }
    if result.excess:
        detail["excess"] = result.excess
    return detail


def _marginal_detail_text(recorded: tuple[Decimal, Marginal], _env: Env) -> str:
    """`_marginal_detail` as canonical JSON: `amount` and `counted` sort before every key of a band's own text."""
    result = recorded[1]
    parts = ",".join(
        [
            f'{{"amount":{json_text(part.amount)},"counted":{json_text(part.counted)},{part.band.text[1:]}'
            for part in result.parts
        ]
    )
    excess = f',"excess":{json_text(result.excess)}' if result.excess else ""
    return f'{{"bands":[{parts}]{excess}}}'


with_json_text(_marginal_detail, _marginal_detail_text)


@dataclass(frozen=True, kw_only=True, slots=True)
class BandTable:
    """Compiled bands in order, and the trace steps that report a lookup or a marginal application."""

    bands: tuple[Band, ...]
    lowers: tuple[Decimal, ...]
    closed: Closed
    lookup_spec: StepSpec
    marginal_spec: StepSpec

    def find(self, value: Decimal) -> Band | None:
        """The band `value` falls in, or None below the first band or beyond a closed last band."""
        if self.closed == "lower":
            index = bisect_right(self.lowers, value) - 1
        else:
            index = bisect_left(self.lowers, value) - 1
            if index < 0 and value == self.lowers[0]:
                index = 0
        if index < 0:
            return None
        band = self.bands[index]
        upper = band.upper
        if upper is not None and (value >= upper if self.closed == "lower" else value > upper):
            return None
        return band

    def lookup(self, value: Decimal, steps: list[tuple[StepSpec, Any]]) -> Band | None:
        """`find`, recording a step that cites the band's YAML line."""
        band = self.find(value)
        steps.append((self.lookup_spec, (value, band)))
        return band

    def marginal(self, value: Decimal) -> Marginal:
        """`value` counted band by band, each part at its band's rate (a band without a rate counts fully)."""
        total = ZERO
        parts = []
        for band in self.bands:
            if value <= band.lower:
                break
            top = value if band.upper is None or value < band.upper else band.upper
            amount = top - band.lower
            counted = amount if band.rate is None else amount * band.rate
            total += counted
            parts.append(BandPart(band=band, amount=amount, counted=counted))
        last_upper = self.bands[-1].upper
        excess = value - last_upper if last_upper is not None and value > last_upper else ZERO
        return Marginal(total, tuple(parts), excess)

    def apply_marginal(self, value: Decimal, steps: list[tuple[StepSpec, Any]]) -> Decimal:
        """`marginal`, recording a step with each band's part, rate and YAML line; returns the total."""
        result = self.marginal(value)
        steps.append((self.marginal_spec, (value, result)))
        return result.total


def _number(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(value)


def _tidy(value: Decimal) -> Decimal:
    """`value` without trailing zeros and without an exponent: 300.000 -> 300, 1E+3 -> 1000."""
    normal = value.normalize()
    exponent = normal.as_tuple().exponent
    return normal.quantize(ONE) if isinstance(exponent, int) and exponent > 0 else normal


def compile_bands(  # noqa: PLR0912 - one lint after another, each a few lines
    document: PolicyDocument,
    path: JsonPath,
    *,
    name: str,
    input_name: str,
    description: str,
    lower_key: str = "from",
    upper_key: str = "to",
    rate_key: str | None = "rate",
    cumulative_key: str | None = None,
    label_key: str | None = None,
    start: Decimal | None = ZERO,
    open_top: bool = True,
    rate_range: tuple[Decimal, Decimal] | None = (ZERO, ONE),
    direction: Direction | None = None,
    closed: Closed = "lower",
) -> tuple[BandTable | None, list[Problem]]:
    """Compile and lint the band rows at `path` (a schema-valid list of mappings).

    `name` and `description` name the trace step, which reads `input_name`
    from the evaluation's values.  With `cumulative_key`, each row's declared
    cumulative amount is checked against the one recomputed from the bands
    (`lower x (rate - previous rate) + previous`); a row may leave it out.
    """
    rows = document.data_at(path) or []
    problems: list[Problem] = []
    bands: list[Band] = []
    if not rows:
        return None, [document.problem(path, "expected at least one band")]
    previous_upper: Decimal | None = None
    previous_rate = ZERO
    cumulative = ZERO
    for index, row in enumerate(rows):
        where: JsonPath = (*path, index)
        lower = _number(row[lower_key])
        upper = None if row.get(upper_key) is None else _number(row[upper_key])
        rate = None if rate_key is None else _number(row[rate_key])
        if index == 0 and start is not None and lower != start:
            problems.append(
                document.problem((*where, lower_key), f"expected the first band to start at {start}, got {lower}")
            )
        if index > 0 and previous_upper is None:
            problems.append(
                document.problem(
                    (*path, index - 1),
                    f"only the last band may be open (no `{upper_key}`); band {index + 1} follows this one",
                )
            )
        elif previous_upper is not None and lower != previous_upper:
            kind = "a gap" if lower > previous_upper else "an overlap"
            problems.append(
                document.problem(
                    (*where, lower_key),
                    f"expected {previous_upper} (where the previous band ends), got {lower}: {kind} between bands",
                )
            )
        if upper is not None and upper <= lower:
            problems.append(
                document.problem((*where, upper_key), f"expected a value above `{lower_key}` ({lower}), got {upper}")
            )
        if rate is not None and rate_range is not None and not rate_range[0] <= rate <= rate_range[1]:
            problems.append(
                document.problem(
                    (*where, rate_key or ""), f"expected a rate in [{rate_range[0]}, {rate_range[1]}], got {rate}"
                )
            )
        if rate is not None and index > 0 and direction is not None:
            wrong = rate > previous_rate if direction == "non-increasing" else rate < previous_rate
            if wrong:
                problems.append(
                    document.problem(
                        (*where, rate_key or ""),
                        f"expected {direction} rates: {rate} after {previous_rate} in the band before",
                    )
                )
        band_cumulative = None
        if cumulative_key is not None and rate is not None:
            computed = _tidy(lower * (rate - previous_rate) + cumulative)
            declared = row.get(cumulative_key)
            if declared is not None and _number(declared) != computed:
                problems.append(
                    document.problem(
                        (*where, cumulative_key),
                        f"expected {computed:f} = {lower} x ({rate} - {previous_rate}) + {cumulative:f}"
                        f" (the previous band's {cumulative_key}), got {declared}",
                        suggestion=f"{cumulative_key}: {computed:f}",
                    )
                )
            cumulative = computed
            # the analyst's own figure (equal when right), so that the trace shows what the YAML says
            band_cumulative = computed if declared is None else _number(declared)
        bands.append(
            Band(
                index=index,
                lower=lower,
                upper=upper,
                rate=rate,
                cumulative=band_cumulative,
                label=None if label_key is None else row.get(label_key),
                entry=row,
                source=document.source(where),
                path=format_json_path(where),
            )
        )
        previous_upper = upper
        previous_rate = rate if rate is not None else previous_rate
    if open_top and previous_upper is not None:
        problems.append(
            document.problem(
                (*path, len(rows) - 1, upper_key),
                f"expected the last band to be open (no `{upper_key}`) so that every value falls in a band,"
                f" got {upper_key}: {previous_upper}",
            )
        )
    if problems:
        return None, problems

    def inputs_of(recorded: tuple[Decimal, Any]) -> dict[str, Decimal]:
        return {input_name: recorded[0]}

    def spec(kind: str, value_of: Any, detail: Any) -> StepSpec:
        return StepSpec(
            name=name,
            kind=kind,
            description=description,
            inputs_of=inputs_of,
            source=document.source(path),
            path=format_json_path(path),
            value_of=value_of,
            detail=detail,
        )

    table = BandTable(
        bands=tuple(bands),
        lowers=tuple(band.lower for band in bands),
        closed=closed,
        lookup_spec=spec("lookup", _band_value, _band_detail),
        marginal_spec=spec("bands", _marginal_value, _marginal_detail),
    )
    return table, []


__all__ = ["Band", "BandPart", "BandTable", "Marginal", "compile_bands"]
