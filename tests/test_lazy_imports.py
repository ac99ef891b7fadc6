"""The command line imports only what a command uses: a regression test for the cold start."""

from __future__ import annotations

import json
import subprocess
import sys

from .conftest import EXAMPLES, ROOT

# Imported on first use only: decision logs (structlog), the expression reference evaluator
# (simpleeval), text explanations, simulations (and their CSV reader), suggestions (difflib).
LAZY = ("structlog", "simpleeval", "policy_engine.explain", "policy_engine.simulate", "difflib")

_PROBE = """
import io, json, sys
from policy_engine.cli import main
out = io.StringIO()
code = main(["evaluate", sys.argv[1], "--as-of", "2026-03-01T00:00:00Z"], stdout=out, stderr=sys.stderr)
print(json.dumps({"code": code, "loaded": sorted(m for m in sys.argv[2:] if m in sys.modules)}))
"""


def test_evaluate_imports_none_of_what_it_does_not_use() -> None:
    """`policy-engine evaluate` (JSON out, no log) decides without importing any of the lazily imported modules."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(EXAMPLES / "margin-a-regular.json"), *LAZY],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert json.loads(result.stdout) == {"code": 0, "loaded": []}
