"""Offline render + policy gate: wall time and peak memory per environment, each in a fresh process.

Run: .venv/bin/python bench/render.py [--repeat N]
Prints figures only; nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from reconciler.cli import render_environment
from desired_state.loader import EXAMPLE_DIR
t1 = time.perf_counter()
rendered, report = render_environment(str(EXAMPLE_DIR), sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "render_and_policy_s": t2 - t1, "resources": len(rendered.resources),
                  "violations": len(report.violations), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'env':<6}{'resources':>10}{'import s':>10}{'render+policy s (median)':>26}{'min':>8}{'max':>8}{'peak RSS MB':>13}")
    for env in ("dev", "prod"):
        runs = [json.loads(subprocess.run([sys.executable, "-c", CHILD, env], check=True, capture_output=True, text=True).stdout) for _ in range(args.repeat)]
        render = [r["render_and_policy_s"] for r in runs]
        print(
            f"{env:<6}{runs[0]['resources']:>10}{statistics.median(r['import_s'] for r in runs):>10.2f}"
            f"{statistics.median(render):>26.2f}{min(render):>8.2f}{max(render):>8.2f}{max(r['peak_rss_mb'] for r in runs):>13.0f}"
        )


if __name__ == "__main__":
    main()
