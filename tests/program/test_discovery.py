"""Discovery: a Cloud Map private DNS namespace in the VPC and an A-record service per ECS service."""

from __future__ import annotations

import json

import pytest

from program.components.discovery import discovery_hostname

NAMESPACE = "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace"
DISCOVERY_SERVICE = "aws:servicediscovery/service:Service"
UNITS = ("frontend-blue", "frontend-green", "api-gateway-blue", "api-gateway-green", "processing-service")


def _container(stack, family):
    (container,) = json.loads(stack.named(family).inputs["containerDefinitions"])
    return container


def test_discovery_hostname():
    assert discovery_hostname("processing-service", "dev", "dev.platform.internal") == "processing-service-dev.dev.platform.internal"


def test_private_namespace_in_the_vpc_named_from_the_suffix(stack, state, mock_state):
    s = state.environment_suffix
    (namespace,) = stack.of_type(NAMESPACE)
    assert namespace.name == f"namespace-platform-{s}"
    assert namespace.inputs["name"] == f"{s}.platform.internal"
    assert namespace.inputs["vpc"] == mock_state(stack.named(f"vpc-platform-{s}"))["id"]
    assert namespace.inputs["vpc"] == stack.outputs["vpcId"]
    assert stack.outputs["discoveryNamespace"] == f"{s}.platform.internal"


def test_one_discovery_service_per_ecs_service(stack, state):
    s = state.environment_suffix
    services = stack.of_type(DISCOVERY_SERVICE)
    assert sorted(r.name for r in services) == sorted(f"discovery-{unit}-{s}" for unit in UNITS)
    assert sorted(r.inputs["name"] for r in services) == sorted(f"{unit}-{s}" for unit in UNITS)


@pytest.mark.parametrize("unit", UNITS)
def test_discovery_service_has_a_multivalue_a_record_in_the_namespace(stack, state, mock_state, unit):
    s = state.environment_suffix
    namespace_id = mock_state(stack.named(f"namespace-platform-{s}"))["id"]
    service = stack.named(f"discovery-{unit}-{s}")
    assert service.inputs["namespaceId"] == namespace_id
    assert service.inputs["dnsConfig"] == {
        "namespaceId": namespace_id,
        "routingPolicy": "MULTIVALUE",
        "dnsRecords": [{"type": "A", "ttl": float(state.discovery.dns_ttl)}],
    }
    assert "healthCheckCustomConfig" in service.inputs  # ECS reports task health to Cloud Map
    assert service.inputs["forceDestroy"] is True


@pytest.mark.parametrize("colour", ["blue", "green"])
def test_api_gateway_finds_processing_service_through_cloud_map(stack, state, colour):
    s = state.environment_suffix
    namespace = stack.named(f"namespace-platform-{s}").inputs["name"]
    processing = stack.named(f"discovery-processing-service-{s}").inputs["name"]
    environment = {e["name"]: e["value"] for e in _container(stack, f"td-api-gateway-{colour}-{s}")["environment"]}
    assert environment["PROCESSING_SERVICE_HOST"] == f"{processing}.{namespace}"
    assert environment["PROCESSING_SERVICE_HOST"] == f"processing-service-{s}.{s}.platform.internal"
    assert stack.outputs["processingServiceHost"] == environment["PROCESSING_SERVICE_HOST"]


def test_only_api_gateway_gets_the_processing_host(stack, state):
    s = state.environment_suffix
    for family in (f"td-frontend-blue-{s}", f"td-frontend-green-{s}", f"td-processing-service-{s}"):
        names = {e["name"] for e in _container(stack, family)["environment"]}
        assert "PROCESSING_SERVICE_HOST" not in names


def test_namespace_from_yaml_is_used_for_dns_and_the_processing_host(render_mutated):
    def custom_namespace(doc):
        doc["discovery"] = {"namespace": "trading-dev.internal", "dnsTtl": 30}

    stack = render_mutated(custom_namespace)
    assert stack.named("namespace-platform-dev").inputs["name"] == "trading-dev.internal"
    ttls = {r.inputs["dnsConfig"]["dnsRecords"][0]["ttl"] for r in stack.of_type(DISCOVERY_SERVICE)}
    assert ttls == {30.0}
    environment = {e["name"]: e["value"] for e in _container(stack, "td-api-gateway-blue-dev")["environment"]}
    assert environment["PROCESSING_SERVICE_HOST"] == "processing-service-dev.trading-dev.internal"
