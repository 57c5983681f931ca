"""Helpers for the policy-pack tests.

Counter-examples are built from the session renders of the bundled examples: take the views the
offline plan hands the pack (``policies.offline.views_of``), replace one resource with a broken
copy (``dataclasses.replace``), and run one rule. Desired-state counter-examples go through
``render_mutated`` (``tests/conftest.py``) instead.

The test modules are named ``test_rules_<module>.py`` rather than ``test_<module>.py``: the test
tree has no ``__init__.py`` files, so basenames must be unique across ``tests/`` and
``tests/program`` already has ``test_registry.py`` and ``test_network.py``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pytest

from policies.model import PolicyContext, ResourceView, Violation
from policies.offline import views_of
from policies.pack import RULES, evaluate

DEV = PolicyContext(environment_suffix="dev", production=False)
PROD = PolicyContext(environment_suffix="prod", production=True)
RULE_BY_ID = {r.id: r for r in RULES}


class PolicyKit:
    """Build broken copies of a stack's views and run rules over them."""

    DEV = DEV
    PROD = PROD

    @staticmethod
    def view(views: Sequence[ResourceView], name: str) -> ResourceView:
        matches = [v for v in views if v.name == name]
        assert len(matches) == 1, f"expected one view named {name!r}, found {len(matches)}"
        return matches[0]

    @staticmethod
    def replace(
        views: Sequence[ResourceView],
        target: str,
        /,
        *,
        update: dict[str, Any] | None = None,
        drop: Iterable[str] = (),
        **fields: Any,
    ) -> list[ResourceView]:
        """``views`` with ``target`` replaced: props updated / keys dropped, other fields (even ``name``) replaced."""
        found = False
        out: list[ResourceView] = []
        for v in views:
            if v.name != target:
                out.append(v)
                continue
            found = True
            changes = dict(fields)
            if update is not None or drop:
                props = {k: val for k, val in (changes.pop("props", None) or v.props).items() if k not in set(drop)}
                props.update(update or {})
                changes["props"] = props
            out.append(dataclasses.replace(v, **changes))
        assert found, f"no view named {target!r}"
        return out

    @staticmethod
    def remove(views: Sequence[ResourceView], *names: str) -> list[ResourceView]:
        present = {v.name for v in views}
        assert set(names) <= present, f"not in the stack: {set(names) - present}"
        return [v for v in views if v.name not in names]

    @staticmethod
    def add(views: Sequence[ResourceView], *extra: ResourceView) -> list[ResourceView]:
        return [*views, *extra]

    @classmethod
    def edit_containers(
        cls, views: Sequence[ResourceView], task: str, edit: Callable[[list[dict[str, Any]]], None]
    ) -> list[ResourceView]:
        """``views`` with task definition ``task``'s containerDefinitions JSON edited in place by ``edit``."""
        definitions = json.loads(cls.view(views, task).props["containerDefinitions"])
        edit(definitions)
        return cls.replace(views, task, update={"containerDefinitions": json.dumps(definitions)})

    @staticmethod
    def run(views: Iterable[ResourceView], rule_id: str, context: PolicyContext = DEV) -> list[Violation]:
        """The violations of one rule."""
        report = evaluate(list(views), context, rules=[RULE_BY_ID[rule_id]])
        assert all(v.policy == rule_id for v in report.violations)
        return report.violations

    @staticmethod
    def expect(violations: Sequence[Violation], rule_id: str, resource: str, *substrings: str) -> Violation:
        """The violation of ``rule_id`` on ``resource`` whose message contains every substring."""
        for v in violations:
            if v.policy == rule_id and v.resource == resource and all(s in v.message for s in substrings):
                return v
        shown = "\n".join(f"  {v.policy} [{v.resource}] {v.message}" for v in violations) or "  (none)"
        raise AssertionError(f"no {rule_id} violation on {resource!r} mentioning {substrings!r}; got:\n{shown}")

    @staticmethod
    def resources(violations: Sequence[Violation]) -> set[str]:
        return {v.resource for v in violations}


@pytest.fixture(scope="session")
def kit() -> PolicyKit:
    return PolicyKit()


@pytest.fixture(scope="session")
def dev_views(rendered_dev) -> tuple[ResourceView, ...]:
    return tuple(views_of(rendered_dev))


@pytest.fixture(scope="session")
def prod_views(rendered_prod) -> tuple[ResourceView, ...]:
    return tuple(views_of(rendered_prod))
