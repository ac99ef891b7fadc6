"""policy-engine: risk rules as versioned YAML, evaluated into decisions with an auditable trace.

>>> import policy_engine
>>> engine = policy_engine.load("policies")  # or policy_engine.load(policy_engine.BUNDLED), the bundled pack
>>> decision = engine.evaluate(account)
>>> decision.outcome["status"], decision.to_json()
"""

from .bundled import BUNDLED
from .decision import Decision
from .documents import LoadLimits
from .engine import Engine, load
from .errors import AccountError, EvaluationError, PolicyEngineError, PolicyError, Problem
from .frozen import FrozenDict

__all__ = [
    "BUNDLED",
    "AccountError",
    "Decision",
    "Engine",
    "EvaluationError",
    "FrozenDict",
    "LoadLimits",
    "PolicyEngineError",
    "PolicyError",
    "Problem",
    "load",
]
