"""What the loader did to answer one file, counted in its own units instead of timed.

A wall-clock bound in a test fails whenever the machine is busy (CI runs two test processes on two
cores) and passes on a fast machine whatever the loader does; speed figures live in ``bench/``.
What makes the loader safe on untrusted input is that its work is bounded by construction: parser
events are consumed until ``max_nodes`` values are composed, values are built after aliases are
expanded until ``max_nodes`` are built. The meter counts exactly those two things (the size cap is
checked before a file is read, and memory by ``tracemalloc``, both deterministic), so a test can assert that no input made the loader do more
than its budget, on any machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from desired_state import loader
from desired_state.loader import InputLimits


@dataclass
class LoaderWork:
    events: int = 0  # YAML parser events consumed
    built: int = 0  # values built from nodes, aliases expanded

    def within(self, limits: InputLimits = InputLimits()) -> bool:
        """Inside the budget the loader's limits promise: every composed value costs at most two
        events (a collection's start and end), plus the stream's and document's four; every built
        value is counted before the refusal, so one past the budget at most."""
        return self.events <= 2 * (limits.max_nodes + 1) + 4 and self.built <= limits.max_nodes + 1


@contextmanager
def metered() -> Iterator[LoaderWork]:
    """Count the loader's work while the block runs; the loader itself is unchanged."""
    work = LoaderWork()
    parser_class = loader._EventParser
    build = loader._Document._build

    class CountingParser(parser_class):  # type: ignore[misc, valid-type]
        def get_event(self) -> Any:
            work.events += 1
            return super().get_event()

    def counting_build(self: Any, *args: Any, **kwargs: Any) -> Any:
        work.built += 1
        return build(self, *args, **kwargs)

    loader._EventParser = CountingParser  # type: ignore[misc]
    loader._Document._build = counting_build  # type: ignore[method-assign]
    try:
        yield work
    finally:
        loader._EventParser = parser_class  # type: ignore[misc]
        loader._Document._build = build  # type: ignore[method-assign]
