"""Cold start of the intake Lambda module against boto3 alone: import time and memory in fresh processes.

Run: .venv/bin/python bench/intake_cold_start.py [--repeat N]
The intake must stay close to boto3's own cost (it must never import Pulumi); this prints the figures.
``reconciler.intake (traced)`` imports it as Lambda would with X-Ray tracing on (``LAMBDA_TASK_ROOT``
set): the X-Ray SDK is loaded and boto3 patched only then. Wall time and CPU time are medians over
fresh processes; CPU time is the steadier figure on a shared machine.
"""

from __future__ import annotations

import argparse
import compileall
import json
import statistics
import os
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
t0, c0 = time.perf_counter(), time.process_time()
import {module}
t1, c1 = time.perf_counter(), time.process_time()
print(json.dumps({{"import_s": t1 - t0, "cpu_s": c1 - c0, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "modules": len(sys.modules), "pulumi": any(m == "pulumi" or m.startswith("pulumi.") for m in sys.modules)}}))
"""


def run_once(module: str, env: dict[str, str] | None = None) -> dict[str, float]:
    environ = {k: v for k, v in os.environ.items() if k not in ("LAMBDA_TASK_ROOT", "POWERTOOLS_TRACE_DISABLED")} | (env or {})
    result = subprocess.run([sys.executable, "-c", CHILD.format(module=module)], check=True, capture_output=True, text=True, env=environ)
    return json.loads(result.stdout)


def summarise(runs: list[dict[str, float]]) -> dict[str, float]:
    return {
        "import_s": statistics.median(r["import_s"] for r in runs),
        "cpu_s": statistics.median(r["cpu_s"] for r in runs),
        "rss_mb": statistics.median(r["rss_mb"] for r in runs),
        "modules": runs[0]["modules"],
        "pulumi": any(r["pulumi"] for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    # Like boto3's (pip compiles what it installs) and like the Lambda package (the Makefile compiles it),
    # the project's own modules are read from bytecode, not compiled again in every process (which
    # PYTHONDONTWRITEBYTECODE would otherwise make each run pay).
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for package in ("reconciler", "desired_state"):
        compileall.compile_dir(os.path.join(root, package), quiet=1)
    print(f"{'module':<28}{'import s (median)':>18}{'CPU s (median)':>16}{'x boto3 (CPU)':>14}{'RSS MB':>9}{'modules':>9}{'pulumi loaded':>15}")
    rows = [("boto3", "boto3", None), ("reconciler.intake", "reconciler.intake", None),
            ("reconciler.intake (traced)", "reconciler.intake", {"LAMBDA_TASK_ROOT": os.getcwd()}), ("pulumi_aws", "pulumi_aws", None)]
    # Interleaved (one process of each row per round), so a machine that speeds up or slows down during
    # the run moves every row alike and the ratio to boto3 stays fair.
    runs: dict[str, list[dict[str, float]]] = {label: [] for label, _, _ in rows}
    for _ in range(args.repeat):
        for label, module, env in rows:
            runs[label].append(run_once(module, env))
    baseline = summarise(runs["boto3"])["cpu_s"]
    for label, _, _ in rows:
        figures = summarise(runs[label])
        print(
            f"{label:<28}{figures['import_s']:>18.3f}{figures['cpu_s']:>16.3f}{figures['cpu_s'] / baseline:>14.2f}"
            f"{figures['rss_mb']:>9.0f}{figures['modules']:>9}{str(figures['pulumi']):>15}"
        )


if __name__ == "__main__":
    main()
