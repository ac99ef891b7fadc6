"""Reading a price path: CSV or JSON Lines of `timestamp, asset, price`, checked whole, then streamed.

A price path comes from another service and may be wrong or hostile, so
reading it is bounded (`PathLimits`): a line longer than `max_line_bytes` or
nested deeper than `max_depth` stops the read with a located problem before
it is held in memory, and a path with more than `max_rows` rows is refused.
Every other bad row is reported at once, each with its line and the field it
is about.  A row must have exactly the header's columns (a price written
`11,569.82` splits into two), and a JSON row names each field once.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO

from ._json_objects import DuplicateKey, decode, unique_keys
from ._numbers import MAX_MAGNITUDE, in_range, iso, json_decimal, parse_decimal, parse_instant
from .errors import AccountError, Problem

COLUMNS = ("timestamp", "asset", "price")


@dataclass(frozen=True, slots=True)
class PathLimits:
    """Bounds on reading a price path (engine settings, not policy values; see SECURITY.md)."""

    max_line_bytes: int = 65_536
    """The longest line, in bytes; a longer one stops the read (a price row is under 200 bytes)."""
    max_depth: int = 16
    """The deepest nesting of arrays and objects in a JSON Lines row (a price row has depth 1)."""
    max_rows: int = 10_000_000
    """The most rows a path may have."""


@dataclass(frozen=True, slots=True)
class PricePoint:
    """The prices of one instant."""

    at: datetime
    prices: Mapping[str, Decimal]


class _Stop(Exception):
    """Raised inside the reader when a problem makes the rest of the file unreadable."""


# --- lines, bounded ---------------------------------------------------------------------------------


def _bounded_lines(
    file: IO[bytes] | IO[str], source: str, limits: PathLimits, problems: list[Problem]
) -> Iterator[str]:
    """The file's lines as text, each read with a bound; a byte-order mark is dropped.

    A line that is not UTF-8 is a problem and comes out empty, so the lines
    after it keep their numbers.  A line over the bound stops the read.
    """
    number = 0
    limit = limits.max_line_bytes
    while True:
        raw = file.readline(limit + 1)
        if not raw:
            return
        number += 1
        ended = raw[-1:] in (b"\n", "\n")
        if len(raw) > limit and not ended:
            problems.append(Problem(file=source, line=number, col=1, message=_too_long(limit)))
            raise _Stop
        if isinstance(raw, bytes):
            try:
                line = raw.decode()
            except UnicodeDecodeError:
                problems.append(Problem(file=source, line=number, col=1, message="the price path is not UTF-8 text"))
                line = "\n"
        else:
            line = raw
        yield line.removeprefix("\ufeff") if number == 1 else line


def _too_long(limit: int) -> str:
    return f"the line is longer than {limit:,} bytes (PathLimits.max_line_bytes); stopped reading here"


def spool(stream: IO[str] | IO[bytes], source: str, limits: PathLimits) -> IO[bytes]:
    """A seekable copy of `stream` (standard input) in a temporary file, refused early at an over-long line."""
    copy = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller, who closes it
    binary = getattr(stream, "buffer", stream)
    number, since_newline = 1, 0
    try:
        while chunk := binary.read(1 << 16):
            data = chunk.encode("utf-8", "surrogateescape") if isinstance(chunk, str) else chunk
            start = 0
            while True:
                newline = data.find(b"\n", start)
                since_newline += (len(data) if newline < 0 else newline) - start
                if since_newline > limits.max_line_bytes:
                    copy.close()
                    raise AccountError(
                        [Problem(file=source, line=number, col=1, message=_too_long(limits.max_line_bytes))]
                    )
                if newline < 0:
                    break
                number, since_newline, start = number + 1, 0, newline + 1
            copy.write(data)
    except UnicodeError as error:
        copy.close()
        raise AccountError([Problem(file=source, message="the price path is not UTF-8 text")]) from error
    return copy


# --- rows ---------------------------------------------------------------------------------------------


_Row = tuple[int, tuple[int, int, int], object, object, object]
"""One row as read: line number, the columns of its three fields (1-based; 0 when unknown), the raw values."""


def _rows(lines: Iterator[str], source: str, limits: PathLimits, problems: list[Problem]) -> Iterator[_Row]:
    """The rows of CSV or JSON Lines text (told apart by its first character), at most `limits.max_rows`."""
    skipped: list[str] = []
    for line in lines:  # the first non-blank line tells the form; the lines read to find it are read again
        skipped.append(line)
        if line.strip():
            break
    head = "".join(skipped).lstrip()
    rest = _chain(skipped, lines)
    rows = _json_rows(rest, source, limits, problems) if head.startswith("{") else _csv_rows(rest, source, problems)
    for count, row in enumerate(rows, 1):
        if count > limits.max_rows:
            problems.append(
                Problem(
                    file=source,
                    line=row[0],
                    col=1,
                    message=f"the price path has more than {limits.max_rows:,} rows (PathLimits.max_rows)",
                )
            )
            raise _Stop
        yield row


def _chain(first: list[str], then: Iterator[str]) -> Iterator[str]:
    yield from first
    yield from then


def _depth_over(line: str, limit: int) -> bool:
    """Whether a JSON text nests arrays and objects deeper than `limit`, found without recursion."""
    if line.count("{") + line.count("[") <= limit:  # the common case, in C
        return False
    depth, in_string, escaped = 0, False, False
    for character in line:
        if in_string:
            if escaped:
                escaped = False
            elif character == "\\":
                escaped = True
            elif character == '"':
                in_string = False
        elif character == '"':
            in_string = True
        elif character in "[{":
            depth += 1
            if depth > limit:
                return True
        elif character in "]}":
            depth -= 1
    return False


_DECODER = json.JSONDecoder(parse_float=json_decimal, object_pairs_hook=unique_keys)


def _column_of(line: str, key: str) -> int:
    """The 1-based column where `"key"` first appears in a JSON line, or 1 (the row) when it does not."""
    return max(line.find(f'"{key}"') + 1, 1)


def _json_rows(lines: Iterator[str], source: str, limits: PathLimits, problems: list[Problem]) -> Iterator[_Row]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if _depth_over(line, limits.max_depth):
            problems.append(
                Problem(
                    file=source,
                    line=number,
                    col=1,
                    message=f"expected a flat JSON object; this row nests deeper than {limits.max_depth}"
                    " levels (PathLimits.max_depth)",
                )
            )
            continue
        try:
            row = decode(_DECODER, line)
        except DuplicateKey as duplicate:
            problems.append(
                Problem(
                    file=source,
                    line=number,
                    col=_column_of(line, duplicate.key),
                    json_path=f"$.{duplicate.key}" if duplicate.key in COLUMNS else "$",
                    message=f"the key {duplicate.key!r} appears more than once; a row names each field once",
                )
            )
            continue
        except json.JSONDecodeError as error:
            problems.append(Problem(file=source, line=number, col=error.colno, message=f"invalid JSON: {error.msg}"))
            continue
        except ValueError as error:  # a number no Decimal holds (`json_decimal`)
            problems.append(Problem(file=source, line=number, col=1, message=f"invalid JSON: {error}"))
            continue
        if not isinstance(row, dict):
            problems.append(Problem(file=source, line=number, col=1, message="expected a JSON object per line"))
            continue
        columns = (_column_of(line, "timestamp"), _column_of(line, "asset"), _column_of(line, "price"))
        yield number, columns, row.get("timestamp"), row.get("asset"), row.get("price")


def _field_columns(line: str, fields: list[str]) -> list[int]:
    """The 1-based column each field starts at, exact for a line without quotes; else every field at 1."""
    if '"' in line:
        return [1] * len(fields)
    columns, at = [], 1
    for field in fields:
        columns.append(at)
        at += len(field) + 1
    return columns


def _csv_rows(lines: Iterator[str], source: str, problems: list[Problem]) -> Iterator[_Row]:
    current = ""

    def remembered() -> Iterator[str]:
        nonlocal current
        for line in lines:
            current = line
            yield line

    reader = csv.reader(remembered(), strict=True)
    try:
        header = next(reader, [])
        missing = [name for name in COLUMNS if name not in header]
        if missing:
            problems.append(
                Problem(
                    file=source,
                    line=1,
                    col=1,
                    message="expected a CSV header with the columns"
                    f" timestamp, asset, price; missing {', '.join(missing)}",
                )
            )
            return
        repeated = sorted({name for name in header if header.count(name) > 1})
        if repeated:
            problems.append(
                Problem(
                    file=source,
                    line=1,
                    col=1,
                    message=f"the header names {', '.join(repeated)} more than once; each column once",
                )
            )
            return
        width = len(header)
        at_column, asset_column, price_column = (header.index(name) for name in COLUMNS)
        for row in reader:
            if not row:
                continue
            if len(row) != width:
                problems.append(_wrong_width(source, reader.line_num, width, row, price_column))
                continue
            starts = _field_columns(current, row)
            yield (
                reader.line_num,
                (starts[at_column], starts[asset_column], starts[price_column]),
                row[at_column],
                row[asset_column],
                row[price_column],
            )
    except csv.Error as error:
        problems.append(Problem(file=source, line=reader.line_num, col=1, message=f"unreadable CSV: {error}"))
        raise _Stop from error


def _wrong_width(source: str, line: int, width: int, row: list[str], price_column: int) -> Problem:
    message = f"expected {width} columns as in the header, got {len(row)}"
    if len(row) > width and price_column < len(row) - 1:
        message += "; a number with a thousands separator (`11,569.82`) must be quoted or written without it"
    return Problem(file=source, line=line, col=1, message=message)


# --- points -------------------------------------------------------------------------------------------


def _instant(text: object) -> datetime | str:
    """The instant a timestamp stands for, in UTC, or what is wrong with it."""
    moment = parse_instant(text) if isinstance(text, str) else None
    if moment is None:
        return f"expected an ISO 8601 date or date-time with an offset, got {_shown(text)}"
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before the first instant a datetime holds in UTC
        return f"expected an instant from year 1 to 9999 in UTC, got {text!r}"


def _shown(value: object) -> str:
    return "nothing" if value is None else repr(value)


def _price_problem(raw: object, price: Decimal | None) -> str | None:
    """What is wrong with a price, or None."""
    if price is None:
        return f"expected a decimal price > 0, got {_shown(raw)}"
    if price <= 0:
        return f"expected a decimal price > 0, got {raw!r}"
    if not in_range(price):
        return f"expected a price between 1e-{MAX_MAGNITUDE} and 1e{MAX_MAGNITUDE}, got {raw!r}"
    return None


def _scan(
    lines: Iterator[str], source: str, limits: PathLimits, problems: list[Problem]
) -> Iterator[tuple[datetime, dict[str, Decimal]]]:
    """Price points (instant, prices) as rows come in; problems go to `problems` and their rows are left out.

    Only the point being gathered is held: rows of one instant must be
    consecutive, which time order guarantees.
    """
    current_at: datetime | None = None
    current: dict[str, Decimal] = {}
    lines_of: dict[str, int] = {}  # the line each asset of the current point was first priced on
    first_line = 0  # the current point's first line
    last_text: object = None
    last_moment: datetime | str = ""
    for number, (at_col, asset_col, price_col), timestamp, asset, raw_price in _rows(lines, source, limits, problems):
        if timestamp != last_text or isinstance(last_moment, str):  # rows of one instant repeat its text
            last_text, last_moment = timestamp, _instant(timestamp)
        moment = last_moment
        price = parse_decimal(raw_price)
        if isinstance(moment, str):
            problems.append(Problem(file=source, line=number, col=at_col, json_path="$.timestamp", message=moment))
        wrong_price = _price_problem(raw_price, price)
        if wrong_price is not None:
            problems.append(Problem(file=source, line=number, col=price_col, json_path="$.price", message=wrong_price))
            price = None
        if not isinstance(asset, str) or not asset:
            problems.append(
                Problem(
                    file=source,
                    line=number,
                    col=asset_col,
                    json_path="$.asset",
                    message=f"expected an asset symbol, got {_shown(asset)}",
                )
            )
            continue
        if isinstance(moment, str) or price is None:
            continue
        if moment != current_at:
            if current_at is not None:
                if moment < current_at:
                    problems.append(
                        Problem(
                            file=source,
                            line=number,
                            col=at_col,
                            json_path="$.timestamp",
                            message=f"expected rows in time order, at or after {iso(current_at)}"
                            f" (line {first_line}), got {iso(moment)}",
                        )
                    )
                    continue
                yield current_at, current
            current_at, current, lines_of, first_line = moment, {}, {}, number
        seen = current.get(asset)
        if seen is not None and seen != price:
            problems.append(
                Problem(
                    file=source,
                    line=number,
                    col=price_col,
                    json_path="$.price",
                    message=f"{asset} at {iso(moment)} is priced {seen} on line {lines_of[asset]}"
                    f" and {price} here; one instant has one price",
                )
            )
        lines_of.setdefault(asset, number)
        current[asset] = price
    if current_at is not None:
        yield current_at, current


def _points(
    file: IO[bytes] | IO[str], source: str, limits: PathLimits, problems: list[Problem]
) -> Iterator[tuple[datetime, dict[str, Decimal]]]:
    """The file's price points from its start; a fatal problem ends them (it is in `problems`)."""
    file.seek(0)
    try:
        yield from _scan(_bounded_lines(file, source, limits, problems), source, limits, problems)
    except _Stop:
        return


