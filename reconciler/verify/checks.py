"""The checks: each reads the live account through boto3 and returns a :class:`CheckResult`.

A check compares what the account answers with what the stack's outputs and the desired state
(with the traffic state the rollout controller keeps) say must be there. Each one decides from
what it read and puts that in its evidence: ids, counts, HTTP status, the policy that allows what
should not be allowed. A check whose question does not apply (an idle colour, a secret nobody
injects) is skipped with the reason.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore.exceptions import ClientError

from desired_state.naming import ALB_FACING_SERVICES, COLOURS, SERVICE_NAMES
from desired_state.schema import DesiredState, ImageRef
from desired_state.traffic import ColourPlan, TrafficState, colour_plans
from reconciler.verify.model import CheckResult
from reconciler.verify.seams import AwsClients, HttpProbe, Timing

# Not the internet: the private ranges (RFC 1918, shared address space RFC 6598, unique local IPv6);
# the VPC's own blocks are added from the account. Anything else holds public addresses.
NOT_THE_INTERNET = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"))
REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class Unit:
    """One ECS service of the stack and what it must run."""

    unit: str
    service: str
    colour: str | None
    image: ImageRef
    live: bool
    min_count: int
    held_at_zero: bool  # the idle colour outside a rollout


@dataclass
class VerifyContext:
    environment: str
    outputs: dict[str, Any]
    desired: DesiredState
    traffic: TrafficState
    clients: AwsClients
    http: HttpProbe
    timing: Timing = field(default_factory=Timing)
    _cache: dict[str, Any] = field(default_factory=dict)

    def output(self, key: str) -> Any:
        if key not in self.outputs:
            raise MissingOutput(key)
        return self.outputs[key]

    def units(self) -> list[Unit]:
        units: list[Unit] = []
        for svc in SERVICE_NAMES:
            spec = self.desired.services.get(svc)
            if svc in ALB_FACING_SERVICES:
                for plan in colour_plans(self.desired, self.traffic, svc):
                    units.append(_unit_of(svc, plan))
            else:
                units.append(Unit(svc, svc, None, spec.image, True, spec.scaling.min, False))
        return units

    def ecs_service(self, unit: str) -> dict[str, Any] | None:
        key = f"svc:{unit}"
        if key not in self._cache:
            arn = self.output("serviceArns").get(unit)
            found = self.clients.ecs.describe_services(cluster=self.output("clusterArn"), services=[arn])["services"] if arn else []
            self._cache[key] = next((s for s in found if s.get("status") != "INACTIVE"), None)
        return self._cache[key]

    def tasks(self, unit: str) -> list[dict[str, Any]]:
        key = f"tasks:{unit}"
        if key not in self._cache:
            service = self.ecs_service(unit)
            cluster = self.output("clusterArn")
            arns = every(self.clients.ecs, "list_tasks", "taskArns", cluster=cluster, serviceName=service["serviceName"], desiredStatus="RUNNING") if service else []
            # describe_tasks takes at most 100 tasks a call.
            self._cache[key] = [task for start in range(0, len(arns), 100)
                                for task in self.clients.ecs.describe_tasks(cluster=cluster, tasks=arns[start:start + 100])["tasks"]]
        return self._cache[key]

    def task_ips(self, unit: str) -> set[str]:
        return {detail["value"] for task in self.tasks(unit) for detail in _eni_details(task) if detail.get("name") == "privateIPv4Address"}

    def network_interfaces(self, unit: str) -> dict[str, dict[str, Any]]:
        """The network interfaces of the unit's running tasks as EC2 holds them, by task ARN."""
        key = f"enis:{unit}"
        if key not in self._cache:
            enis = {_eni_of(task): task["taskArn"] for task in self.tasks(unit) if _eni_of(task)}
            found = every(self.clients.ec2, "describe_network_interfaces", "NetworkInterfaces", NetworkInterfaceIds=sorted(enis)) if enis else []
            self._cache[key] = {enis[eni["NetworkInterfaceId"]]: eni for eni in found}
        return self._cache[key]


class MissingOutput(Exception):
    def __init__(self, key: str):
        super().__init__(f"the stack has no output '{key}'")
        self.key = key


def _unit_of(svc: str, plan: ColourPlan) -> Unit:
    return Unit(f"{svc}-{plan.colour}", svc, plan.colour, plan.image, plan.live, plan.min_capacity, not plan.live and plan.max_capacity == 0)


