"""Physical and logical names for everything the program creates.

The convention is ``{resource-type}-{service-name}-{environmentSuffix}``. AWS limits name
lengths per resource type; the limits live here so the desired-state schema can refuse a
suffix that would make any name invalid *before* anything renders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SERVICE_NAMES: tuple[str, ...] = ("frontend", "api-gateway", "processing-service")
ALB_FACING_SERVICES: tuple[str, ...] = ("frontend", "api-gateway")
COLOURS: tuple[str, ...] = ("blue", "green")

# Every IAM role the program creates lives under this path. The deploy policy grants its IAM role
# actions on ``role/ecs-gitops/*`` only: a role of someone else's that happens to be named ``role-*``
# (or is tagged like the platform's) is out of its reach, because a role's path is fixed when the
# role is created and only CreateRole under the boundary can put one here.
ROLE_PATH = "/ecs-gitops/"

SUFFIX_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$|^[a-z0-9]$")


@dataclass(frozen=True)
class NameLimit:
    """The longest name of one AWS resource type the program makes, and AWS's cap for it."""

    what: str
    longest_stem: str
    max_length: int


def name(resource_type: str, suffix: str, service: str | None = None, qualifier: str | None = None) -> str:
    """``{resource-type}-{service-name}[-{qualifier}]-{environmentSuffix}``."""
    parts = [resource_type]
    if service:
        parts.append(service)
    if qualifier:
        parts.append(qualifier)
    parts.append(suffix)
    return "-".join(parts)


# The longest stem each length-capped resource type gets; the suffix is appended to it.
NAME_LIMITS: tuple[NameLimit, ...] = (
    NameLimit("ELBv2 target group name", name("tg", "", "api-gateway", "green"), 32),
    NameLimit("application load balancer name", name("alb", "", "platform"), 32),
    NameLimit("IAM role name", name("role", "", "processing-service", "execution"), 64),
    NameLimit("ECS service name", name("svc", "", "processing-service"), 255),
    NameLimit("security group name", name("sg", "", "processing-service"), 255),
    NameLimit("Application Auto Scaling policy name", name("scaling", "", "processing-service", "cpu"), 256),
)


def suffix_problems(suffix: str) -> list[str]:
    """Why ``suffix`` cannot be used; empty when it can."""
    problems: list[str] = []
    if not SUFFIX_PATTERN.fullmatch(suffix):
        problems.append(
            "must be lowercase letters, digits and single hyphens, starting and ending with a "
            "letter or digit (it becomes part of ECR, ALB and target group names)"
        )
        return problems
    for limit in NAME_LIMITS:
        full = limit.longest_stem + suffix
        if len(full) > limit.max_length:
            allowed = limit.max_length - len(limit.longest_stem)
            problems.append(
                f"makes the {limit.what} '{full}' {len(full)} characters; AWS allows "
                f"{limit.max_length}, so the suffix may be at most {allowed} characters"
            )
    return problems
