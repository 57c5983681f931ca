"""The promotion gate needs no Pulumi backend: the converge records the outputs it verified in the stack status
(without a secret-marked value), and the gate reads them from there; none recorded is could-not-check."""

from __future__ import annotations

from pulumi.automation import OutputValue

from reconciler.verify.gate import PromotionVerifier, applied_inputs
from reconciler.verify.phase import EnvironmentVerifier, recordable_outputs
from reconciler.verify.seams import Timing
from test_verify_promotion_gate import NOW, promoted_blue
from verify_layout import AlbHttpDouble

SECRET = "hunter2-db-password"
PULUMI_SECRET = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": SECRET}


def _converge(harness, verifier=None):
    harness.source.refresh()
    converger = harness.converger()
    converger.verifier = verifier
    return converger.converge(harness.job())


def test_the_converge_records_the_outputs_it_verified_with_the_commit_and_no_secret(harness):
    harness.engine.output_overrides = {
        "dbPassword": OutputValue(SECRET, True), "apiToken": PULUMI_SECRET, "hidden": "[secret]",
        "nested": {"ok": "x", "token": OutputValue(SECRET, True)}, "vpcId": OutputValue("vpc-123", False),
    }
    _converge(harness)

    status = harness.status()
    assert status.last_applied_commit == harness.repo.head
    recorded = status.applied_outputs
    assert recorded["vpcId"] == "vpc-123" and recorded["clusterArn"].endswith("cluster/ecs-cluster-dev")
    assert not {"dbPassword", "apiToken", "hidden", "nested"} & set(recorded)
    assert SECRET not in status.model_dump_json()


def test_recordable_outputs_drops_every_secret_marked_value_whole():
    kept = recordable_outputs({"a": OutputValue("plain", False), "b": OutputValue(SECRET, True), "c": [1, PULUMI_SECRET], "d": {"e": 1}})
    assert kept == {"a": "plain", "d": {"e": 1}}


def test_the_gate_reads_the_recorded_outputs_and_never_asks_the_engine(harness, layout, dev_state, fake_time):
    harness.engine.output_overrides = dict(layout.outputs)
    timing = Timing(target_health_timeout_seconds=30, poll_seconds=10, monotonic=fake_time.monotonic, sleep=fake_time.sleep)
    _converge(harness, EnvironmentVerifier(lambda region: layout.clients(), timing, AlbHttpDouble(layout.client("elbv2"), layout.outputs)))
    assert harness.status().applied_outputs == layout.outputs
    harness.engine.failures["outputs"] = RuntimeError("no Pulumi backend in the tick runtime")

    def load(record):
        return applied_inputs(states=harness.states, source=harness.source, engine=None, stack="dev", environment="dev", max_file_bytes=1 << 20)

    verdict = PromotionVerifier(load, lambda region: layout.clients(), timing, AlbHttpDouble(layout.client("elbv2"), layout.outputs))(promoted_blue(), NOW)
    assert verdict.status == "passed", verdict.headline


def test_a_status_without_recorded_outputs_is_could_not_check(harness, layout):
    _converge(harness)
    harness.states.update("dev", lambda s: s.model_copy(update={"applied_outputs": None}))

    def load(record):
        return applied_inputs(states=harness.states, source=harness.source, engine=None, stack="dev", environment="dev", max_file_bytes=1 << 20)

    verdict = PromotionVerifier(load, lambda region: layout.clients(), Timing())(promoted_blue(), NOW)
    assert verdict.status == "could-not-check"
    assert "records no applied outputs" in verdict.headline and "ecs-gitops reconcile --environment dev" in verdict.headline
