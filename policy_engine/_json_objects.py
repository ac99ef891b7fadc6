"""JSON objects as this package reads them: a key given twice is an error, never the last value silently."""

from __future__ import annotations

import json
from typing import Any


class DuplicateKey(ValueError):
    """A JSON object names `key` more than once."""

    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.key = key


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`json`'s `object_pairs_hook`: the object as a dict, or `DuplicateKey` for the first key given twice.

    The dict is built in C; only when it comes out shorter than the pairs are they walked to name the key.
    """
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return result


def decode(decoder: json.JSONDecoder, text: str) -> Any:
    """`decoder.decode(text)`, refusing a byte order mark as `json.loads` does (one decoder serves many texts:
    `json.loads` with options builds a decoder and its scanner per call)."""
    if text.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    return decoder.decode(text)
