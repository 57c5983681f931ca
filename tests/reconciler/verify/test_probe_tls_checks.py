"""The traffic checks with a certificate: the health probe asks as ``edge.publicHostname`` (the name the certificate
is for) over a connection to the ALB's DNS name; without it the chain alone is checked and the check says so.

The HTTPS answers come from a real local TLS server (``test_probe_tls``) standing where the ALB's address would be:
the stack's ``albDnsName`` output is pointed at it, the rest of the account is the moto layout.
"""

from __future__ import annotations

import pytest
from test_probe_tls import PUBLIC_HOST, pki, serve_tls  # noqa: F401 - pki is a fixture used here
from verify_layout import AlbHttpDouble

from desired_state.schema import EdgeSpec
from reconciler.verify.run import verify_environment
from reconciler.verify.seams import HttpAnswer, Timing, UrllibProbe

CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/3f1c2a7e-5b9d-4c1e-9a2f-6d7e8b9c0a1b"


def with_edge(state, **fields):
    """The state with its edge section re-validated through the schema (camelCase keys, as git holds them)."""
    edge = EdgeSpec.model_validate({**state.edge.model_dump(by_alias=True), **fields})
    return state.model_copy(update={"edge": edge})


@pytest.fixture
def tls_server(pki):  # noqa: F811 - the imported fixture
    yield from serve_tls(pki["server"])


@pytest.fixture
def unknown_ca_server(pki):  # noqa: F811
    yield from serve_tls(pki["from-unknown-ca"])


def _traffic(layout, state, http, fake_time, outputs=None):
    report = verify_environment(environment="dev", outputs=outputs or layout.outputs, desired=state, traffic=None, clients=layout.clients(),
                                http=http, timing=Timing(monotonic=fake_time.monotonic, sleep=fake_time.sleep), groups=["traffic"])
    return {r.name: r for r in report.results}


def _health_against(server, layout, state, pki, fake_time):  # noqa: F811
    # The ALB's DNS name as the stack reports it, here the local server's address: the probe connects there.
    outputs = {**layout.outputs, "albDnsName": f"127.0.0.1:{server.port}"}
    return _traffic(layout, state, UrllibProbe(ca_file=str(pki["ca"])), fake_time, outputs)["traffic.frontend-health"]


def test_with_the_public_host_the_health_probe_passes_and_checked_the_name(layout, dev_state, tls_server, pki, fake_time):  # noqa: F811
    state = with_edge(dev_state, certificateArn=CERTIFICATE, publicHostname=PUBLIC_HOST)

    check = _health_against(tls_server, layout, state, pki, fake_time)

    assert check.status == "pass", (check.detail, check.evidence)
    assert check.evidence["hostnameChecked"] is True and check.evidence["publicHost"] == PUBLIC_HOST
    assert check.evidence["url"] == f"https://127.0.0.1:{tls_server.port}/healthz"
    assert tls_server.server_names == [PUBLIC_HOST] and tls_server.host_headers == [PUBLIC_HOST]


def test_with_a_certificate_and_no_public_host_the_chain_is_checked_and_the_check_says_to_name_the_host(
    layout, dev_state, tls_server, pki, fake_time  # noqa: F811
):
    state = with_edge(dev_state, certificateArn=CERTIFICATE)

    check = _health_against(tls_server, layout, state, pki, fake_time)

    assert check.status == "pass", (check.detail, check.evidence)
    assert check.evidence["hostnameChecked"] is False and check.evidence["publicHost"] is None
    assert "edge.publicHostname" in check.detail


def test_a_public_host_the_certificate_does_not_name_fails(layout, dev_state, tls_server, pki, fake_time):  # noqa: F811
    state = with_edge(dev_state, certificateArn=CERTIFICATE, publicHostname="shop.example.com")

    check = _health_against(tls_server, layout, state, pki, fake_time)

    assert check.status == "fail"
    assert check.evidence["status"] is None and "shop.example.com" in check.evidence["error"]


@pytest.mark.parametrize("public", [{"publicHostname": PUBLIC_HOST}, {}], ids=["public-host", "chain-only"])
def test_a_certificate_from_an_unknown_ca_fails(layout, dev_state, unknown_ca_server, pki, fake_time, public):  # noqa: F811
    state = with_edge(dev_state, certificateArn=CERTIFICATE, **public)

    check = _health_against(unknown_ca_server, layout, state, pki, fake_time)

    assert check.status == "fail"
    assert "CERTIFICATE_VERIFY_FAILED" in check.evidence["error"]


class RedirectDouble:
    """An ALB whose port 80 answers 301 to ``location``; its HTTPS answers 200.

    Why a double: the ALB's DNS name resolves nowhere here; this stands for what a client would get.
    """

    def __init__(self, location: str):
        self.location = location
        self.asked: list[tuple[str, str | None]] = []

    def get(self, url: str, timeout: float, *, public_host: str | None = None, check_hostname: bool = True) -> HttpAnswer:
        self.asked.append((url, public_host))
        return HttpAnswer(status=301, location=self.location) if url.startswith("http://") else HttpAnswer(status=200)


def test_port_80_asked_as_the_public_host_may_redirect_to_it(layout, dev_state, redirect_to, fake_time):
    redirect_to()
    state = with_edge(dev_state, certificateArn=CERTIFICATE, publicHostname=PUBLIC_HOST)
    http = RedirectDouble(f"https://{PUBLIC_HOST}:443/")

    check = _traffic(layout, state, http, fake_time)["traffic.alb-answers"]

    assert check.status == "pass", (check.detail, check.evidence)
    assert check.evidence["locationHost"] == PUBLIC_HOST
    dns = layout.outputs["albDnsName"]
    assert http.asked == [(f"http://{dns}/", PUBLIC_HOST), (f"https://{dns}/healthz", PUBLIC_HOST)]


def test_the_alb_double_fills_the_redirect_with_the_host_asked(layout, dev_state, redirect_to, fake_time):
    redirect_to()
    state = with_edge(dev_state, certificateArn=CERTIFICATE, publicHostname=PUBLIC_HOST)

    checks = _traffic(layout, state, AlbHttpDouble(layout.client("elbv2"), layout.outputs), fake_time)

    assert checks["traffic.alb-answers"].status == "pass", checks["traffic.alb-answers"].detail
    assert checks["traffic.alb-answers"].evidence["location"].startswith(f"https://{PUBLIC_HOST}:443/")


@pytest.mark.parametrize("public", [{"publicHostname": PUBLIC_HOST}, {}], ids=["public-host", "no-public-host"])
def test_a_redirect_to_another_host_still_fails(layout, dev_state, redirect_to, fake_time, public):
    redirect_to()
    state = with_edge(dev_state, certificateArn=CERTIFICATE, **public)

    check = _traffic(layout, state, RedirectDouble("https://attacker.example/"), fake_time)["traffic.alb-answers"]

    assert check.status == "fail"
    assert check.evidence["locationHost"] == "attacker.example" and "attacker.example" in check.detail


def test_without_a_public_host_a_redirect_to_the_alb_name_passes_and_to_another_name_fails(layout, dev_state, redirect_to, fake_time):
    redirect_to()
    state = with_edge(dev_state, certificateArn=CERTIFICATE)
    dns = layout.outputs["albDnsName"]

    assert _traffic(layout, state, RedirectDouble(f"https://{dns}:443/"), fake_time)["traffic.alb-answers"].status == "pass"
    assert _traffic(layout, state, RedirectDouble(f"https://{PUBLIC_HOST}:443/"), fake_time)["traffic.alb-answers"].status == "fail"
