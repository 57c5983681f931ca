"""Cold start of the intake Lambda module against boto3 alone: import time and memory in fresh processes.

Run: .venv/bin/python bench/intake_cold_start.py [--repeat N]
The intake must stay close to boto3's own cost (it must never import Pulumi); this prints the figures.
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
import {module}
t1 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "modules": len(sys.modules), "pulumi": any(m == "pulumi" or m.startswith("pulumi.") for m in sys.modules)}}))
"""


def measure(module: str, repeat: int) -> dict[str, float]:
    runs = [json.loads(subprocess.run([sys.executable, "-c", CHILD.format(module=module)], check=True, capture_output=True, text=True).stdout) for _ in range(repeat)]
    return {
        "import_s": statistics.median(r["import_s"] for r in runs),
        "rss_mb": statistics.median(r["rss_mb"] for r in runs),
        "modules": runs[0]["modules"],
        "pulumi": any(r["pulumi"] for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(f"{'module':<22}{'import s (median)':>18}{'RSS MB':>9}{'modules':>9}{'pulumi loaded':>15}")
    for module in ("boto3", "reconciler.intake", "pulumi_aws"):
        figures = measure(module, args.repeat)
        print(f"{module:<22}{figures['import_s']:>18.3f}{figures['rss_mb']:>9.0f}{figures['modules']:>9}{str(figures['pulumi']):>15}")


if __name__ == "__main__":
    main()
