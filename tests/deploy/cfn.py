"""template.yaml read as plain data: CloudFormation short forms (!Ref, !Sub, !GetAtt, ...) as their long forms;
and :func:`allows`, IAM's evaluation of one request against a role's statements.

A module, not only a fixture, so tests outside tests/deploy (the drift schedule's) read the template the same way.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form intrinsics (!Ref, !Sub, !GetAtt) as plain data."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            return {"Fn::GetAtt": value.split(".", 1)}
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template() -> dict:
    return yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# Condition operators evaluated here: equality, and the wildcard forms (ArnLike: * and ? as in a Resource).
_EQUALS, _LIKE = ("StringEquals", "ArnEquals", "Bool"), ("StringLike", "ArnLike")


def allows(statements: list[dict], action: str, resource: str, context: dict[str, str] | None = None) -> bool:
    """IAM's evaluation for one request, as far as these statements go: an explicit Deny wins; an Allow needs
    the action and resource to match and each condition (StringEquals, ArnEquals, Bool, StringLike, ArnLike) to
    hold for ``context`` (``aws:RequestedRegion`` is the template tests' region unless ``context`` says otherwise)."""
    from tests.deploy.transformed import REGION

    given = {"aws:RequestedRegion": REGION, **(context or {})}

    def applies(statement: dict) -> bool:
        if not any(fnmatch.fnmatchcase(action, a) for a in _listed(statement["Action"])):
            return False
        if not any(fnmatch.fnmatchcase(resource, r) for r in _listed(statement["Resource"])):
            return False
        for operator, conditions in statement.get("Condition", {}).items():
            assert operator in _EQUALS + _LIKE, f"{statement.get('Sid')}: {operator} is not evaluated here"
            for key, wanted in conditions.items():
                value, wanted = given.get(key), _listed(wanted)
                if operator == "Bool":
                    value, wanted = str(value).lower(), [str(item).lower() for item in wanted]
                if operator in _LIKE:
                    if value is None or not any(fnmatch.fnmatchcase(value, pattern) for pattern in wanted):
                        return False
                elif value not in wanted:
                    return False
        return True

    if any(applies(s) for s in statements if s["Effect"] == "Deny"):
        return False
    return any(applies(s) for s in statements if s["Effect"] == "Allow")
