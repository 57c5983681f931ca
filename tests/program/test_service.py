"""Services: log groups, task definitions, ECS services per colour, auto-scaling."""

from __future__ import annotations

import json

import pytest

from desired_state.schema import ImageRef
from desired_state.traffic import ColourWeights, ServiceTraffic, TrafficState

TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
ECS_SERVICE = "aws:ecs/service:Service"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
SCALING_TARGET = "aws:appautoscaling/target:Target"
SCALING_POLICY = "aws:appautoscaling/policy:Policy"
SERVICES = ("frontend", "api-gateway", "processing-service")
ALB_FACING = ("frontend", "api-gateway")
COLOURS = ("blue", "green")
UNITS = (
    ("frontend", "frontend-blue", "blue"),
    ("frontend", "frontend-green", "green"),
    ("api-gateway", "api-gateway-blue", "blue"),
    ("api-gateway", "api-gateway-green", "green"),
    ("processing-service", "processing-service", None),
)
SIZES = {"frontend": ("512", "1024"), "api-gateway": ("1024", "2048"), "processing-service": ("2048", "4096")}
DIGEST = "sha256:" + "ab" * 32
unit_ids = [unit for _, unit, _ in UNITS]


def _unchanged(doc):
    return None


def container_of(stack, unit, suffix):
    definitions = json.loads(stack.named(f"td-{unit}-{suffix}").inputs["containerDefinitions"])
    assert len(definitions) == 1
    return definitions[0]


def _scaling(stack, unit, suffix):
    target = stack.named(f"scaling-target-{unit}-{suffix}")
    return target.inputs["minCapacity"], target.inputs["maxCapacity"]


# --- log groups ------------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_one_log_group_per_service_kept_30_days(stack, state, service):
    s = state.environment_suffix
    group = stack.named(f"logs-{service}-{s}")
    assert group.parent == f"service-{service}-{s}"
    assert group.inputs["name"] == f"/ecs-gitops/{s}/{service}"
    assert group.inputs["retentionInDays"] == 30.0
    assert group.inputs.get("skipDestroy", False) is False


def test_service_log_groups_are_exactly_three(stack, state):
    s = state.environment_suffix
    service_groups = [g for g in stack.of_type(LOG_GROUP) if g.parent and g.parent.startswith("service-")]
    assert sorted(g.inputs["name"] for g in service_groups) == sorted(f"/ecs-gitops/{s}/{svc}" for svc in SERVICES)


# --- task definitions ------------------------------------------------------------------------


def test_five_task_definitions(stack, state):
    s = state.environment_suffix
    families = sorted(td.inputs["family"] for td in stack.of_type(TASK_DEFINITION))
    assert families == sorted(f"td-{unit}-{s}" for unit in unit_ids)


@pytest.mark.parametrize(("service", "unit", "colour"), UNITS, ids=unit_ids)
def test_task_definition_size_and_fargate(stack, state, service, unit, colour):
    s = state.environment_suffix
    td = stack.named(f"td-{unit}-{s}")
    assert (td.inputs["cpu"], td.inputs["memory"]) == SIZES[service]
    assert (td.inputs["cpu"], td.inputs["memory"]) == (str(state.services.get(service).cpu), str(state.services.get(service).memory))
    assert td.inputs["requiresCompatibilities"] == ["FARGATE"]
    assert td.inputs["networkMode"] == "awsvpc"
    assert td.inputs["runtimePlatform"] == {"operatingSystemFamily": "LINUX", "cpuArchitecture": "X86_64"}
    assert td.parent == f"service-{service}-{s}"


@pytest.mark.parametrize(("service", "unit", "colour"), UNITS, ids=unit_ids)
def test_task_definition_uses_its_service_roles(stack, state, mock_state, service, unit, colour):
    s = state.environment_suffix
    td = stack.named(f"td-{unit}-{s}")
    assert td.inputs["executionRoleArn"] == mock_state(stack.named(f"role-{service}-execution-{s}"))["arn"]
    assert td.inputs["taskRoleArn"] == mock_state(stack.named(f"role-{service}-task-{s}"))["arn"]


