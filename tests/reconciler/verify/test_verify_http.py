"""The HTTP checks: port 80 redirects to HTTPS when a certificate is configured, forwards otherwise; the probe itself."""

from __future__ import annotations

import http.server
import threading

import pytest

from reconciler.verify.seams import UrllibProbe
from verify_layout import AlbHttpDouble

CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/3f1c2a7e-5b9d-4c1e-9a2f-6d7e8b9c0a1b"


def with_certificate(state):
    return state.model_copy(update={"edge": state.edge.model_copy(update={"certificate_arn": CERTIFICATE})})


def _check(report, name):
    return next(r for r in report.results if r.name == name)


@pytest.fixture
def redirecting_port_80(layout, undo):
    elbv2 = layout.client("elbv2")
    arn = layout.outputs["listenerArns"]["http"]
    before = elbv2.describe_listeners(ListenerArns=[arn])["Listeners"][0]["DefaultActions"]
    undo(lambda: elbv2.modify_listener(ListenerArn=arn, DefaultActions=before))
    elbv2.modify_listener(ListenerArn=arn, DefaultActions=[
        {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}
    ])


def test_with_a_certificate_port_80_redirects_to_https(layout, dev_state, redirecting_port_80):
    from reconciler.verify.run import verify_environment

    http = AlbHttpDouble(layout.client("elbv2"), {**layout.outputs, "listenerArns": {**layout.outputs["listenerArns"], "https": layout.outputs["listenerArns"]["test"]}})
    report = verify_environment(environment="dev", outputs=layout.outputs, desired=with_certificate(dev_state), traffic=None,
                                clients=layout.clients(), http=http, groups=["traffic"])
    answers = _check(report, "traffic.alb-answers")
    assert answers.status == "pass", answers
    assert answers.evidence["status"] == 301 and answers.evidence["location"].startswith("https://")
    assert _check(report, "traffic.frontend-health").evidence["url"].startswith("https://")


def test_with_a_certificate_a_port_80_that_forwards_fails(layout, dev_state):
    from reconciler.verify.run import verify_environment

    report = verify_environment(environment="dev", outputs=layout.outputs, desired=with_certificate(dev_state), traffic=None,
                                clients=layout.clients(), http=AlbHttpDouble(layout.client("elbv2"), layout.outputs), groups=["traffic"])
    answers = _check(report, "traffic.alb-answers")
    assert answers.status == "fail"
    assert (answers.evidence["listenerAction"], answers.evidence["status"], answers.evidence["certificateConfigured"]) == ("forward", 200, True)


def test_without_a_certificate_a_redirect_fails(layout, run_verify, redirecting_port_80):
    answers = _check(run_verify(groups=["traffic"]), "traffic.alb-answers")
    assert answers.status == "fail"
    assert answers.evidence["status"] == 301 and answers.evidence["listenerAction"] == "redirect"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the stdlib's name
        if self.path == "/moved":
            self.send_response(301)
            self.send_header("Location", "https://example.invalid/")
        else:
            self.send_response(200 if self.path == "/healthz" else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_probe_reports_status_and_redirects_without_following_them():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        probe = UrllibProbe()
        assert probe.get(f"{base}/healthz", 2).status == 200
        moved = probe.get(f"{base}/moved", 2)
        assert (moved.status, moved.location) == (301, "https://example.invalid/")
        assert probe.get(f"{base}/down", 2).status == 503
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    refused = UrllibProbe().get(f"{base}/healthz", 2)
    assert refused.status is None and refused.error
