"""Nothing raised inside verification crashes the converge or the rollout tick: it is a result, named by its type."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Callable

import pytest

from desired_state.traffic import TrafficState
from reconciler.verify.gate import AppliedInputs, PromotionVerifier
from reconciler.verify.phase import EnvironmentVerifier
from reconciler.verify.run import verify_environment
from reconciler.verify.seams import Timing, UrllibProbe
from test_verify_promotion_gate import NOW, promoted_blue
from verify_layout import AlbHttpDouble


def one_answer_server(respond: Callable[[socket.socket], None]) -> tuple[int, threading.Thread]:
    """A TCP server on an ephemeral port of 127.0.0.1 that answers one connection with ``respond``."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(5)

    def run() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            server.close()
            return
        try:
            conn.recv(4096)
            respond(conn)
        except OSError:
            pass
        finally:
            conn.close()
            server.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return server.getsockname()[1], thread


@pytest.mark.parametrize(
    "answer, raised",
    [
        (b"garbage\r\n\r\n", "BadStatusLine"),
        (b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(150)) + b"\r\n", "HTTPException"),
    ],
    ids=["bad-status-line", "too-many-headers"],
)
def test_a_malformed_http_answer_is_an_answer_without_status_naming_why(answer, raised):
    port, thread = one_answer_server(lambda conn: conn.sendall(answer))
    got = UrllibProbe().get(f"http://127.0.0.1:{port}/healthz", 2)
    thread.join(5)
    assert got.status is None
    assert raised in got.error or "header" in got.error.lower()


class RaisingProbeDouble:
    """What an HTTP client raises on a malformed answer: moto's ALB serves nothing, so the raise is injected here."""

    def get(self, url: str, timeout: float, **asked_as: object):
        raise http.client.BadStatusLine("garbage")


class ExplodingEcsDouble:
    """An ECS client whose answer the checks do not expect (an SDK change, a stand-in region): a plain RuntimeError."""

    def __init__(self, ecs):
        self._ecs = ecs

    def __getattr__(self, name):
        return getattr(self._ecs, name)

    def describe_services(self, **kwargs):
        raise RuntimeError("unexpected answer shape")


def _timing(fake_time) -> Timing:
    return Timing(target_health_timeout_seconds=0, poll_seconds=1, monotonic=fake_time.monotonic, sleep=fake_time.sleep)


def test_a_wrong_shaped_output_fails_its_group_naming_the_exception(layout, dev_state, fake_time):
    outputs = {**layout.outputs, "serviceArns": list(layout.outputs["serviceArns"].values())}
    report = verify_environment(environment="dev", outputs=outputs, desired=dev_state, traffic=None, clients=layout.clients(),
                                http=AlbHttpDouble(layout.client("elbv2"), layout.outputs), timing=_timing(fake_time), groups=["services"])
    [failed] = report.failures
    assert failed.name == "services.error" and failed.group == "services"
    assert failed.evidence["error"] == "AttributeError"
    assert "AttributeError" in failed.detail


def test_any_exception_inside_a_group_fails_that_group_and_the_others_still_run(layout, dev_state, fake_time):
    report = verify_environment(environment="dev", outputs=layout.outputs, desired=dev_state, traffic=None,
                                clients=layout.clients().replace(ecs=ExplodingEcsDouble(layout.clients().ecs)),
                                http=AlbHttpDouble(layout.client("elbv2"), layout.outputs), timing=_timing(fake_time), groups=["services", "network"])
    names = {r.name: r for r in report.results}
    assert names["services.error"].status == "fail"
    assert names["services.error"].evidence["error"] == "RuntimeError"
    assert any(r.group == "network" and r.status == "pass" for r in report.results), [(r.name, r.status, r.detail) for r in report.results]


def test_a_raising_probe_fails_the_traffic_group_and_the_converge_records_it(harness, layout, fake_time):
    harness.engine.output_overrides = dict(layout.outputs)
    harness.source.refresh()
    converger = harness.converger()
    converger.verifier = EnvironmentVerifier(lambda region: layout.clients(), _timing(fake_time), RaisingProbeDouble())

    outcome = converger.converge(harness.job())

    assert outcome.outcome == "failed"
    record = harness.last_record()
    assert record.verify is not None and record.verify.status == "failed"
    assert "traffic.error" in [f.name for f in record.verify.failures]
    assert harness.status().last_applied_commit == harness.repo.head


def test_a_verifier_that_raises_anything_fails_the_phase_not_the_converge(harness, layout, fake_time):
    class BrokenVerifierDouble:
        """A verifier that raises what nobody expected (the phase's last line of defence is under test)."""

        def __call__(self, **kwargs):
            raise ZeroDivisionError("division by zero")

    harness.engine.output_overrides = dict(layout.outputs)
    harness.source.refresh()
    converger = harness.converger()
    converger.verifier = BrokenVerifierDouble()
    outcome = converger.converge(harness.job())
    assert outcome.outcome == "failed"
    record = harness.last_record()
    assert record.verify.status == "failed"
    assert record.verify.failures[0].evidence["error"] == "ZeroDivisionError"


def test_a_raising_probe_never_crashes_the_gate_or_the_observer(layout, dev_state, fake_time):
    from reconciler.rollout.observe import RolloutObserver

    inputs = AppliedInputs(outputs=layout.outputs, desired=dev_state, traffic=TrafficState(), commit="c")
    gate = PromotionVerifier(lambda r: inputs, lambda region: layout.clients(), _timing(fake_time), RaisingProbeDouble())
    observer = RolloutObserver(None, None, None, None, router_for=lambda r: None, promotion_verify=gate)
    observed = observer.observe(promoted_blue("frontend"), NOW)
    assert observed.verify is not None and observed.verify.status != "passed"
    assert "BadStatusLine" in observed.verify.headline


def test_an_engine_command_error_is_a_could_not_check_result(layout):
    from pulumi.automation import CommandError
    from pulumi.automation._cmd import CommandResult

    def load(record):
        raise CommandError(CommandResult(stdout="", stderr="error: failed to load checkpoint: AccessDenied", code=255))

    gate = PromotionVerifier(load, lambda region: layout.clients(), Timing())(promoted_blue(), NOW)
    assert gate.status == "could-not-check"
    assert "CommandError" in gate.headline


def test_a_gate_whose_checks_raise_anything_is_a_could_not_check_result(layout, dev_state):
    inputs = AppliedInputs(outputs=layout.outputs, desired=dev_state, traffic=TrafficState(), commit="c")

    def clients_for(region):
        raise RuntimeError("no endpoint for region")

    gate = PromotionVerifier(lambda r: inputs, clients_for, Timing())(promoted_blue(), NOW)
    assert gate.status == "could-not-check" and "RuntimeError" in gate.headline


def test_an_observer_whose_gate_raises_observes_could_not_check():
    from reconciler.rollout.observe import RolloutObserver

    def gate(record, now):
        raise KeyError("albDnsName")

    observed = RolloutObserver(None, None, None, None, router_for=lambda r: None, promotion_verify=gate).observe(promoted_blue(), NOW)
    assert observed.verify.status == "could-not-check" and "KeyError" in observed.verify.headline

