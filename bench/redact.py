"""Redactor.scrub on a 1 MB log-like text with 20 registered secrets: seconds per call.

Run: PYTHONPATH=. .venv/bin/python bench/redact.py [--repeat N] [--size BYTES]
Prints figures only; nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import statistics
import string
import time
from urllib.parse import quote

from reconciler.redact import Redactor

LINES = [
    "2025-03-04T12:00:{s:02d}+00:00 INFO job finished stack=dev job_id={h} outcome=succeeded reason=Applied",
    "2025-03-04T12:00:{s:02d}+00:00 INFO rollout transition service=frontend phase=baking weights={{'blue': 90, 'green': 10}}",
    '{{"kind": "converge-succeeded", "commit": "{h}", "author": "janedoe", "plan": {{"create": 1, "update": 2}}}}',
    "fetch https://github.com/example-org/desired-state.git at {h}; image 123456789012.dkr.ecr.eu-west-1.amazonaws.com/api@sha256:{h}{h}",
    "  File \"/var/task/reconciler/converge.py\", line {s}, in converge: token bucket refilled, password policy enforced",
]


def make_text(size: int, secrets: list[str], leaks: int, rng: random.Random) -> str:
    lines: list[str] = []
    total = 0
    while total < size:
        line = rng.choice(LINES).format(s=rng.randrange(60), h="%040x" % rng.getrandbits(160))
        lines.append(line)
        total += len(line) + 1
    for _ in range(leaks):  # each leak in a different encoding, at a random line
        secret = rng.choice(secrets)
        form = rng.choice([secret, secret.upper(), json.dumps(secret)[1:-1], quote(secret, safe=""), base64.b64encode(secret.encode()).decode(),
                           secret.encode().hex(), secret[:5] + "\n    " + secret[5:]])
        index = rng.randrange(len(lines))
        lines[index] = lines[index] + " leaked=" + form
    return "\n".join(lines)


def timed(redactor: Redactor, text: str, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        redactor.scrub(text)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--size", type=int, default=1_000_000)
    args = parser.parse_args()
    rng = random.Random(8)
    secrets = ["".join(rng.choice(string.ascii_letters + string.digits + "/+-_!") for _ in range(rng.randrange(12, 48))) for _ in range(20)]
    start = time.perf_counter()
    redactor = Redactor(secrets)
    register_s = time.perf_counter() - start
    print(json.dumps({"secrets": len(secrets), "register_all_s": round(register_s, 4)}))
    for label, leaks in (("no leaks", 0), ("20 leaks", 20), ("200 leaks", 200)):
        text = make_text(args.size, secrets, leaks, rng)
        for name, scrubber in (("20 secrets", redactor), ("shapes only", Redactor())):
            times = timed(scrubber, text, args.repeat)
            print(json.dumps({"text": label, "bytes": len(text), "redactor": name, "median_s": round(statistics.median(times), 4), "max_s": round(max(times), 4)}))


if __name__ == "__main__":
    main()
