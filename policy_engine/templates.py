"""Message templates in policies: `$name` placeholders, checked at load against the names a product fills in.

A notification or refusal message is policy data (its wording changes
without a release), so it is a `string.Template` written in the YAML.  Lint:
the template is valid (`$$` for a dollar sign) and every placeholder is one
the product fills in, with a did-you-mean for a misspelled one.
"""

from __future__ import annotations

from collections.abc import Set
from string import Template

from .errors import JsonPath, Problem, did_you_mean
from .model import PolicyDocument


def compile_templates(
    document: PolicyDocument, path: JsonPath, names: Set[str]
) -> tuple[dict[str, Template], list[Problem]]:
    """The templates of the mapping at `path` (key -> text), each checked against the placeholder `names`."""
    problems: list[Problem] = []
    templates: dict[str, Template] = {}
    for key, text in (document.data_at(path) or {}).items():
        template = Template(text)
        where = (*path, key)
        if not template.is_valid():
            problems.append(
                document.problem(where, "invalid template: write $name or ${name}, and $$ for a dollar sign")
            )
            continue
        for name in template.get_identifiers():
            if name not in names:
                problems.append(
                    document.problem(
                        where,
                        f"unknown placeholder `${name}`; expected one of {', '.join('$' + n for n in sorted(names))}",
                        suggestion=did_you_mean(name, names),
                    )
                )
        templates[key] = template
    return templates, problems


__all__ = ["compile_templates"]