class PricePath:
    """A price path in a seekable file: checked whole once, then read again row by row for each walk.

    The constructor raises `AccountError` listing every bad row with its line
    (and an empty path); iterating yields `PricePoint`s, one instant at a time,
    holding only the current one.  One walk at a time reads it, and the file
    must not change meanwhile: a row that has become bad stops the walk with
    an `AccountError`.
    """

    def __init__(
        self, file: IO[bytes] | IO[str], *, source: str, owned: bool = False, limits: PathLimits | None = None
    ) -> None:
        """Check `file` (binary, UTF-8, or text) whole; `owned`: closing the path closes the file."""
        self._file = file
        self._owned = owned
        self.source = source
        self.limits = limits or PathLimits()
        problems: list[Problem] = []
        start: datetime | None = None
        priced: set[str] = set()
        count = 0
        # tuples, not PricePoints: making those would be a third of this pass
        for at, prices in _points(file, source, self.limits, problems):
            if start is None:
                start = at
            priced.update(prices)
            count += 1
        if problems:
            self.close()
            raise AccountError(problems)
        if start is None:
            self.close()
            raise AccountError([Problem(file=source, message="the price path is empty")])
        self.start: datetime = start
        """The first instant."""
        self.assets: frozenset[str] = frozenset(priced)
        """Every asset symbol the path prices."""
        self.points = count
        """The number of price points (instants)."""

    @classmethod
    def open(cls, name: str | Path, *, source: str | None = None, limits: PathLimits | None = None) -> PricePath:
        """The price path in the file `name` (UTF-8, a byte-order mark is dropped); close it when done."""
        source = str(name) if source is None else source
        try:
            file = open(name, "rb")  # noqa: SIM115 - the PricePath owns it; bytes, to locate bad UTF-8 by line
        except OSError as error:
            raise AccountError(
                [Problem(file=source, message=f"cannot read the price path: {error.strerror}")]
            ) from error
        return cls(file, source=source, owned=True, limits=limits)

    @classmethod
    def from_stream(cls, stream: IO[str], *, source: str, limits: PathLimits | None = None) -> PricePath:
        """A price path read once from `stream` (standard input), kept in a temporary file for the second read."""
        limits = limits or PathLimits()
        return cls(spool(stream, source, limits), source=source, owned=True, limits=limits)

    def __iter__(self) -> Iterator[PricePoint]:
        problems: list[Problem] = []
        for at, prices in _points(self._file, self.source, self.limits, problems):
            if problems:
                break
            yield PricePoint(at, prices)
        if problems:
            raise AccountError(problems)

    def close(self) -> None:
        if self._owned:
            self._file.close()

    def __enter__(self) -> PricePath:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def read_price_path(text: str, *, source: str, limits: PathLimits | None = None) -> list[PricePoint]:
    """Price points in time order, from text held in memory (small paths); every bad row is reported, with its line."""
    return list(PricePath(io.StringIO(text), source=source, limits=limits))


def assets_of(path: Iterable[PricePoint]) -> frozenset[str] | None:
    """The assets a path prices, when that is known without reading it (a `PricePath` or a sequence)."""
    if isinstance(path, PricePath):
        return path.assets
    if isinstance(path, Sequence):
        return frozenset(asset for point in path for asset in point.prices)
    return None
