"""Everything a product needs, in one import: the seam, the table kit, records and errors.

A product in another package imports from here (not from underscore
modules), declares its `Product` under the entry-point group
`policy_engine.products`, and needs nothing else from this package.
See "Writing a product" in the README.
"""

from ._expressions import Expression, ExprType
from ._plain import json_text
from .bands import Band, BandPart, BandTable, Marginal, compile_bands
from .compiler import (
    Derived,
    RoundedRatio,
    compile_derived,
    compile_ratio,
    expression_at,
    places_problem,
    rounding_at,
    rounding_of,
    run,
)
from .errors import AccountError, Problem, did_you_mean, duplicate_problems, problem_at
from .model import Parameter, PolicyDocument, PolicyRef, Rounding
from .product import Account, CheckAcross, Compile, CompiledPolicy, Operation, Outcome, Product, Simulation
from .rules import Rule, RuleTable, StatusTable, compile_rule_table, compile_status_table
from .templates import compile_templates
from .trace import Env, StepSpec, Trace, with_json_text

__all__ = [
    "Account",
    "AccountError",
    "Band",
    "BandPart",
    "BandTable",
    "CheckAcross",
    "Compile",
    "CompiledPolicy",
    "Derived",
    "Env",
    "ExprType",
    "Expression",
    "Marginal",
    "Operation",
    "Outcome",
    "Parameter",
    "PolicyDocument",
    "PolicyRef",
    "Problem",
    "Product",
    "RoundedRatio",
    "Rounding",
    "Rule",
    "RuleTable",
    "Simulation",
    "StatusTable",
    "StepSpec",
    "Trace",
    "compile_bands",
    "compile_derived",
    "compile_ratio",
    "compile_rule_table",
    "compile_status_table",
    "compile_templates",
    "did_you_mean",
    "duplicate_problems",
    "expression_at",
    "json_text",
    "places_problem",
    "problem_at",
    "rounding_at",
    "rounding_of",
    "run",
    "with_json_text",
]
