"""Read the program's inputs from Pulumi stack configuration.

Two ways in, in order of precedence:

* ``ecs-gitops:desiredState``: the validated desired state as JSON. The reconciler sets it
  from the exact commit it converges, together with ``ecs-gitops:trafficState`` from the
  rollout store.
* ``ecs-gitops:desiredStateDir`` + ``ecs-gitops:environment``: a directory holding
  ``environments/<name>.yaml``, for a person running ``pulumi up`` by hand. Defaults: the
  bundled example and the stack name.

Secrets of ``kind: config`` are read with ``require_secret`` from the keys they name.
"""

from __future__ import annotations

import json

import pulumi

from desired_state.errors import DesiredStateError, FieldProblem
from desired_state.loader import EXAMPLE_DIR, load_environment, validate_document
from desired_state.traffic import TrafficState, parse_traffic_state
from program.platform import StackInputs

CONFIG_NAMESPACE = "ecs-gitops"


def read_stack_inputs() -> StackInputs:
    config = pulumi.Config(CONFIG_NAMESPACE)
    document = config.get("desiredState")
    if document:
        source = f"stack config {CONFIG_NAMESPACE}:desiredState"
        try:
            data = json.loads(document)
        except json.JSONDecodeError as exc:
            raise DesiredStateError([FieldProblem(source, "", exc.lineno, f"not valid JSON: {exc.msg}")]) from None
        desired = validate_document(data, source)
    else:
        directory = config.get("desiredStateDir") or str(EXAMPLE_DIR)
        environment = config.get("environment") or pulumi.get_stack()
        desired = load_environment(directory, environment).state

    traffic = TrafficState()
    traffic_document = config.get("trafficState")
    if traffic_document:
        traffic = parse_traffic_state(traffic_document, f"stack config {CONFIG_NAMESPACE}:trafficState")

    secret_config = {
        spec.config_key: config.require_secret(spec.config_key)
        for spec in desired.secrets.values()
        if spec.kind == "config" and spec.config_key
    }
    # Not desired state: the account's guard rail, set by the reconciler from its settings, never by git.
    boundary = config.get("permissionsBoundaryArn") or None
    return StackInputs(desired=desired, traffic=traffic, secret_config=secret_config, permissions_boundary_arn=boundary)
