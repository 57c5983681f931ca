"""Time and peak memory of the desired-state loader on hostile inputs (figures only, no assertions).

Each case runs in a fresh process so its peak RSS is its own:

    PYTHONPATH=. python bench/loader_bounds.py
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def billion_laughs() -> str:
    lines = ["a0: &a0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]"]
    lines += [f"a{n}: &a{n} [" + ",".join([f"*a{n - 1}"] * 9) + "]" for n in range(1, 9)]
    return "\n".join(lines) + "\n"


def nine_level_mapping_bomb() -> str:
    lines = ["b0: &b0 {x: 1, y: 2, z: 3}"]
    lines += [f"b{n}: &b{n} {{" + ", ".join(f"k{i}: *b{n - 1}" for i in range(9)) + "}" for n in range(1, 10)]
    return "\n".join(lines) + "\n"


CASES = {
    "billion-laughs": billion_laughs,
    "9-level-mapping-bomb": nine_level_mapping_bomb,
    "60-MB-file": lambda: "a: b\n" * (12 * 2**20),
    "deep-nesting-100000": lambda: "a: " + "[" * 100_000 + "]" * 100_000 + "\n",
    "1-MiB-of-values-under-the-cap": lambda: "a: [" + ",".join(["1"] * 400_000) + "]\n",
}


def peak_rss_mib() -> float:
    """This process's own peak RSS: VmHWM (ru_maxrss would carry the parent's peak across exec on Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(name: str, directory: str) -> None:
    """Load the prepared file in this fresh process and print its figures."""
    from desired_state.errors import DesiredStateError
    from desired_state.loader import load_environment

    size = (Path(directory) / "environments" / "dev.yaml").stat().st_size
    baseline = peak_rss_mib()
    started = time.perf_counter()
    try:
        load_environment(directory, "dev")
        outcome = "accepted"
    except DesiredStateError as exc:
        outcome = exc.problems[0].reason[:60]
    elapsed = time.perf_counter() - started
    peak = peak_rss_mib()
    print(f"{name:30} {size:>9} B {elapsed * 1000:8.1f} ms  peak RSS {peak:5.1f} MiB (after imports {baseline:5.1f})  {outcome}")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--case":
        run_case(sys.argv[2], sys.argv[3])
        return
    print(f"python {sys.version.split()[0]}; each case loaded in its own process")
    for name, build in CASES.items():
        with tempfile.TemporaryDirectory() as directory:
            (Path(directory) / "environments").mkdir()
            (Path(directory) / "environments" / "dev.yaml").write_text(build())
            subprocess.run([sys.executable, __file__, "--case", name, directory], check=False)


if __name__ == "__main__":
    main()