def _eni_details(task: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for attachment in task.get("attachments", []):
        if attachment.get("type") == "ElasticNetworkInterface":
            yield from attachment.get("details", [])


def _eni_of(task: dict[str, Any]) -> str | None:
    return next((d["value"] for d in _eni_details(task) if d.get("name") == "networkInterfaceId"), None)


@lru_cache(maxsize=None)
def _page_tokens(service: str, api_operation: str) -> tuple[str, str]:
    """The request and answer token names of a paginated operation, from botocore's own paginator model."""
    config = _botocore_session().get_paginator_model(service).get_paginator(api_operation)
    return config["input_token"], config["output_token"]


@lru_cache(maxsize=1)
def _botocore_session() -> Any:
    import botocore.session

    return botocore.session.get_session()


def every(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    """Every item a list/describe call answers, page after page: the first page is not the account.

    The pages are followed through the client's own method (not ``get_paginator``), so a client
    standing in for one answer is asked for every page of it.
    """
    model = client.meta.service_model
    request_token, answer_token = _page_tokens(model.service_name, client.meta.method_to_api_mapping[operation])
    items: list[Any] = []
    seen: set[str] = set()
    call = getattr(client, operation)
    while True:
        page = call(**kwargs)
        items.extend(page.get(key, []))
        token = page.get(answer_token)
        if not token or token in seen:  # a token answered twice would page forever
            return items
        seen.add(token)
        kwargs = {**kwargs, request_token: token}


def result(name: str, group: str, ok: bool, detail: str, **evidence: Any) -> CheckResult:
    return CheckResult(name=name, group=group, status="pass" if ok else "fail", evidence=evidence, detail=detail)


def skipped(name: str, group: str, detail: str, **evidence: Any) -> CheckResult:
    return CheckResult(name=name, group=group, status="skipped", evidence=evidence, detail=detail)


# --------------------------------------------------------------------------------------------- network


def network_checks(ctx: VerifyContext) -> list[CheckResult]:
    ec2 = ctx.clients.ec2
    public, private = list(ctx.output("publicSubnetIds")), list(ctx.output("privateSubnetIds"))
    # No subnet ids at all: asked with an empty list, EC2 answers every subnet of the account.
    subnets = every(ec2, "describe_subnets", "Subnets", SubnetIds=public + private) if public and private else []
    zones = {s["SubnetId"]: s["AvailabilityZone"] for s in subnets}
    spanned = sorted(set(zones.values()))
    none = [kind for kind, ids in (("public", public), ("private", private)) if not ids]
    results = [
        result(
            "network.availability-zones", "network", not none and len(spanned) >= 3 and len(zones) == len(public) + len(private),
            f"no subnets: the stack exports no {' and no '.join(none)} subnet ids" if none else f"the subnets span {len(spanned)} availability zones ({', '.join(spanned)})",
            vpcId=ctx.output("vpcId"), zones=spanned, subnets=zones,
        )
    ]
    results.append(_routes(ctx, "network.private-routes", private, "NatGatewayId", "nat-", "a NAT gateway"))
    results.append(_routes(ctx, "network.public-routes", public, "GatewayId", "igw-", "the internet gateway"))
    vpc = ctx.output("vpcId")
    logs = every(ec2, "describe_flow_logs", "FlowLogs", Filters=[{"Name": "resource-id", "Values": [vpc]}])
    active = [f["FlowLogId"] for f in logs if f.get("FlowLogStatus") == "ACTIVE"]
    results.append(
        result(
            "network.flow-logs", "network", bool(active),
            f"{len(active)} active flow log(s) on {vpc}" if active else f"no active flow log on {vpc}",
            vpcId=vpc, flowLogs={f["FlowLogId"]: f.get("FlowLogStatus") for f in logs},
        )
    )
    return results


def _routes(ctx: VerifyContext, name: str, subnet_ids: Sequence[str], target_key: str, prefix: str, what: str) -> CheckResult:
    """Each subnet's one default route goes to ``what``, is ``active``, and (a NAT gateway) to one that is ``available``."""
    if not subnet_ids:
        return result(name, "network", False, f"no subnets to route: the stack exports none ({what} unchecked)", defaultRoutes={}, wrong={})
    wrong: dict[str, Any] = {}
    seen: dict[str, str] = {}
    expected_ids = set(ctx.outputs.get("natGatewayIds") or []) if prefix == "nat-" else {ctx.outputs.get("internetGatewayId")} - {None}
    nat_states: dict[str, str] = {}
    for subnet in subnet_ids:
        tables = every(ctx.clients.ec2, "describe_route_tables", "RouteTables", Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])
        routes = [r for t in tables for r in t.get("Routes", []) if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
        targets = [r.get(target_key) or r.get("GatewayId") or r.get("NatGatewayId") for r in routes]
        states = [r.get("State") for r in routes]
        target = targets[0] if len(targets) == 1 else None
        ok = target is not None and target.startswith(prefix) and (not expected_ids or target in expected_ids) and states == ["active"]
        gateways: dict[str, str] = {}
        if ok and prefix == "nat-":
            if target not in nat_states:
                found = every(ctx.clients.ec2, "describe_nat_gateways", "NatGateways", NatGatewayIds=[target])
                nat_states[target] = found[0].get("State", "unknown") if found else "missing"
            gateways = {target: nat_states[target]}
            ok = nat_states[target] == "available"
        seen[subnet] = target or ("none" if not targets else ",".join(map(str, targets)))
        if not ok:
            wrong[subnet] = {"routeTables": [t["RouteTableId"] for t in tables], "defaultRouteTargets": targets, "routeStates": states,
                             **({"natGatewayStates": gateways} if gateways else {})}
    detail = (f"each of {len(subnet_ids)} subnets routes 0.0.0.0/0 to {what}, active" if not wrong
              else f"{len(wrong)} subnet(s) do not route 0.0.0.0/0 to {what} that carries traffic")
    return result(name, "network", not wrong, detail, defaultRoutes=seen, wrong=wrong, natGatewayStates=nat_states)


# -------------------------------------------------------------------------------------------- services


def service_checks(ctx: VerifyContext) -> list[CheckResult]:
    # The program's own rule for which providers a service gets; imported here (it loads pulumi_aws).
    from program.components.cluster import capacity_strategy

    results: list[CheckResult] = []
    repositories = ctx.output("ecrRepositoryUrls")
    private = set(ctx.output("privateSubnetIds"))
    for unit in ctx.units():
        prefix = f"services.{unit.unit}"
        service = ctx.ecs_service(unit.unit)
        if service is None:
            results.append(result(f"{prefix}.exists", "services", False, f"ECS service {unit.unit} is not there", arn=ctx.output("serviceArns").get(unit.unit)))
            continue
        running, desired = service.get("runningCount", 0), service.get("desiredCount", 0)
        if unit.held_at_zero:
            results.append(
                result(f"{prefix}.count", "services", running == 0 and desired == 0,
                       f"idle colour: desired {desired}, running {running} (0 outside a rollout)",
                       service=service["serviceName"], desiredCount=desired, runningCount=running, live=False)
            )
        else:
            results.append(
                result(f"{prefix}.count", "services", running >= unit.min_count,
                       f"running {running} of at least {unit.min_count}",
                       service=service["serviceName"], desiredCount=desired, runningCount=running, minimum=unit.min_count, live=unit.live)
            )
        results.append(_image(ctx, prefix, unit, service, repositories.get(unit.service, "")))
        expected_providers = sorted(str(item["capacity_provider"]) for item in capacity_strategy(ctx.desired.services.get(unit.service).capacity_providers))
        actual_providers = sorted(item["capacityProvider"] for item in service.get("capacityProviderStrategy", []))
        results.append(
            result(f"{prefix}.capacity-providers", "services", actual_providers == expected_providers,
                   f"capacity providers {', '.join(actual_providers) or 'none'} (expected {', '.join(expected_providers)})",
                   expected=expected_providers, actual=actual_providers)
        )
        primary = next((d for d in service.get("deployments", []) if d.get("status") == "PRIMARY"), None)
        state = primary.get("rolloutState") if primary else None
        results.append(
            result(f"{prefix}.deployment", "services", state == "COMPLETED",
                   f"primary deployment {primary.get('id') if primary else 'missing'} is {state or 'missing'}",
                   deployment=primary.get("id") if primary else None, rolloutState=state,
                   reason=primary.get("rolloutStateReason") if primary else None)
        )
        results.append(_placement(ctx, prefix, unit, service, private))
    return results


def _image(ctx: VerifyContext, prefix: str, unit: Unit, service: dict[str, Any], repository_url: str) -> CheckResult:
    task_definition = ctx.clients.ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    container = next((c for c in task_definition["containerDefinitions"] if c["name"] == unit.service), None)
    expected = f"{repository_url}{unit.image.reference}"
    actual = container["image"] if container else None
    running = sorted({c.get("image") for task in ctx.tasks(unit.unit) for c in task.get("containers", []) if c.get("name") == unit.service and c.get("image")} - {expected})
    digests = sorted({c.get("imageDigest") for task in ctx.tasks(unit.unit) for c in task.get("containers", []) if c.get("imageDigest")})
    digest_ok = unit.image.digest is None or not digests or digests == [unit.image.digest]
    ok = actual == expected and not running and digest_ok
    detail = f"runs {actual}" if ok else f"runs {actual} (and tasks {running or digests}), git and the rollout record say {expected}"
    return result(f"{prefix}.image", "services", ok, detail,
                  taskDefinition=task_definition["taskDefinitionArn"], expected=expected, actual=actual,
                  tasksRunningOtherImages=running, taskDigests=digests)


def _placement(ctx: VerifyContext, prefix: str, unit: Unit, service: dict[str, Any], private: set[str]) -> CheckResult:
    config = service.get("networkConfiguration", {}).get("awsvpcConfiguration", {})
    problems: list[dict[str, Any]] = []
    if config.get("assignPublicIp") == "ENABLED":
        problems.append({"service": service["serviceName"], "assignPublicIp": "ENABLED"})
    outside = sorted(set(config.get("subnets", [])) - private)
    if outside:
        problems.append({"service": service["serviceName"], "subnetsNotPrivate": outside})
    enis = ctx.network_interfaces(unit.unit)
    for task_arn, eni in sorted(enis.items()):
        public_ip = (eni.get("Association") or {}).get("PublicIp")
        if public_ip or eni.get("SubnetId") not in private:
            problems.append({"task": task_arn, "networkInterface": eni["NetworkInterfaceId"],
                             "publicIp": public_ip, "subnet": eni.get("SubnetId"), "subnetIsPrivate": eni.get("SubnetId") in private})
    detail = (f"{len(enis)} task(s), no public IP, all in private subnets" if not problems
              else f"{len(problems)} task(s) or settings with a public IP or outside the private subnets")
    return result(f"{prefix}.no-public-ip", "services", not problems, detail, tasks=len(enis), problems=problems)


# --------------------------------------------------------------------------------------------- traffic


def traffic_checks(ctx: VerifyContext) -> list[CheckResult]:
    results = [*target_health_checks(ctx), *weight_checks(ctx)]
    results.extend(http_checks(ctx))
    return results


def target_health_checks(ctx: VerifyContext) -> list[CheckResult]:
    """Every target of each live target group healthy, waited for within ``targetHealthTimeoutSeconds``."""
    groups = ctx.output("targetGroupArns")
    waiting = {
        f"traffic.{unit.unit}.target-health": (unit, groups[unit.service][unit.colour])
        for unit in ctx.units()
        if unit.colour is not None and not unit.held_at_zero
    }
    deadline = ctx.timing.monotonic() + ctx.timing.target_health_timeout_seconds
    seen: dict[str, dict[str, str]] = {}
    while True:
        for name, (_, arn) in waiting.items():
            descriptions = ctx.clients.elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
            seen[name] = {f"{d['Target']['Id']}:{d['Target'].get('Port', '')}": d["TargetHealth"]["State"] for d in descriptions}
        settled = all(seen[n] and all(state == "healthy" for state in seen[n].values()) for n in waiting)
        if settled or ctx.timing.monotonic() >= deadline:
            break
        ctx.timing.sleep(ctx.timing.poll_seconds)
    out: list[CheckResult] = []
    for name, (unit, arn) in waiting.items():
        states = seen[name]
        unhealthy = {target: state for target, state in states.items() if state != "healthy"}
        ok = bool(states) and not unhealthy
        detail = (f"{len(states)} target(s) healthy" if ok else
                  "no registered targets" if not states else f"{len(unhealthy)} of {len(states)} target(s) not healthy")
        out.append(result(name, "traffic", ok, detail, targetGroup=arn, targets=states, unhealthy=unhealthy,
                          waitedUpToSeconds=ctx.timing.target_health_timeout_seconds))
    return out


def _live_listener_arn(ctx: VerifyContext) -> str:
    listeners = ctx.output("listenerArns")
    return listeners.get("https") or listeners["http"]


def _forward_weights(actions: Sequence[dict[str, Any]], colour_of: dict[str, str]) -> dict[str, int] | None:
    forward = next((a for a in actions if a.get("Type") == "forward"), None)
    if forward is None:
        return None
    groups = (forward.get("ForwardConfig") or {}).get("TargetGroups") or (
        [{"TargetGroupArn": forward["TargetGroupArn"], "Weight": 100}] if forward.get("TargetGroupArn") else []
    )
    weights = {colour: 0 for colour in COLOURS}
    for group in groups:
        colour = colour_of.get(group["TargetGroupArn"], group["TargetGroupArn"])
        weights[colour] = weights.get(colour, 0) + int(group.get("Weight", 1 if len(groups) == 1 else 0))
    return weights


def _paths(rule: dict[str, Any]) -> list[str]:
    return sorted({v for c in rule.get("Conditions", []) if c.get("Field") == "path-pattern"
                   for v in (c.get("PathPatternConfig") or {}).get("Values") or c.get("Values") or []})


def weight_checks(ctx: VerifyContext) -> list[CheckResult]:
    """Each ALB-facing service's split, judged on every rule of the public listeners (all pages of them).

    The stack puts frontend's weighted forward on the default action and api-gateway's on its one
    rule. Any other forward reaching a service's target groups sends some of its paths somewhere
    the traffic state does not account for, whatever it weighs; any other rule at all decides
    where its paths go instead of the stack's.
    """
    elbv2 = ctx.clients.elbv2
    groups = ctx.output("targetGroupArns")
    live = _live_listener_arn(ctx)
    # With HTTPS, port 80 takes the public's requests too: a rule there answers before its redirect.
    public = [live, *(arn for kind, arn in ctx.output("listenerArns").items() if kind == "http" and arn != live)]
    listeners = every(elbv2, "describe_listeners", "Listeners", ListenerArns=public)
    listener = next(item for item in listeners if item["ListenerArn"] == live)
    rules = [r for item in listeners for r in every(elbv2, "describe_rules", "Rules", ListenerArn=item["ListenerArn"]) if not r.get("IsDefault")]
    api_rule_arn = ctx.output("listenerRuleArns")["api-gateway-live"]
    places = {"frontend": listener["ListenerArn"], "api-gateway": api_rule_arn}
    actions_on = {**{item["ListenerArn"]: ("default", [], item.get("DefaultActions", [])) for item in listeners},
                  **{r["RuleArn"]: (r.get("Priority"), _paths(r), r.get("Actions", [])) for r in rules}}
    out: list[CheckResult] = []
    for svc in ALB_FACING_SERVICES:
        colour_of = {arn: colour for colour, arn in groups[svc].items()}
        expected = ctx.traffic.of(svc).resolved_weights().model_dump()
        actual = _forward_weights(actions_on.get(places[svc], (None, [], []))[2], colour_of)
        others = [
            {"on": where, "priority": priority, "paths": paths, "weights": _forward_weights([action], colour_of)}
            for where, (priority, paths, actions) in actions_on.items() if where != places[svc]
            for action in actions if _forwarded_groups([action]) & set(colour_of)
        ]
        ok = actual == expected and not others
        detail = f"listener weights {actual} (traffic state: {expected})"
        if others:
            detail += f"; {len(others)} other rule(s) forward to {svc} outside the traffic state"
        out.append(result(f"traffic.{svc}.weights", "traffic", ok, detail, expected=expected, actual=actual, on=places[svc], otherForwards=others))
    stacks = set((ctx.outputs.get("listenerRuleArns") or {}).values())
    foreign = [{"rule": r["RuleArn"], "priority": r.get("Priority"), "paths": _paths(r), "actions": [a.get("Type") for a in r.get("Actions", [])]}
               for r in rules if r["RuleArn"] not in stacks]
    out.append(
        result("traffic.live-listener-rules", "traffic", not foreign and any(r["RuleArn"] == api_rule_arn for r in rules),
               f"the public listeners hold only the stack's rules ({len(rules)})" if not foreign
               else f"{len(foreign)} rule(s) on the public listeners are not the stack's: they decide where their paths go",
               listener=listener["ListenerArn"], listeners=public, rules=len(rules), notTheStacks=foreign)
    )
    return out


def http_checks(ctx: VerifyContext) -> list[CheckResult]:
    """Port 80 and the frontend's health path, asked over the ALB's DNS name.

    With a certificate, ``edge.publicHostname`` is the host the probes ask as (Host header; over
    HTTPS the TLS name the certificate must hold too): no ACM certificate names the ALB's own
    ``*.elb.amazonaws.com``. Without it the certificate's chain is checked, not its name, and the
    health check says so.
    """
    dns = ctx.output("albDnsName")
    https = ctx.desired.edge.certificate_arn is not None
    public = ctx.desired.edge.public_hostname if https else None  # the schema refuses one without a certificate
    timeout = ctx.timing.http_timeout_seconds
    answer = ctx.http.get(f"http://{dns}/", timeout, public_host=public)
    listener = every(ctx.clients.elbv2, "describe_listeners", "Listeners", ListenerArns=[ctx.output("listenerArns")["http"]])[0]
    action = (listener.get("DefaultActions") or [{}])[0]
    redirect = action.get("RedirectConfig") or {}
    location_host = urlsplit(answer.location).hostname if answer.location else None
    if https:
        # To HTTPS on the host that was asked: a redirect elsewhere hands the site's visitors to someone else.
        # The probe asks as the public host when there is one; the ALB's own name is the host asked too.
        asked = [dns.lower(), *([public] if public else [])]
        configured = action.get("Type") == "redirect" and redirect.get("Protocol") == "HTTPS" and redirect.get("Host", "#{host}") == "#{host}"
        answered = answer.status in REDIRECTS and (answer.location or "").startswith("https://") and location_host in asked
        detail = f"port 80 answered {answer.status} to {answer.location or answer.error} (expected a redirect to HTTPS on {' or '.join(asked)})"
    else:
        configured = action.get("Type") == "forward"
        answered = answer.status is not None and answer.status not in REDIRECTS and answer.status < 500
        detail = f"port 80 answered {answer.status or answer.error} (expected it to forward: no certificate is configured)"
    out = [
        result("traffic.alb-answers", "traffic", configured and answered, detail,
               url=f"http://{dns}/", publicHost=public, status=answer.status, location=answer.location, error=answer.error,
               listenerAction=action.get("Type"), certificateConfigured=https, redirectHost=redirect.get("Host"), locationHost=location_host)
    ]
    path = ctx.desired.services.get("frontend").health_check.path
    url = f"{'https' if https else 'http'}://{dns}{path}"
    # Over HTTPS the chain is always checked; the name only when the desired state says which name it is.
    hostname_checked = public is not None if https else None
    health = ctx.http.get(url, timeout, public_host=public, check_hostname=bool(hostname_checked))
    ok = health.status is not None and 200 <= health.status < 300
    detail = f"{url}{f' (as {public})' if public else ''} answered {health.status or health.error}"
    if hostname_checked is False:
        detail += ("; the certificate's chain was checked but not the name it is for: set edge.publicHostname to the host the "
                   "certificate names so the name is checked too")
    out.append(
        result("traffic.frontend-health", "traffic", ok, detail, url=url, publicHost=public, hostnameChecked=hostname_checked,
               status=health.status, error=health.error)
    )
    return out


# ------------------------------------------------------------------------------------------- isolation


def isolation_checks(ctx: VerifyContext) -> list[CheckResult]:
    return [_processing_discovery(ctx), _processing_unrouted(ctx), *_security_groups(ctx)]


def _processing_discovery(ctx: VerifyContext) -> CheckResult:
    service = ctx.ecs_service("processing-service")
    registries = [r["registryArn"] for r in (service or {}).get("serviceRegistries", [])]
    found: dict[str, Any] = {}
    for arn in registries:
        try:
            found[arn] = ctx.clients.servicediscovery.get_service(Id=arn.rsplit("/", 1)[-1])["Service"].get("Name")
        except ClientError as exc:
            found[arn] = exc.response["Error"]["Code"]
    expected = (ctx.outputs.get("processingServiceHost") or "").split(".", 1)[0]
    ok = any(name == expected for name in found.values()) if expected else bool(found) and all(not str(v).endswith("NotFound") for v in found.values())
    return result("isolation.processing-discovery", "isolation", ok,
                  f"processing-service is registered in Cloud Map as {expected}" if ok else "processing-service is not registered in Cloud Map",
                  registries=found, expectedName=expected)


def _processing_unrouted(ctx: VerifyContext) -> CheckResult:
    """No listener or rule of the ALB reaches processing-service, and its ECS service has no load balancer."""
    elbv2 = ctx.clients.elbv2
    service = ctx.ecs_service("processing-service") or {}
    attached = [lb.get("targetGroupArn") for lb in service.get("loadBalancers", [])]
    processing_ips = ctx.task_ips("processing-service")
    alb_arn = ctx.outputs.get("albArn") or every(elbv2, "describe_listeners", "Listeners", ListenerArns=[_live_listener_arn(ctx)])[0]["LoadBalancerArn"]
    reaching: list[dict[str, Any]] = []
    for listener in every(elbv2, "describe_listeners", "Listeners", LoadBalancerArn=alb_arn):
        rules = every(elbv2, "describe_rules", "Rules", ListenerArn=listener["ListenerArn"])
        for where, actions in [(listener["ListenerArn"], listener.get("DefaultActions", []))] + [(r["RuleArn"], r.get("Actions", [])) for r in rules]:
            for group in _forwarded_groups(actions):
                targets = {d["Target"]["Id"] for d in elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]}
                if group in attached or targets & processing_ips:
                    reaching.append({"on": where, "port": listener.get("Port"), "targetGroup": group, "processingTargets": sorted(targets & processing_ips)})
    ok = not attached and not reaching
    detail = "processing-service is behind no listener" if ok else f"processing-service is reachable through the ALB: {len(reaching)} forward(s), {len(attached)} attached target group(s)"
    return result("isolation.processing-unrouted", "isolation", ok, detail, attachedTargetGroups=attached, forwardsToProcessing=reaching)


def _forwarded_groups(actions: Sequence[dict[str, Any]]) -> set[str]:
    groups: set[str] = set()
    for action in actions:
        if action.get("Type") != "forward":
            continue
        if action.get("TargetGroupArn"):
            groups.add(action["TargetGroupArn"])
        groups.update(g["TargetGroupArn"] for g in (action.get("ForwardConfig") or {}).get("TargetGroups", []))
    return groups


def _sources(permission: dict[str, Any]) -> list[str]:
    return (
        [g["GroupId"] for g in permission.get("UserIdGroupPairs", [])]
        + [r["CidrIp"] for r in permission.get("IpRanges", [])]
        + [r["CidrIpv6"] for r in permission.get("Ipv6Ranges", [])]
        + [p["PrefixListId"] for p in permission.get("PrefixListIds", [])]
    )


def _attached_groups(ctx: VerifyContext, svc: str) -> dict[str, list[str]]:
    """Where the tier's traffic lands -> the security groups it carries.

    Each ECS service of the tier (its ``awsvpcConfiguration``, what new tasks get) and each network
    interface of its running tasks (what they carry now, changed by hand or not): either may carry
    a group the outputs do not name.
    """
    attached: dict[str, list[str]] = {}
    for unit in ctx.units():
        if unit.service != svc:
            continue
        service = ctx.ecs_service(unit.unit)
        if service is None:
            continue
        config = service.get("networkConfiguration", {}).get("awsvpcConfiguration", {})
        attached[service["serviceName"]] = sorted(config.get("securityGroups", []))
        for eni in ctx.network_interfaces(unit.unit).values():
            attached[eni["NetworkInterfaceId"]] = sorted(g["GroupId"] for g in eni.get("Groups", []))
    return attached


def _security_groups(ctx: VerifyContext) -> list[CheckResult]:
    ids = ctx.output("securityGroupIds")
    vpc = ctx.output("vpcId")
    groups = {g["GroupId"]: g for g in every(ctx.clients.ec2, "describe_security_groups", "SecurityGroups", Filters=[{"Name": "vpc-id", "Values": [vpc]}])}
    admitted = {
        "processing-service": {ids["api-gateway"]},
        "api-gateway": {ids["alb"], ids["frontend"]},
        "frontend": {ids["alb"]},
    }
    names = {i: t for t, i in ids.items()}
    out: list[CheckResult] = []
    for tier, allowed in admitted.items():
        attached = _attached_groups(ctx, tier)
        wrong = {where: carried for where, carried in sorted(attached.items()) if carried != [ids[tier]]}
        out.append(
            result(f"isolation.{tier}-attached", "isolation", bool(attached) and not wrong,
                   f"{tier}'s {len(attached)} service(s) and task interface(s) carry only {ids[tier]}" if attached and not wrong
                   else f"{tier}: nothing found to carry {ids[tier]}" if not attached
                   else f"{tier}: {len(wrong)} service(s) or task interface(s) carry other groups than {ids[tier]}",
                   expectedGroup=ids[tier], attached=attached, wrong=wrong)
        )
        # What the tier admits is what any group it carries admits: the union of their ingress.
        judged = sorted({ids[tier], *(g for carried in attached.values() for g in carried)})
        missing = [g for g in judged if g not in groups]
        if ids[tier] in missing:
            out.append(result(f"isolation.{tier}-admits", "isolation", False, f"security group {ids[tier]} is not there", groupId=ids[tier]))
            continue
        sources = sorted({src for g in judged if g in groups for perm in groups[g].get("IpPermissions", []) for src in _sources(perm)})
        extra = sorted(set(sources) - allowed)
        out.append(
            result(f"isolation.{tier}-admits", "isolation", not extra and not missing and bool(sources),
                   f"{tier} admits {', '.join(names.get(s, s) for s in sources) or 'nothing'}"
                   + (f"; must admit only {', '.join(sorted(names[a] for a in allowed))}" if extra else "")
                   + (f"; carries groups outside the VPC or gone: {', '.join(missing)}" if missing else ""),
                   groupId=ids[tier], groupsJudged=judged, sources=sources, notAllowed=extra, allowed=sorted(allowed), groupsNotFound=missing)
        )
    inside = _not_the_internet(ctx, vpc)
    prefix_lists: dict[str, list[str]] = {}
    open_to_internet = [
        {"groupId": gid, "groupName": g.get("GroupName"), "ports": [perm.get("FromPort"), perm.get("ToPort")], "from": src}
        for gid, g in sorted(groups.items()) if gid != ids["alb"]
        for perm in g.get("IpPermissions", []) for src in _cidr_sources(ctx, perm, prefix_lists) if _is_internet(src.split(":", 1)[1] if src.startswith("pl-") else src, inside)
    ]
    out.append(
        result("isolation.internet-only-alb", "isolation", not open_to_internet,
               "only the ALB admits the internet" if not open_to_internet else f"{len(open_to_internet)} rule(s) admit the internet outside the ALB",
               openToInternet=open_to_internet, groupsChecked=len(groups), notTheInternet=[str(n) for n in inside])
    )
    return out


def _not_the_internet(ctx: VerifyContext, vpc: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    blocks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = list(NOT_THE_INTERNET)
    for found in every(ctx.clients.ec2, "describe_vpcs", "Vpcs", VpcIds=[vpc]):
        cidrs = [a["CidrBlock"] for a in found.get("CidrBlockAssociationSet", []) if a.get("CidrBlockState", {}).get("State", "associated") == "associated"]
        cidrs += [a["Ipv6CidrBlock"] for a in found.get("Ipv6CidrBlockAssociationSet", []) if a.get("Ipv6CidrBlockState", {}).get("State", "associated") == "associated"]
        blocks.extend(ipaddress.ip_network(c, strict=False) for c in cidrs or [found["CidrBlock"]])
    return blocks


def _is_internet(cidr: str, inside: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    """Whether the range holds any address outside the private and VPC blocks (a range that does not parse: it may)."""
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return True
    return not any(network.version == block.version and network.subnet_of(block) for block in inside)  # type: ignore[arg-type]


def _cidr_sources(ctx: VerifyContext, permission: dict[str, Any], prefix_lists: dict[str, list[str]]) -> list[str]:
    """The address ranges a rule admits, a managed prefix list's entries as ``pl-id:cidr``."""
    cidrs = [r["CidrIp"] for r in permission.get("IpRanges", [])] + [r["CidrIpv6"] for r in permission.get("Ipv6Ranges", [])]
    for entry in permission.get("PrefixListIds", []):
        pl = entry["PrefixListId"]
        if pl not in prefix_lists:
            prefix_lists[pl] = [e["Cidr"] for e in every(ctx.clients.ec2, "get_managed_prefix_list_entries", "Entries", PrefixListId=pl)]
        cidrs += [f"{pl}:{cidr}" for cidr in prefix_lists[pl]]
    return cidrs


# ------------------------------------------------------------------------------------------------ logs


def log_checks(ctx: VerifyContext) -> list[CheckResult]:
    logs = ctx.clients.logs
    names = ctx.output("logGroupNames")
    keep = ctx.desired.log_retention_in_days
    since = ctx.timing.clock() - timedelta(minutes=ctx.timing.recent_log_minutes)
    out: list[CheckResult] = []
    for svc in SERVICE_NAMES:
        group_name = names[svc]
        group = next((g for g in every(logs, "describe_log_groups", "logGroups", logGroupNamePrefix=group_name) if g["logGroupName"] == group_name), None)
        retention = group.get("retentionInDays") if group else None
        out.append(
            result(f"logs.{svc}.retention", "logs", retention == keep,
                   f"{group_name} keeps {retention or 'forever' if group else 'nothing (missing)'} days (expected {keep})",
                   logGroup=group_name, retentionInDays=retention, expected=keep, exists=group is not None)
        )
        running = sum(len(ctx.tasks(u.unit)) for u in ctx.units() if u.service == svc)
        if group is None or running == 0:
            out.append(skipped(f"logs.{svc}.recent-events", "logs", "no running tasks to write logs" if group else "no log group", runningTasks=running))
            continue
        events = _first_events(logs, logGroupName=group_name, startTime=int(since.timestamp() * 1000), limit=1)
        out.append(
            result(f"logs.{svc}.recent-events", "logs", bool(events),
                   f"{'events' if events else 'no events'} in the last {ctx.timing.recent_log_minutes} minutes",
                   logGroup=group_name, since=since.isoformat(), runningTasks=running,
                   lastStream=events[0].get("logStreamName") if events else None)
        )
    return out


def _first_events(logs: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """The first page holding events: a page may come back empty with a token while the search goes on."""
    seen: set[str] = set()
    while True:
        page = logs.filter_log_events(**kwargs)
        token = page.get("nextToken")
        if page.get("events") or not token or token in seen:
            return list(page.get("events", []))
        seen.add(token)
        kwargs = {**kwargs, "nextToken": token}


# --------------------------------------------------------------------------------------------- secrets


def secret_arn_of(value_from: str) -> str:
    """``arn:...:secret:name-AbCdEf:key::`` → the secret's own ARN (the JSON key and version dropped)."""
    parts = value_from.split(":")
    return ":".join(parts[:7]) if len(parts) > 7 else value_from


ROLE_OUTPUTS = {"execution": "executionRoleArns", "task": "taskRoleArns"}


def _roles_in_use(ctx: VerifyContext, definitions: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """label -> role ARN: the stack's roles (outputs) and every role a live task definition names.

    A task definition may name a role the stack did not create; it is labelled with its name
    (``frontend:task:role-admin``) so it is never taken for the stack's own.
    """
    roles: dict[str, str] = {}
    for kind, key in ROLE_OUTPUTS.items():
        for svc, arn in (ctx.outputs.get(key) or {}).items():
            roles[f"{svc}:{kind}"] = arn
    for svc, found in definitions.items():
        for definition in found:
            for kind, field_name in (("execution", "executionRoleArn"), ("task", "taskRoleArn")):
                arn = definition.get(field_name)
                if not arn or roles.get(f"{svc}:{kind}") == arn:
                    continue
                roles[f"{svc}:{kind}:{arn.rsplit('/', 1)[-1]}"] = arn
    return roles


def secret_checks(ctx: VerifyContext) -> list[CheckResult]:
    referenced: dict[str, set[str]] = {}  # secret ARN -> services whose task definitions inject it
    definitions: dict[str, list[dict[str, Any]]] = {}  # service -> its units' live task definitions
    for unit in ctx.units():
        service = ctx.ecs_service(unit.unit)
        if service is None:
            continue
        definition = ctx.clients.ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
        definitions.setdefault(unit.service, []).append(definition)
        for container in definition["containerDefinitions"]:
            for secret in container.get("secrets", []):
                referenced.setdefault(secret_arn_of(secret["valueFrom"]), set()).add(unit.service)
    roles = _roles_in_use(ctx, definitions)
    missing_outputs = sorted(key for key in ROLE_OUTPUTS.values() if not ctx.outputs.get(key))
    out: list[CheckResult] = []
    for arn, services in sorted(referenced.items()):
        short = arn.rsplit(":", 1)[-1]
        try:
            described = ctx.clients.secretsmanager.describe_secret(SecretId=arn)
            exists = described.get("DeletedDate") is None
            evidence: dict[str, Any] = {"secret": arn, "referencedBy": sorted(services), "deleted": not exists}
        except ClientError as exc:
            exists, evidence = False, {"secret": arn, "referencedBy": sorted(services), "error": exc.response["Error"]["Code"]}
        out.append(result(f"secrets.{short}.exists", "secrets", exists,
                          f"{short} {'exists' if exists else 'is missing'} (referenced by {', '.join(sorted(services))})", **evidence))
        if not exists:
            out.append(skipped(f"secrets.{short}.readers", "secrets", "the secret is missing: nobody can read it", secret=arn))
            continue
        if missing_outputs:
            # Without the stack's roles there is no telling its execution role from any other: not a pass.
            out.append(result(f"secrets.{short}.readers", "secrets", False,
                              f"the stack exports no {' or '.join(missing_outputs)}: who may read {short} cannot be judged; re-run the converge so the program exports them",
                              secret=arn, missingOutputs=missing_outputs))
            continue
        out.append(_readers(ctx, arn, short, services, roles))
    return out


def _readers(ctx: VerifyContext, secret_arn: str, short: str, services: set[str], roles: dict[str, str]) -> CheckResult:
    allowed_receivers = set()
    for spec_name, spec in ctx.desired.secrets.items():
        if short.startswith(f"secret-{spec_name}-"):
            allowed_receivers = set(spec.allowed_services)
    expected = {f"{svc}:execution" for svc in services & allowed_receivers}
    readers: dict[str, Any] = {}
    method = "iam:SimulatePrincipalPolicy"
    note = None
    for key, role_arn in sorted(roles.items()):
        try:
            decision = every(ctx.clients.iam, "simulate_principal_policy", "EvaluationResults",
                             PolicySourceArn=role_arn, ActionNames=[READ_SECRET], ResourceArns=[secret_arn])[0]["EvalDecision"]
            if decision == "allowed":
                readers[key] = {"role": role_arn, "decision": decision}
        except (ClientError, NotImplementedError) as exc:
            method = "policy documents"
            note = f"IAM policy simulation is not available here ({_error_name(exc)}); the roles' policy documents were read instead"
            allowing = _allowing_statements(ctx, role_arn, READ_SECRET, secret_arn)
            if allowing:
                readers[key] = {"role": role_arn, "allowedBy": allowing}
    readers.update(_resource_policy_readers(ctx, secret_arn, {roles[k] for k in expected if k in roles}))
    unexpected = {k: v for k, v in readers.items() if k not in expected}
    cannot = sorted(expected - set(readers))
    ok = not unexpected and not cannot
    detail = (f"only {', '.join(sorted(expected)) or 'no role'} may read {short}" if ok else
              f"{short}: " + "; ".join([*(f"{k} may read it but should not" for k in unexpected), *(f"{k} cannot read it" for k in cannot)]))
    evidence: dict[str, Any] = {"secret": secret_arn, "method": method, "expectedReaders": sorted(expected), "readers": readers, "unexpected": unexpected, "missing": cannot}
    if note:
        evidence["note"] = note
    return result(f"secrets.{short}.readers", "secrets", ok, detail, **evidence)


READ_SECRET = "secretsmanager:GetSecretValue"


def _principals(statement: dict[str, Any]) -> list[str]:
    """Who an Allow statement of a resource policy names; ``NotPrincipal`` means everyone else: ``*``."""
    if "NotPrincipal" in statement:
        return ["*"]
    principal = statement.get("Principal")
    if isinstance(principal, str):
        return [principal]
    return sorted({p for values in (principal or {}).values() for p in _listed(values)})


def _resource_policy_readers(ctx: VerifyContext, secret_arn: str, allowed_roles: set[str]) -> dict[str, Any]:
    """``resource-policy:<principal>`` for each principal other than ``allowed_roles`` the secret's own policy lets read it."""
    answer = ctx.clients.secretsmanager.get_resource_policy(SecretId=secret_arn)
    text = answer.get("ResourcePolicy")
    if not text:
        return {}
    readers: dict[str, Any] = {}
    for statement in _listed_statements(json.loads(text)):
        if statement.get("Effect") != "Allow" or not _grants(statement, READ_SECRET, secret_arn):
            continue
        for principal in _principals(statement):
            if principal not in allowed_roles:
                readers[f"resource-policy:{principal}"] = {"principal": principal, "statement": statement}
    return readers


def _error_name(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return exc.response["Error"].get("Code", "ClientError")
    return type(exc).__name__


def _documents(ctx: VerifyContext, role_arn: str) -> Iterator[tuple[str, dict[str, Any]]]:
    iam = ctx.clients.iam
    role = role_arn.rsplit("/", 1)[-1]
    for policy in every(iam, "list_role_policies", "PolicyNames", RoleName=role):
        document = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
        yield f"inline:{policy}", json.loads(unquote(document)) if isinstance(document, str) else document
    for attached in every(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=role):
        version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
        document = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)["PolicyVersion"]["Document"]
        yield attached["PolicyArn"], json.loads(unquote(document)) if isinstance(document, str) else document


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _iam_match(value: str, pattern: str, case_sensitive: bool) -> bool:
    """IAM's wildcards: ``*`` any run of characters, ``?`` one; nothing else is special."""
    expression = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(expression, value, 0 if case_sensitive else re.IGNORECASE) is not None


def _covers(statement: dict[str, Any], key: str, value: str, case_sensitive: bool) -> bool:
    """Whether ``Action``/``Resource`` names the value, or ``NotAction``/``NotResource`` leaves it out (so grants it)."""
    if key in statement:
        return any(_iam_match(value, p, case_sensitive) for p in _listed(statement[key]))
    if f"Not{key}" in statement:
        return not any(_iam_match(value, p, case_sensitive) for p in _listed(statement[f"Not{key}"]))
    return False


def _grants(statement: dict[str, Any], action: str, resource: str) -> bool:
    # A resource policy's statement may leave Resource out: it is about the resource it is attached to.
    resource_named = "Resource" in statement or "NotResource" in statement
    return _covers(statement, "Action", action, False) and (not resource_named or _covers(statement, "Resource", resource, True))


def _allowing_statements(ctx: VerifyContext, role_arn: str, action: str, resource: str) -> list[dict[str, Any]]:
    """Allow statements of the role's policies that grant ``action`` on ``resource``, as IAM matches them.

    A statement with ``NotAction``/``NotResource`` grants everything it does not name; a condition
    is taken as met (the reading errs towards "may read", never towards a pass).
    """
    allowing: list[dict[str, Any]] = []
    for policy, document in _documents(ctx, role_arn):
        for statement in _listed_statements(document):
            if statement.get("Effect") == "Allow" and ("Resource" in statement or "NotResource" in statement) and _grants(statement, action, resource):
                allowing.append({"policy": policy, "sid": statement.get("Sid"), "statement": statement})
    return allowing


def _listed_statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


# ----------------------------------------------------------------------------------------------- names


def _named(outputs: dict[str, Any]) -> dict[str, str]:
    """Physical names the stack exports, by where they come from."""
    names: dict[str, str] = {"clusterName": outputs.get("clusterName", "")}
    for unit, arn in (outputs.get("serviceArns") or {}).items():
        names[f"serviceArns.{unit}"] = arn.rsplit("/", 1)[-1]
    for svc, groups in (outputs.get("targetGroupArns") or {}).items():
        for colour, arn in groups.items():
            names[f"targetGroupArns.{svc}.{colour}"] = arn.split(":targetgroup/", 1)[-1].split("/", 1)[0]
    for svc, name in (outputs.get("logGroupNames") or {}).items():
        names[f"logGroupNames.{svc}"] = name
    for secret, arn in (outputs.get("secretArns") or {}).items():
        names[f"secretArns.{secret}"] = arn.rsplit(":", 1)[-1]
    for key in ("executionRoleArns", "taskRoleArns"):
        for svc, arn in (outputs.get(key) or {}).items():
            names[f"{key}.{svc}"] = arn.rsplit("/", 1)[-1]
    for svc, url in (outputs.get("ecrRepositoryUrls") or {}).items():
        names[f"ecrRepositoryUrls.{svc}"] = url.rsplit("/", 1)[-1]
    if outputs.get("albArn"):
        names["albArn"] = outputs["albArn"].split(":loadbalancer/app/", 1)[-1].split("/", 1)[0]
    return {k: v for k, v in names.items() if v}


def _carries(name: str, suffix: str) -> bool:
    """The suffix as a whole word of the name: ``-dev``, ``/dev/``, ``dev.`` (not ``devices``)."""
    return re.search(rf"(^|[-./]){re.escape(suffix)}($|[-./])", name) is not None


def name_checks(ctx: VerifyContext) -> list[CheckResult]:
    suffix = ctx.environment
    names = _named(ctx.outputs)
    tagged: dict[str, str] = {}
    filters = [{"Key": "environment", "Values": [suffix]}, {"Key": "managed-by", "Values": ["ecs-gitops"]}]
    for item in every(ctx.clients.resourcegroupstaggingapi, "get_resources", "ResourceTagMappingList", TagFilters=filters):
        tag_name = next((t["Value"] for t in item.get("Tags", []) if t["Key"] == "Name"), None)
        if tag_name:
            tagged[item["ResourceARN"]] = tag_name
    wrong = {where: n for where, n in {**names, **tagged}.items() if not _carries(n, suffix)}
    out = [
        result("names.environment-suffix", "names", not wrong,
               f"{len(names) + len(tagged)} names carry '-{suffix}'" if not wrong else f"{len(wrong)} name(s) lack the suffix '-{suffix}'",
               checked=len(names) + len(tagged), taggedResources=len(tagged), withoutSuffix=wrong)
    ]
    protected: dict[str, Any] = {}
    alb_arn = ctx.outputs.get("albArn")
    if alb_arn:
        attributes = {a["Key"]: a["Value"] for a in ctx.clients.elbv2.describe_load_balancer_attributes(LoadBalancerArn=alb_arn)["Attributes"]}
        if attributes.get("deletion_protection.enabled") == "true":
            protected[alb_arn] = "deletion_protection.enabled"
    for svc, group_name in (ctx.outputs.get("logGroupNames") or {}).items():
        for group in every(ctx.clients.logs, "describe_log_groups", "logGroups", logGroupNamePrefix=group_name):
            if group["logGroupName"] == group_name and group.get("deletionProtectionEnabled"):
                protected[group_name] = "deletionProtectionEnabled"
    out.append(
        result("names.no-deletion-protection", "names", not protected,
               "nothing has deletion protection" if not protected else f"{len(protected)} resource(s) have deletion protection",
               protected=protected, albChecked=bool(alb_arn))
    )
    return out


GROUP_CHECKS: dict[str, Callable[[VerifyContext], list[CheckResult]]] = {
    "network": network_checks,
    "services": service_checks,
    "traffic": traffic_checks,
    "isolation": isolation_checks,
    "logs": log_checks,
    "secrets": secret_checks,
    "names": name_checks,
}
