"""Mutations of valid event documents, for the property tests of the intake's parsers."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st


def paths(document: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside ``document`` (dict keys and list indexes), the document itself first."""
    found = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            found += paths(value, prefix + (key,))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += paths(value, prefix + (index,))
    return found


@st.composite
def mutated(
    draw: st.DrawFn, base: Any, values: st.SearchStrategy[Any], *, actions: tuple[str, ...] = ("replace", "delete"), replace_root: bool = False
) -> Any:
    """``base`` with one to three edits, each one of ``actions``: a value replaced by one of ``values``, a key
    or item deleted, or (``add``) a key added to a dict. ``replace_root``: an edit at the document itself may
    replace it whole."""
    document = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(paths(document)))
        if not path:
            if replace_root and draw(st.booleans()):
                return draw(values)
            continue
        parent = document
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(actions))
        if action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(values)
    return document
