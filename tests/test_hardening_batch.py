"""Batch input lines (issue 15): a line longer than the input-size limit is an error row naming its line and
the limit, read past in bounded pieces, and the run goes on."""

from __future__ import annotations

import io
import json
from pathlib import Path

import policy_engine
from policy_engine.batch import JsonlReader, OverlongLine
from policy_engine.cli import main
from policy_engine.population import population_lines

from .conftest import AS_OF, POLICIES


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def good_lines(count: int) -> list[str]:
    return list(population_lines(policy_engine.load(POLICIES), count, seed=5, as_of=AS_OF))


def test_an_overlong_line_is_an_error_row_and_the_run_goes_on(tmp_path: Path) -> None:
    first, last = good_lines(2)
    limit = max(len(first.encode()), len(last.encode())) + 10
    accounts = tmp_path / "accounts.jsonl"
    accounts.write_text(first + '{"kind": "spot-margin", "pad": "' + "x" * (3 * limit) + '"}\n' + last)
    out = tmp_path / "decisions.jsonl"
    code, stdout, stderr = run(
        "batch", str(accounts), "--out", str(out), "--as-of", AS_OF, "--policies", str(POLICIES),
        "--max-input-bytes", str(limit),
    )  # fmt: skip
    assert (code, stdout) == (0, "")
    rows = out.read_text().splitlines()
    assert len(rows) == 3
    assert "error" not in json.loads(rows[0])
    assert "error" not in json.loads(rows[2])
    assert json.loads(rows[1]) == {
        "account": {"id": None, "kind": None},
        "error": {
            "line": 2,
            "problems": [
                {
                    "col": 0,
                    "file": str(accounts),
                    "json_path": "$",
                    "line": 2,
                    "message": f"the line is longer than {limit:,} bytes (the input-size limit, --max-input-bytes);"
                    " it was skipped without being read whole",
                    "suggestion": None,
                }
            ],
        },
    }
    assert "errors 1 (line 2)" in stderr.splitlines()


class BoundedLines:
    """A binary stream of lines that fails the test when asked for a line without a bound, or for more than
    `largest` bytes at once; it serves `lines`, the second one 50 MB long."""

    def __init__(self, lines: list[bytes], largest: int) -> None:
        self._data = io.BytesIO(b"".join(lines))
        self._largest = largest
        self.asked: list[int] = []

    def fileno(self) -> int:
        raise io.UnsupportedOperation("not a file")

    def readline(self, size: int = -1) -> bytes:
        assert 0 < size <= self._largest, f"asked for a line of {size} bytes"
        self.asked.append(size)
        return self._data.readline(size)


def test_an_overlong_line_is_never_held_whole() -> None:
    line, after = (text.encode() for text in good_lines(2))
    giant = b'{"pad": "' + b"y" * 50_000_000 + b'"}\n'
    stream = BoundedLines([line, giant, after], largest=1 << 20)
    chunks = list(JsonlReader(stream, chunk_size=2, max_line_bytes=1000))  # type: ignore[arg-type]
    assert [chunk.first_line for chunk in chunks] == [1, 3]
    assert [len(chunk.rows) for chunk in chunks] == [2, 1]
    assert chunks[0].rows[1] == OverlongLine(1000, "bytes")
    assert chunks[0].size == len(line) + len(giant)
    assert chunks[1].rows == [after]


def test_a_line_of_exactly_the_limit_is_read() -> None:
    text = '{"a": 1}'
    for source, unit in (
        (io.BytesIO(f"{text}\n{text}".encode()), "bytes"),
        (io.StringIO(f"{text}\n{text}x"), "characters"),
    ):
        (chunk,) = JsonlReader(source, max_line_bytes=len(text))
        first, second = chunk.rows
        assert first in (f"{text}\n", f"{text}\n".encode())
        assert second == (text.encode() if unit == "bytes" else OverlongLine(len(text), unit))
