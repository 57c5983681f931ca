"""With a certificate, port 80 must redirect to HTTPS on the host that was asked, not to another host."""

from __future__ import annotations

import pytest
from verify_layout import AlbHttpDouble

from reconciler.verify.run import verify_environment
from reconciler.verify.seams import HttpAnswer, Timing

CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/3f1c2a7e-5b9d-4c1e-9a2f-6d7e8b9c0a1b"


class RedirectElsewhereDouble:
    """An ALB whose port 80 answers 301 to another host, whatever its listener says.

    Why a double: the ALB's DNS name resolves nowhere here; this stands for what a client would get.
    """

    def __init__(self, location: str):
        self.location = location

    def get(self, url: str, timeout: float, **asked_as: object) -> HttpAnswer:
        return HttpAnswer(status=301, location=self.location) if url.startswith("http://") else HttpAnswer(status=200)


@pytest.fixture
def with_certificate(dev_state):
    return dev_state.model_copy(update={"edge": dev_state.edge.model_copy(update={"certificate_arn": CERTIFICATE})})


def _alb_answers(layout, state, http, fake_time):
    report = verify_environment(environment="dev", outputs=layout.outputs, desired=state, traffic=None, clients=layout.clients(), http=http,
                                timing=Timing(monotonic=fake_time.monotonic, sleep=fake_time.sleep), groups=["traffic"])
    return next(r for r in report.results if r.name == "traffic.alb-answers")


@pytest.mark.parametrize("extra", [{}, {"Host": "#{host}"}])
def test_a_redirect_to_the_asked_host_passes(layout, with_certificate, redirect_to, fake_time, extra):
    redirect_to(**extra)
    check = _alb_answers(layout, with_certificate, AlbHttpDouble(layout.client("elbv2"), layout.outputs), fake_time)
    assert check.status == "pass", (check.detail, check.evidence)


def test_a_listener_redirecting_to_another_host_fails(layout, with_certificate, redirect_to, fake_time):
    redirect_to(Host="attacker.example")
    check = _alb_answers(layout, with_certificate, AlbHttpDouble(layout.client("elbv2"), layout.outputs), fake_time)
    assert check.status == "fail"
    assert check.evidence["redirectHost"] == "attacker.example"
    assert check.evidence["location"].startswith("https://attacker.example:443/")


def test_an_answer_redirecting_to_another_host_fails(layout, with_certificate, redirect_to, fake_time):
    redirect_to()
    check = _alb_answers(layout, with_certificate, RedirectElsewhereDouble("https://attacker.example/"), fake_time)
    assert check.status == "fail"
    assert check.evidence["locationHost"] == "attacker.example"
    assert "attacker.example" in check.detail
