"""The offline render from several threads at once, as the worker's converge loops run it (policy gate).

Pulumi's mocks keep process-wide state and need an asyncio loop in the calling thread; two renders
at once used to fail ("no current event loop in thread") or hang.
"""

from __future__ import annotations

import threading

import pulumi

from desired_state.traffic import TrafficState
from program.platform import StackInputs
from program.render import render, thread_event_loop

JOIN_SECONDS = 30.0


def _names(stack) -> list[str]:
    return [resource.name for resource in stack.resources]


def test_renders_in_threads_at_once_match_the_renders_made_one_by_one(dev_state, prod_state, rendered_dev, rendered_prod):
    states = {"dev": dev_state, "prod": prod_state}
    results: dict[str, list] = {"dev": [], "prod": []}
    failures: list[BaseException] = []
    start = threading.Barrier(2)

    def run(environment: str) -> None:
        try:
            start.wait(timeout=JOIN_SECONDS)
            state = states[environment]
            thread_event_loop()  # as the converger does before it makes the secret outputs
            # As the session renders make them (tests/conftest.py), but in this thread.
            secret_config = {
                spec.config_key: pulumi.Output.secret(f"test-value-of-{spec.config_key}")
                for spec in state.secrets.values()
                if spec.kind == "config" and spec.config_key
            }
            results[environment].append(render(StackInputs(desired=state, traffic=TrafficState(), secret_config=secret_config)))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(name,), daemon=True) for name in ("dev", "prod")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_SECONDS)

    assert not [t.name for t in threads if t.is_alive()], "a render hung"
    assert failures == []
    for environment, expected in (("dev", rendered_dev), ("prod", rendered_prod)):
        assert len(results[environment]) == 1
        for stack in results[environment]:
            assert stack.environment == environment
            assert _names(stack) == _names(expected)  # nothing of the other stack's render leaked in
            assert stack.outputs == expected.outputs
