"""Where the bundled policy pack and its example accounts are, in an installed wheel or in a checkout.

A wheel carries them inside the package (`policy_engine/policies`,
`policy_engine/_examples`, mapped from the top-level folders in
pyproject.toml); a source checkout or an editable install keeps them in the
top-level `policies/` and `examples/` folders.  The pack's folder is named
`policies` in both, so that a decision made with it cites the same
`policies/margin-trading.yaml` whether the package is installed or not.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent

DEFAULT_POLICIES = "policies"
"""The folder the command line and `load()` read when given no policy paths (relative to the current folder)."""


def _first_folder(*candidates: Path) -> Path:
    return next((folder for folder in candidates if folder.is_dir()), candidates[0])


BUNDLED: Path = _first_folder(_HERE / "policies", _HERE.parent / "policies")
"""The bundled policy pack (with its policy tests): `policy_engine.load(policy_engine.BUNDLED)`."""

BUNDLED_EXAMPLES: Path = _first_folder(_HERE / "_examples", _HERE.parent / "examples")
"""Example accounts and a price path for the bundled pack, which `policy-engine init` copies."""

__all__ = ["BUNDLED", "BUNDLED_EXAMPLES", "DEFAULT_POLICIES"]
