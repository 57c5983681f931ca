"""The tick runtime's process: ``python -m reconciler.ticks``, its own ECS service from the worker image.

It runs rollout ticks only (observe, decide, act: ALB, ECS, CloudWatch calls, the smoke call to
the internal test listener, a rollback's git revert commit and push), so it needs the VPC and git
like the converge worker, but never waits for a converge. Every ``sweep_seconds`` its watchdog
wakes the active rollouts whose wake-up is lost or missing (the polling fallback).

The loop never dies of one round (SQS unreachable, expired credentials): the round is logged and
retried after a backoff. SIGTERM (ECS stopping the task: a deployment, a scale-in) stops it
gently: no more receives, the tick in hand is finished (a half-done tick would leave the rollout
mid-action until its lease runs out), the rest of its batch goes back to the queue, exit 0. An
interrupt (Ctrl-C) stops it at once. Whatever escapes is logged by the
process-level handlers with the traceback scrubbed, never printed raw.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import FrameType

from desired_state.errors import EcsGitopsError
from reconciler.ticks.runner import TickRunner, TickTimings
from reconciler.wiring import Components, RolloutComponents, build_rollouts
from reconciler.worker import configure_process_logging, process_components

log = logging.getLogger("ecs_gitops.ticks")


def serve(
    runner: TickRunner, *, once: bool = False, wait_seconds: int = 20, sleep: Callable[[float], None] | None = None,
    timings: TickTimings | None = None, stop: threading.Event | None = None,
) -> int:
    """The tick loop: sweep when due, then receive ticks (long poll), forever (``once``: until the queue is empty).

    A round that fails as a whole is logged and retried after a backoff; with ``once`` it ends the
    run with exit code 1. ``stop`` set (SIGTERM): the round in hand finishes its tick and the loop
    ends with exit code 0. ``sleep`` (tests) spaces the retries; by default they wait on ``stop``,
    so a stop cuts a backoff short.
    """
    timings = timings or runner.timings
    failed_rounds = 0
    next_sweep: datetime | None = None
    while stop is None or not stop.is_set():
        try:
            now = runner.clock()
            if next_sweep is None or now >= next_sweep:
                runner.sweep()
                next_sweep = now + timedelta(seconds=timings.sweep_seconds)
            handled = runner.run_once(wait_seconds=wait_seconds, stop=stop)
        except Exception:  # noqa: BLE001 - the process never dies of one round
            failed_rounds += 1
            log.exception("tick round failed; carrying on after a backoff", extra={"failed_rounds": failed_rounds})
            if once:
                return 1
            # The caller's sleep (tests), else a wait a stop cuts short.
            (sleep or (stop or threading.Event()).wait)(timings.loop_retry.delay(failed_rounds))
            continue
        failed_rounds = 0
        if once and not handled:
            return 0
    log.warning("tick runtime stopped on request; the tick in hand was finished")
    return 0


@contextmanager
def stopping_on_sigterm(stop: threading.Event) -> Iterator[threading.Event]:
    """While inside, SIGTERM sets ``stop`` instead of killing the process mid-tick (the previous handler comes back after)."""

    def _stop(signum: int, frame: FrameType | None) -> None:
        log.warning("tick runtime asked to stop (signal %s); finishing the tick in hand", signum)
        stop.set()

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(
    argv: list[str] | None = None,
    *,
    components: Components | None = None,
    rollouts: RolloutComponents | None = None,
    clock: Callable[[], datetime] | None = None,
    sleep: Callable[[float], None] | None = None,
    timings: TickTimings | None = None,
    configure_process: bool = True,
) -> int:
    """Run the tick runtime. Tests pass their own ``components``, ``rollouts``, clock and sleep, and
    ``configure_process=False`` to leave logging and the process's exception hooks alone."""
    parser = argparse.ArgumentParser(prog="python -m reconciler.ticks", description="advance rollouts: handle their ticks and wake lost ones")
    parser.add_argument("--once", action="store_true", help="handle the ticks queued now, then exit (draining, end-to-end runs)")
    args = parser.parse_args(argv)
    handlers = configure_process_logging("tick runtime") if configure_process else None
    try:
        components = process_components(components, clock, handlers)
        aws = components.settings.aws
        if rollouts is None:
            if not (aws.rollout_table and aws.tick_queue_url) or components.session is None:
                log.error(
                    "error: settings aws.rolloutTable and aws.tickQueueUrl are not set (or ECS_GITOPS_ROLLOUT_TABLE, "
                    "ECS_GITOPS_TICK_QUEUE_URL); the tick runtime has no rollouts to advance"
                )
                return 2
            rollouts = build_rollouts(components)
        if components.session is None:
            log.error("error: the tick runtime needs AWS (the tick queue); no AWS session was built from the settings")
            return 2
        # The caller's timings (tests) win; otherwise the settings' ticks section.
        timings = timings or TickTimings.from_settings(components.settings.ticks)
        runner = TickRunner(
            rollouts, components.session.client("sqs"), clock=rollouts.controller.clock, timings=timings,
            notifier=components.notifier, redactor=components.redactor,
        )
    except EcsGitopsError as exc:
        log.error("error: %s", exc)
        return 2
    stop = threading.Event()
    try:
        if configure_process and threading.current_thread() is threading.main_thread():
            # ECS stops a task (a deployment, a scale-in) with SIGTERM, then SIGKILL after its StopTimeout.
            with stopping_on_sigterm(stop):
                return serve(runner, once=args.once, wait_seconds=1 if args.once else 20, sleep=sleep, timings=timings, stop=stop)
        return serve(runner, once=args.once, wait_seconds=1 if args.once else 20, sleep=sleep, timings=timings, stop=stop)
    except KeyboardInterrupt:
        log.warning("tick runtime interrupted; stopping")
        return 130


if __name__ == "__main__":
    sys.exit(main())