@pytest.mark.parametrize(("service", "unit", "colour"), UNITS, ids=unit_ids)
def test_container_logs_to_its_service_log_group_with_the_unit_as_prefix(stack, state, service, unit, colour):
    s = state.environment_suffix
    container = container_of(stack, unit, s)
    assert container["name"] == service
    assert container["essential"] is True
    log = container["logConfiguration"]
    assert log["logDriver"] == "awslogs"
    assert log["options"]["awslogs-group"] == stack.named(f"logs-{service}-{s}").inputs["name"]
    assert log["options"]["awslogs-stream-prefix"] == unit
    assert log["options"]["awslogs-region"] == state.region


@pytest.mark.parametrize(("service", "unit", "colour"), UNITS, ids=unit_ids)
def test_container_image_is_the_repository_url_and_tag(stack, state, service, unit, colour):
    s = state.environment_suffix
    container = container_of(stack, unit, s)
    assert container["image"] == f"{stack.outputs['ecrRepositoryUrls'][service]}:{state.services.get(service).image.tag}"
    assert container["image"].endswith(f"/ecr-{service}-{s}:{state.services.get(service).image.tag}")


@pytest.mark.parametrize(("service", "unit", "colour"), UNITS, ids=unit_ids)
def test_container_environment_comes_from_yaml(stack, state, service, unit, colour):
    s = state.environment_suffix
    container = container_of(stack, unit, s)
    expected = dict(state.services.get(service).environment)
    if service == "api-gateway":
        expected["PROCESSING_SERVICE_HOST"] = f"processing-service-{s}.{s}.platform.internal"
    assert {e["name"]: e["value"] for e in container["environment"]} == expected
    assert len(container["environment"]) == len(expected)


def test_container_environment_values_of_the_dev_example(rendered_dev):
    environment = {e["name"]: e["value"] for e in container_of(rendered_dev, "processing-service", "dev")["environment"]}
    assert environment == {"LOG_LEVEL": "debug", "ORDER_BATCH_SIZE": "50"}


@pytest.mark.parametrize(("service", "unit", "colour"), UNITS, ids=unit_ids)
def test_secrets_are_injected_by_arn_only(stack, state, service, unit, colour):
    s = state.environment_suffix
    container = container_of(stack, unit, s)
    arns = stack.outputs["secretArns"]
    spec = state.services.get(service)
    expected = {
        injection.env: f"{arns[injection.secret]}:{injection.key}::" if injection.key else arns[injection.secret]
        for injection in spec.secrets
    }
    assert {x["name"]: x["valueFrom"] for x in container["secrets"]} == expected
    for injected in container["secrets"]:
        assert injected["valueFrom"].startswith("arn:aws:secretsmanager:")
        assert set(injected) == {"name", "valueFrom"}  # never a "value"
    # Nothing secret travels as a plain environment value.
    names = {e["name"] for e in container["environment"]}
    assert names.isdisjoint(expected)
    for variable in container["environment"]:
        assert "secretsmanager" not in variable["value"]
        assert variable["value"] not in ("[secret]", "generated-at-apply")


def test_processing_service_secrets_use_keyed_value_from(rendered_dev):
    arn = rendered_dev.outputs["secretArns"]["db-credentials"]
    container = container_of(rendered_dev, "processing-service", "dev")
    assert {x["name"]: x["valueFrom"] for x in container["secrets"]} == {
        "DB_USERNAME": f"{arn}:username::",
        "DB_PASSWORD": f"{arn}:password::",
    }
    assert container_of(rendered_dev, "frontend-blue", "dev")["secrets"] == []


@pytest.mark.parametrize(("service", "unit", "colour"), UNITS, ids=unit_ids)
def test_container_health_check_uses_the_health_path(stack, state, service, unit, colour):
    spec = state.services.get(service)
    check = container_of(stack, unit, state.environment_suffix)["healthCheck"]
    command = check["command"]
    assert command[0] == "CMD-SHELL"
    assert f"http://localhost:{spec.port}{spec.health_check.path}" in command[1]
    assert check["interval"] == spec.health_check.interval
    assert check["timeout"] == spec.health_check.timeout
    assert check["retries"] == spec.health_check.unhealthy_threshold
    assert check["startPeriod"] == min(spec.health_check.grace_period, 300)


