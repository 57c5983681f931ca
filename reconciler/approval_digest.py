"""What an approval approves: the exact stack inputs and the engine's plan for them.

The digest covers everything that decides what ``pulumi up`` does: the commit, the stack config
the engine is given (the desired state *after* staged image overrides, the traffic state, the
environment), the names of the secret config keys, the program version, and the plan the engine
previewed. Any difference between the approved run and the applying run (an image override
swapped in, a rollout moving the traffic state, a new program, a different plan) changes the
digest, so the approval no longer applies and a new one is asked for.
"""

from __future__ import annotations

import hashlib
import json

from reconciler.engine import StackRequest
from reconciler.models import PlanSummary


def plan_digest(commit: str | None, request: StackRequest, program_version: str, plan: PlanSummary) -> str:
    document = {
        "commit": commit,
        "stack": request.stack,
        "config": dict(sorted(request.config.items())),
        # Secret values never enter a stored digest; a changed value shows in the engine's plan.
        "secretConfigKeys": sorted(request.secret_config),
        "programVersion": program_version,
        "plan": plan.model_dump(mode="json"),
    }
    return "sha256:" + hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
