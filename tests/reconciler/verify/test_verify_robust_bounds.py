"""The gate's time bounds and its image: a trickling answer cannot hold the probe, the gate's waits fit the
tick's claim lease (settings refuse otherwise), and the new colour must run the rollout record's image."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from desired_state.schema import ImageRef
from desired_state.traffic import TrafficState
from reconciler.errors import SettingsError
from reconciler.rollout.decide import Observed, decide
from reconciler.rollout.model import RolloutPhase
from reconciler.settings import ReconcilerSettings, TickSettings, VerifySettings
from reconciler.verify.gate import AppliedInputs, PromotionVerifier
from reconciler.verify.seams import Timing, UrllibProbe
from reconciler.verify.wiring import gate_timing_from
from test_verify_promotion_gate import NOW, gate_over, promoted_blue
from test_verify_robust_errors import one_answer_server
from verify_layout import AlbHttpDouble, TargetHealthDoubleElbv2


def test_a_trickling_answer_is_cut_at_the_request_timeout():
    stop = threading.Event()

    def trickle(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        for _ in range(40):  # 4 s of one header byte every 0.1 s: each read is quick, the answer never ends
            if stop.is_set():
                return
            conn.sendall(b"X")
            time.sleep(0.1)

    port, thread = one_answer_server(trickle)
    started = time.monotonic()
    answer = UrllibProbe().get(f"http://127.0.0.1:{port}/", 0.5)
    elapsed = time.monotonic() - started
    stop.set()
    thread.join(5)
    assert answer.status is None and "within 0.5s" in answer.error
    assert elapsed < 1.5


def test_a_prompt_answer_is_read_whole_with_its_status_and_location():
    port, thread = one_answer_server(lambda c: c.sendall(b"HTTP/1.1 301 Moved\r\nLocation: https://x.example/\r\nContent-Length: 0\r\n\r\n"))
    answer = UrllibProbe().get(f"http://127.0.0.1:{port}/p?q=1", 2)
    thread.join(5)
    assert (answer.status, answer.location, answer.error) == (301, "https://x.example/", None)


def _settings(**verify):
    return ReconcilerSettings.model_validate({"repository": {"url": "file:///r"}, "environments": {}, "verify": verify})


def test_the_default_gate_fits_inside_the_tick_claim_lease():
    settings = _settings()
    assert settings.verify.gate_worst_case_seconds() < settings.ticks.claim_lease_seconds


def test_a_gate_bound_that_reaches_the_claim_lease_is_refused_naming_the_keys():
    with pytest.raises((ValueError, SettingsError)) as info:
        _settings(gateTimeoutSeconds=280)
    text = str(info.value)
    assert "verify.gateTimeoutSeconds" in text and "ticks.claimLeaseSeconds" in text


def test_the_gate_waits_within_its_own_bound_not_the_converges(layout, dev_state, fake_time):
    """The converge's target-health wait (300 s by default) would reach the lease; the gate stops at its own."""
    settings = SimpleNamespace(verify=VerifySettings(), ticks=TickSettings())
    base = gate_timing_from(settings)
    assert base.run_timeout_seconds == settings.verify.gate_timeout_seconds
    timing = Timing(target_health_timeout_seconds=base.target_health_timeout_seconds, poll_seconds=base.poll_seconds,
                    run_timeout_seconds=base.run_timeout_seconds, monotonic=fake_time.monotonic, sleep=fake_time.sleep)
    sick = layout.tasks["svc-frontend-blue-dev"][0]
    inputs = AppliedInputs(outputs=layout.outputs, desired=dev_state, traffic=TrafficState(), commit="c")
    gate = PromotionVerifier(lambda r: inputs, lambda region: layout.clients(elbv2=TargetHealthDoubleElbv2(layout.client("elbv2"), {sick.ip: "unhealthy"})),
                             timing, AlbHttpDouble(layout.client("elbv2"), layout.outputs))
    verdict = gate(promoted_blue(), NOW)
    assert verdict.status == "failed"
    assert fake_time.now <= settings.verify.gate_timeout_seconds + settings.verify.poll_seconds
    assert fake_time.now < settings.ticks.claim_lease_seconds


def test_the_new_colour_must_run_the_rollout_records_image(layout, dev_state, fake_time):
    record = promoted_blue().model_copy(update={"new_image": ImageRef(repository="frontend", tag="9.9.9")})
    verdict = gate_over(layout, dev_state, fake_time)(record, NOW)
    assert verdict.status == "failed", verdict.headline
    [failure] = verdict.failures
    assert failure["name"] == "services.frontend-blue.rollout-image"
    assert failure["evidence"]["runningImages"] and ":9.9.9" in failure["detail"]
    assert decide(record, Observed(verify=verdict), NOW).phase == RolloutPhase.ROLLING_BACK


def test_the_rollout_image_check_passes_when_the_record_names_what_runs(layout, dev_state, fake_time):
    verdict = gate_over(layout, dev_state, fake_time)(promoted_blue(), NOW)
    assert verdict.status == "passed"
    assert "checks of frontend blue passed" in verdict.headline
