"""Helpers for the desired_state tests.

``dev_yaml`` is the bundled dev example as text that a test edits line by line, so the line
numbers of the edited file are known; ``refuse`` writes such a text through the shared
``write_environment`` fixture, loads it, and returns the problems of the refusal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from desired_state.errors import DesiredStateError, FieldProblem
from desired_state.loader import EXAMPLE_DIR, LoadedEnvironment, load_environment


@dataclass(frozen=True)
class YamlText:
    """YAML source with exact, checked edits and a way to find the line of a snippet."""

    text: str

    def replace(self, old: str, new: str) -> YamlText:
        count = self.text.count(old)
        assert count == 1, f"{old!r} occurs {count} times; an edit must hit exactly one place"
        return YamlText(self.text.replace(old, new))

    def append(self, extra: str) -> YamlText:
        return YamlText(self.text + extra)

    def line(self, snippet: str) -> int:
        """The 1-based line holding ``snippet``, which must occur on exactly one line."""
        hits = [number for number, text in enumerate(self.text.splitlines(), start=1) if snippet in text]
        assert len(hits) == 1, f"{snippet!r} is on lines {hits}; pick a snippet on exactly one line"
        return hits[0]


@dataclass(frozen=True)
class Refusal:
    file: str
    problems: list[FieldProblem]
    message: str

    def where(self) -> list[tuple[str, str, int | None]]:
        """(file, field, line) of every problem, in the order reported."""
        return [(p.file, p.field, p.line) for p in self.problems]

    @property
    def reasons(self) -> list[str]:
        return [p.reason for p in self.problems]


@pytest.fixture(scope="session")
def dev_yaml() -> YamlText:
    return YamlText((EXAMPLE_DIR / "environments" / "dev.yaml").read_text())


@pytest.fixture
def accept(write_environment: Callable[[str, str], Path]) -> Callable[..., LoadedEnvironment]:
    def _accept(document: YamlText | str, name: str = "dev") -> LoadedEnvironment:
        text = document.text if isinstance(document, YamlText) else document
        return load_environment(write_environment(name, text), name)

    return _accept


@pytest.fixture
def refuse(write_environment: Callable[[str, str], Path]) -> Callable[..., Refusal]:
    def _refuse(document: YamlText | str, name: str = "dev") -> Refusal:
        text = document.text if isinstance(document, YamlText) else document
        directory = write_environment(name, text)
        with pytest.raises(DesiredStateError) as caught:
            load_environment(directory, name)
        # Problems name the file as it is in the desired-state repository, not the directory it was read from.
        return Refusal(f"environments/{name}.yaml", caught.value.problems, str(caught.value))

    return _refuse