@pytest.mark.parametrize(("service", "unit", "colour"), UNITS, ids=unit_ids)
def test_read_only_root_with_a_writable_tmp_volume(stack, state, service, unit, colour):
    s = state.environment_suffix
    container = container_of(stack, unit, s)
    assert container["readonlyRootFilesystem"] is True
    assert container["mountPoints"] == [{"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}]
    assert stack.named(f"td-{unit}-{s}").inputs["volumes"] == [{"name": "tmp"}]
    port = state.services.get(service).port
    assert [(m["containerPort"], m["protocol"]) for m in container["portMappings"]] == [(port, "tcp")]


def test_image_digest_is_pinned_with_at_sha256(render_mutated):
    def pin_by_digest(doc):
        doc["services"]["frontend"]["image"] = {"repository": "frontend", "digest": DIGEST}

    stack = render_mutated(pin_by_digest)
    url = stack.outputs["ecrRepositoryUrls"]["frontend"]
    for colour in COLOURS:
        assert container_of(stack, f"frontend-{colour}", "dev")["image"] == f"{url}@{DIGEST}"
    # Only frontend changed.
    assert container_of(stack, "api-gateway-blue", "dev")["image"] == f"{stack.outputs['ecrRepositoryUrls']['api-gateway']}:2.8.0"


# --- ECS services ----------------------------------------------------------------------------


def test_five_ecs_services(stack, state):
    s = state.environment_suffix
    assert sorted(r.inputs["name"] for r in stack.of_type(ECS_SERVICE)) == sorted(f"svc-{unit}-{s}" for unit in unit_ids)


@pytest.mark.parametrize(("service", "unit", "colour"), UNITS, ids=unit_ids)
def test_ecs_service_runs_privately_in_its_own_group(stack, state, mock_state, service, unit, colour):
    s = state.environment_suffix
    ecs = stack.named(f"svc-{unit}-{s}")
    network = ecs.inputs["networkConfiguration"]
    assert network["subnets"] == stack.outputs["privateSubnetIds"]
    assert set(network["subnets"]).isdisjoint(stack.outputs["publicSubnetIds"])
    assert network["assignPublicIp"] is False
    assert network["securityGroups"] == [mock_state(stack.named(f"sg-{service}-{s}"))["id"]]
    assert ecs.inputs["cluster"] == stack.outputs["clusterArn"]
    assert ecs.inputs["taskDefinition"] == mock_state(stack.named(f"td-{unit}-{s}"))["arn"]


@pytest.mark.parametrize(("service", "unit", "colour"), UNITS, ids=unit_ids)
def test_ecs_service_deployment_safety(stack, state, service, unit, colour):
    ecs = stack.named(f"svc-{unit}-{state.environment_suffix}")
    assert ecs.inputs["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert "desiredCount" in ecs.ignore_changes


@pytest.mark.parametrize(("service", "unit", "colour"), UNITS, ids=unit_ids)
def test_ecs_service_capacity_providers_from_yaml(stack, state, service, unit, colour):
    weights = state.services.get(service).capacity_providers
    expected = {"FARGATE": (float(weights.fargate), float(weights.base))}
    if weights.fargate_spot:
        expected["FARGATE_SPOT"] = (float(weights.fargate_spot), 0.0)
    strategies = stack.named(f"svc-{unit}-{state.environment_suffix}").inputs["capacityProviderStrategies"]
    assert {x["capacityProvider"]: (x["weight"], x.get("base", 0.0)) for x in strategies} == expected


def test_capacity_provider_values_of_the_examples(rendered_dev, rendered_prod):
    def providers(stack, name):
        return [(x["capacityProvider"], x["weight"], x["base"]) for x in stack.named(name).inputs["capacityProviderStrategies"]]

    assert providers(rendered_dev, "svc-frontend-blue-dev") == [("FARGATE", 1.0, 0.0), ("FARGATE_SPOT", 1.0, 0.0)]
    assert providers(rendered_dev, "svc-processing-service-dev") == [("FARGATE", 1.0, 0.0)]
    assert providers(rendered_prod, "svc-api-gateway-green-prod") == [("FARGATE", 1.0, 2.0)]


@pytest.mark.parametrize("service", ALB_FACING)
@pytest.mark.parametrize("colour", COLOURS)
def test_routed_colour_registers_with_its_own_target_group(stack, state, service, colour):
    spec = state.services.get(service)
    ecs = stack.named(f"svc-{service}-{colour}-{state.environment_suffix}")
    assert ecs.inputs["loadBalancers"] == [
        {
            "targetGroupArn": stack.outputs["targetGroupArns"][service][colour],
            "containerName": service,
            "containerPort": float(spec.port),
        }
    ]
    assert ecs.inputs["healthCheckGracePeriodSeconds"] == float(spec.health_check.grace_period)


def test_processing_service_has_no_load_balancer_and_no_grace_period(stack, state):
    ecs = stack.named(f"svc-processing-service-{state.environment_suffix}")
    assert not ecs.inputs.get("loadBalancers")
    assert "healthCheckGracePeriodSeconds" not in ecs.inputs


@pytest.mark.parametrize(("service", "unit", "colour"), UNITS, ids=unit_ids)
def test_ecs_service_registers_with_its_own_cloud_map_service(stack, state, mock_state, service, unit, colour):
    s = state.environment_suffix
    ecs = stack.named(f"svc-{unit}-{s}")
    assert ecs.inputs["serviceRegistries"] == {"registryArn": mock_state(stack.named(f"discovery-{unit}-{s}"))["arn"]}


def test_cloud_map_registrations_are_distinct(stack):
    registries = [r.inputs["serviceRegistries"]["registryArn"] for r in stack.of_type(ECS_SERVICE)]
    assert len(registries) == len(set(registries)) == 5


# --- desired counts and auto-scaling ---------------------------------------------------------


def test_default_traffic_live_blue_and_processing_scale_2_to_10_idle_green_held_at_zero(stack, state):
    s = state.environment_suffix
    for unit in ("frontend-blue", "api-gateway-blue", "processing-service"):
        assert _scaling(stack, unit, s) == (2.0, 10.0), unit
        service = unit.rsplit("-blue", 1)[0]
        assert stack.named(f"svc-{unit}-{s}").inputs["desiredCount"] == float(state.services.get(service).desired_count)
    for unit in ("frontend-green", "api-gateway-green"):
        assert _scaling(stack, unit, s) == (0.0, 0.0), unit
        assert stack.named(f"svc-{unit}-{s}").inputs["desiredCount"] == 0.0


@pytest.mark.parametrize(("service", "unit", "colour"), UNITS, ids=unit_ids)
def test_scaling_target_is_the_units_ecs_service(stack, state, service, unit, colour):
    s = state.environment_suffix
    target = stack.named(f"scaling-target-{unit}-{s}")
    assert target.inputs["serviceNamespace"] == "ecs"
    assert target.inputs["scalableDimension"] == "ecs:service:DesiredCount"
    assert target.inputs["resourceId"] == f"service/{stack.outputs['clusterName']}/svc-{unit}-{s}"


@pytest.mark.parametrize(("service", "unit", "colour"), UNITS, ids=unit_ids)
def test_cpu_target_tracking_from_yaml(stack, state, service, unit, colour):
    s = state.environment_suffix
    scaling = state.services.get(service).scaling
    policy = stack.named(f"scaling-{unit}-cpu-{s}")
    target = stack.named(f"scaling-target-{unit}-{s}")
    assert policy.inputs["policyType"] == "TargetTrackingScaling"
    assert policy.inputs["resourceId"] == target.inputs["resourceId"]
    assert policy.inputs["scalableDimension"] == "ecs:service:DesiredCount"
    config = policy.inputs["targetTrackingScalingPolicyConfiguration"]
    assert config["predefinedMetricSpecification"] == {"predefinedMetricType": "ECSServiceAverageCPUUtilization"}
    assert config["targetValue"] == float(scaling.cpu_target)
    assert config["scaleInCooldown"] == float(scaling.scale_in_cooldown)
    assert config["scaleOutCooldown"] == float(scaling.scale_out_cooldown)


def test_cpu_targets_of_the_dev_example(rendered_dev):
    def target(unit):
        return rendered_dev.named(f"scaling-{unit}-cpu-dev").inputs["targetTrackingScalingPolicyConfiguration"]["targetValue"]

    assert (target("frontend-green"), target("api-gateway-blue"), target("processing-service")) == (60.0, 55.0, 50.0)


def test_new_desired_image_is_staged_on_the_idle_colour_while_live_keeps_the_live_image(render_mutated, dev_state):
    live_image = ImageRef(repository="frontend", tag="1.4.1")
    traffic = TrafficState(services={"frontend": ServiceTraffic(live_colour="blue", live_image=live_image)})
    stack = render_mutated(_unchanged, traffic=traffic)
    url = stack.outputs["ecrRepositoryUrls"]["frontend"]
    desired = dev_state.services.frontend
    assert desired.image.tag == "1.4.2"

    assert container_of(stack, "frontend-blue", "dev")["image"] == f"{url}:1.4.1"
    assert _scaling(stack, "frontend-blue", "dev") == (2.0, 10.0)

    assert container_of(stack, "frontend-green", "dev")["image"] == f"{url}:1.4.2"
    assert _scaling(stack, "frontend-green", "dev") == (float(desired.desired_count), float(desired.scaling.max))
    assert stack.named("svc-frontend-green-dev").inputs["desiredCount"] == float(desired.desired_count)

    # api-gateway has no rollout in progress: its idle colour stays at zero.
    assert _scaling(stack, "api-gateway-green", "dev") == (0.0, 0.0)
    # Traffic is still all on the live colour.
    assert stack.outputs["liveColours"]["frontend"] == "blue"


def test_green_live_swaps_the_scaling_bounds(render_mutated):
    traffic = TrafficState(services={"frontend": ServiceTraffic(live_colour="green")})
    stack = render_mutated(_unchanged, traffic=traffic)
    assert _scaling(stack, "frontend-green", "dev") == (2.0, 10.0)
    assert _scaling(stack, "frontend-blue", "dev") == (0.0, 0.0)
    assert stack.named("svc-frontend-blue-dev").inputs["desiredCount"] == 0.0


def test_a_colour_still_carrying_traffic_is_not_scaled_to_zero(render_mutated, dev_state):
    traffic = TrafficState(services={"api-gateway": ServiceTraffic(weights=ColourWeights(blue=90, green=10))})
    stack = render_mutated(_unchanged, traffic=traffic)
    desired = dev_state.services.get("api-gateway")
    assert _scaling(stack, "api-gateway-green", "dev") == (float(desired.desired_count), 10.0)
    assert _scaling(stack, "api-gateway-blue", "dev") == (2.0, 10.0)


def test_while_a_rollout_owns_a_services_traffic_the_program_leaves_its_colours_scaling_to_it(render_mutated):
    """The rollout scales the colours (staging, rolling back, scaling down after the promotion); an
    up applying bounds rendered minutes earlier would bring a colour it took out of service back."""
    owned = ServiceTraffic(weights=ColourWeights(blue=50, green=50), rollout_owns_traffic=True)
    stack = render_mutated(_unchanged, traffic=TrafficState(services={"frontend": owned}))
    for colour in ("blue", "green"):
        assert sorted(stack.named(f"scaling-target-frontend-{colour}-dev").ignore_changes) == ["maxCapacity", "minCapacity"]
        assert stack.named(f"scaling-target-api-gateway-{colour}-dev").ignore_changes == []
        assert "desiredCount" in stack.named(f"svc-frontend-{colour}-dev").ignore_changes
    assert stack.named("scaling-target-processing-service-dev").ignore_changes == []

    stack = render_mutated(_unchanged, traffic=TrafficState(services={"frontend": owned.model_copy(update={"rollout_owns_traffic": False})}))
    assert stack.named("scaling-target-frontend-green-dev").ignore_changes == []
