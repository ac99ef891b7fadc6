"""A decision explained to a person, from its canonical dict form.

The text is built from the trace, so every product gets an explanation: the
status and the rule that set it, each comparison with its raw and compared
values and the YAML line of its threshold, each figure and the parameters it
used, band lookups and marginal bands with the line of each band.  What only
a product knows (a liquidation plan, an auto top-up) it adds itself through
`Product.explain_sections` and `Product.explain_detail`; a detail that
neither the kit nor the product renders is still shown, field by field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .product import Product


def _text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Mapping | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def _value(entry: Any) -> str:
    if isinstance(entry, Mapping):
        if "compared" in entry:
            return f"{entry['compared']} (raw {entry['raw']}, rounded {entry['rounding']})"
        return _text(entry.get("value"))
    return _text(entry)


def _cited(entry: Any) -> str:
    if isinstance(entry, Mapping) and "source" in entry:
        return f"  [{entry['source']} {entry['path']}]"
    return ""


def _band_text(band: Mapping[str, Any]) -> str:
    upper = "up" if band.get("to") is None else f"to {band['to']}"
    text = f"band {band['index'] + 1}" + (f" ({band['label']})" if "label" in band else "")
    text += f": from {band['from']} {upper}"
    if "rate" in band:
        text += f", rate {band['rate']}"
    if "cumulative" in band:
        text += f", cumulative {band['cumulative']}"
    return text


def _generic_detail(detail: Any) -> list[str]:
    """Lines for a detail only a product understands, when the product has no renderer for it."""
    if isinstance(detail, Mapping):
        return [f"{name} = {_text(value)}" for name, value in detail.items()]
    if isinstance(detail, list):
        return [
            ", ".join(f"{name} {_text(value)}" for name, value in item.items())
            if isinstance(item, Mapping)
            else _text(item)
            for item in detail
        ]
    return [_text(detail)]


def _detail_lines(step: Mapping[str, Any], product: Product | None) -> list[str]:
    detail = step.get("detail")
    if detail is None:
        return []
    if product is not None and product.explain_detail is not None:
        lines = product.explain_detail(step)
        if lines is not None:
            return list(lines)
    if isinstance(detail, Mapping) and "compared" in detail and "rounding" in detail:
        return [f"compared as {detail['compared']} ({detail['rounding']})"]
    if isinstance(detail, Mapping) and isinstance(detail.get("band"), Mapping):
        band = detail["band"]
        return [f"{_band_text(band)}  [{band['source']} {band['path']}]"]
    if isinstance(detail, Mapping) and isinstance(detail.get("bands"), list):
        lines = [
            f"{_band_text(band)}: {band['amount']} counts {band['counted']}  [{band['source']} {band['path']}]"
            for band in detail["bands"]
        ]
        if "excess" in detail:
            lines.append(f"{detail['excess']} above the last band counts in none")
        return lines
    return _generic_detail(detail)


def _parameter_lines(step: Mapping[str, Any]) -> list[str]:
    return [
        f"    {parameter['name']} = {_text(parameter['value'])}  [{parameter['source']} {parameter['path']}]"
        for parameter in step.get("parameters", [])
    ]


def _step_lines(step: Mapping[str, Any], product: Product | None) -> list[str]:
    kind = step["kind"]
    name = step["step"]
    if kind == "rule" and "comparison" in step:
        comparison = step["comparison"]
        left, right = comparison["left"], comparison["right"]
        verdict = "holds" if comparison["result"] else "does not hold"
        return [
            f"rule {name.removeprefix('rule:')}: {left['name']} {comparison['operator']}"
            f" {right['name']} {verdict}  [{step['source']}]",
            f"    {left['name']} = {_value(left)}{_cited(left)}",
            f"    {right['name']} = {_value(right)}{_cited(right)}",
        ]
    if kind == "rule":
        verdict = "holds" if step["value"] else "does not hold"
        lines = [f"rule {name.removeprefix('rule:')}: {step['expression']} {verdict}  [{step['source']}]"]
        lines += [
            f"    {input_name} = {_value(entry)}{_cited(entry)}" for input_name, entry in step.get("inputs", {}).items()
        ]
        return lines
    if kind == "collect":
        fired = ", ".join(step["value"]) or "none"
        return [f"{name}: rules that held: {fired}  [{step['source']}]"]
    if kind == "plan":
        details = ["    " + line for line in _detail_lines(step, product)]
        return [f"{name}: {_text(step['value'])}  [{step['source']}]", *details, *_parameter_lines(step)]
    value = step["value"]
    head = f"{name} = {_value(value) if not isinstance(value, Mapping) else ''}".rstrip(" =")
    if value is None and kind == "derive":
        head = f"{name}: {step['description']}"
    if kind == "derive" and step.get("expression"):
        head += f"  ({step['expression']})"
    if kind in ("derive", "status") and step.get("source"):
        head += f"  [{step['source']}]"
    if kind == "lookup":
        head = f"{name} for " + ", ".join(f"{key} {_value(entry)}" for key, entry in step.get("inputs", {}).items())
        if not isinstance(value, Mapping):
            head += f": {_text(value)}"
    if kind == "bands":
        inputs = ", ".join(f"{key} {_value(entry)}" for key, entry in step.get("inputs", {}).items())
        head = f"{name} = {_text(value)}, counted band by band from {inputs}  [{step['source']}]"
    lines = [head]
    if isinstance(value, Mapping) and not step.get("parameters"):
        lines += [f"    {key} = {_text(item)}" for key, item in value.items()]
    lines += ["    " + line for line in _detail_lines(step, product)]
    lines += _parameter_lines(step)
    return lines


def _policy_line(policy: Mapping[str, Any], label: str = "Policy") -> str:
    return f"{label} {policy['id']} version {policy['version']} ({policy['file']}, sha256 {policy['sha256'][:12]})"


def explain(decision: Mapping[str, Any], product: Product | None = None) -> str:
    """A multi-line explanation of a decision's dict form (`Decision.to_dict()`).

    `product` is the decision's product, whose sections and details are
    added; without it the generic parts alone are rendered.
    """
    policy, account, outcome = decision["policy"], decision["account"], decision["outcome"]
    lines = [
        f"Account {account['id']} ({account['kind']}): {str(outcome['status']).upper()}",
        _policy_line(policy),
    ]
    related: Sequence[Mapping[str, Any]] = decision.get("related_policies") or ()
    lines += [_policy_line(ref, label=f"Also read: {ref['kind']}") for ref in related]
    lines.append(f"As of {decision['as_of']}")
    operations: Sequence[Mapping[str, Any]] = decision.get("operations") or ()
    if operations:
        shown = ", ".join(op["name"] if op["value"] is None else f"{op['name']}={op['value']}" for op in operations)
        lines.append(f"Operations applied first: {shown}")
    if outcome.get("rule"):
        lines.append(
            f"Decided by rule `{outcome['rule']}`"
            + (f"; notification: {outcome['notification']}" if outcome.get("notification") else "")
        )
    lines += ["", "Why:"]
    for step in decision["trace"]:
        lines += ["  " + line for line in _step_lines(step, product)]
    if product is not None and product.explain_sections is not None:
        sections = list(product.explain_sections(decision))
        if sections:
            lines += ["", *sections]
    return "\n".join(lines) + "\n"
