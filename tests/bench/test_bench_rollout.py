"""``bench/rollout.py --quick`` runs and prints every figure's line. The values are not checked: a bench
prints figures, it asserts no target. Since issue 10 the event-driven rows are figures too (the real
intake, CoalescingTickScheduler and TickRunner), not a line saying what they need; the "one serial
worker" row is gone (it needed ``Worker.run_ticks_once``, which issue 10 removed) and says so.

It runs in its own process, as it is run by hand (it starts its own ``mock_aws`` and its own fake clock).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIGURE = r"wall +[\d.]+ ms +simulated +[\d.]+ s +ticks \d+"
EVENT_DRIVEN = rf"event-driven +offset +[\d.]+ s +{FIGURE}"

# Section heading (a line at the left margin) -> lines that must appear under it.
SECTIONS: dict[str, list[str]] = {
    "alarm-to-rollback": [rf"^  poll-only +offset +[\d.]+ s +{FIGURE} +100 % old colour read back", rf"^  {EVENT_DRIVEN} +100 % old colour read back"],
    "deployment-completed-to-first-weight-change": [rf"^  poll-only +offset +[\d.]+ s +{FIGURE} +listener then ", rf"^  {EVENT_DRIVEN} +listener then "],
    "api-calls-per-tick": [
        *(rf"^  {phase} +\d+ +[\d.]+ +\S" for phase in ("scanning", "deploying", "smoke-testing", "shifting", "baking", "promoted")),
        r"^  api-calls-per-rollout: \d+ calls in \d+ ticks \(",
    ],
    "rollback-while-converging": [
        rf"^  separate tick runtime, poll-only +{FIGURE} +converge still in `up`; 100 % old colour read back",
        rf"^  separate tick runtime, event-driven +{FIGURE} +converge still in `up`; 100 % old colour read back",
        r"^  the held converge, once let go: ",
        r"^  one serial worker \(before issue 10\): not reproduced: it needs Worker\.run_ticks_once",
    ],
    "intake-event-to-tick-queued": [
        rf"^  {kind} +n +\d+ +median +[\d.]+ ms +max +[\d.]+ ms +API calls per event \d+"
        for kind in ("CloudWatch Alarm State Change", "ECS Deployment State Change")
    ],
    "decide-per-tick": [
        r"^  in the ticks of this run +n +\d+ +median +[\d.]+ us +p99 +[\d.]+ us",
        r"^  the same inputs replayed x\d+ +n +\d+ +median +[\d.]+ us +p99 +[\d.]+ us",
    ],
}


def sections(output: str) -> dict[str, str]:
    found: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        if line and not line.startswith(" "):
            current = line.split(":", 1)[0]
            found.setdefault(current, [])
        elif current is not None:
            found[current].append(line)
    return {name: "\n".join(lines) for name, lines in found.items()}


def test_the_rollout_bench_prints_every_figure_in_its_reduced_mode():
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "rollout.py"), "--quick"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=300,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stdout + result.stderr, result.stderr[-3000:]
    assert "not measured" not in result.stdout, result.stdout
    assert "needs reconciler.ticks" not in result.stdout, result.stdout
    assert re.search(r"^command: (PYTHONPATH=\S+ )?\S*python\S* \S*bench/rollout\.py --quick$", result.stdout, re.M), result.stdout
    assert re.search(r"^machine: nproc \d+, python \d+\.\d+\.\d+", result.stdout, re.M), result.stdout
    assert re.search(r"^bench total: [\d.]+ s$", result.stdout, re.M), result.stdout
    printed = sections(result.stdout)
    for heading, lines in SECTIONS.items():
        assert heading in printed, f"no {heading} figure in:\n{result.stdout}"
        for line in lines:
            assert re.search(line, printed[heading], re.M), f"{heading}: no line matching {line!r} in:\n{printed[heading]}"
