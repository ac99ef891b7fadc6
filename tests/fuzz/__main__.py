"""Run one fuzz target under atheris: `python -m tests.fuzz TARGET [libFuzzer options]`.

TARGET is `policy`, `account` or `prices`.  The seed corpus (the bundled
files of that kind) is copied into a temporary folder that libFuzzer then
grows.  Useful options: `-max_total_time=SECONDS`, `-runs=N`, `-jobs=N`;
a crash is written to `crash-*` in the current folder and exits non-zero.
Needs `atheris` (in the `test` extra, Linux and macOS).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["policy_engine"]):
    from .targets import TARGETS, seeds


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] not in TARGETS:
        sys.exit(f"usage: python -m tests.fuzz {{{','.join(TARGETS)}}} [libFuzzer options]")
    name = argv[1]
    target = TARGETS[name]
    corpus = Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
    for number, seed in enumerate(seeds(name)):
        (corpus / f"seed-{number}").write_bytes(seed)
    atheris.Setup([argv[0], *argv[2:], str(corpus)], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
