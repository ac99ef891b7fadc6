"""policy-engine: risk rules as versioned YAML, evaluated into decisions with an auditable trace.

>>> import policy_engine
>>> engine = policy_engine.load("policies")  # or policy_engine.load(policy_engine.BUNDLED), the bundled pack
>>> decision = engine.evaluate(account)
>>> decision.outcome["status"], decision.to_json()
"""

from typing import TYPE_CHECKING

from .bundled import BUNDLED
from .decision import Decision
from .documents import LoadLimits
from .engine import Engine, load
from .errors import AccountError, DecisionLogError, EvaluationError, PolicyEngineError, PolicyError, Problem
from .frozen import FrozenDict
from .reloading import PolicyChange, PolicyWatcher, Reloaded

__all__ = [
    "BUNDLED",
    "AccountError",
    "Decision",
    "DecisionLogError",
    "Engine",
    "EvaluationError",
    "FrozenDict",
    "LoadLimits",
    "PolicyChange",
    "PolicyEngineError",
    "PolicyError",
    "PolicyWatcher",
    "Problem",
    "Reloaded",
    "load",
]

if TYPE_CHECKING:
    __version__: str
else:

    def __getattr__(name: str) -> str:
        """`__version__`, read from the installed package's metadata (pyproject.toml's) on first use only."""
        if name != "__version__":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415 - on demand

        try:
            found = version("policy-engine")
        except PackageNotFoundError:  # run from a source tree that was never installed
            found = "0+unknown"
        globals()["__version__"] = found
        return found
