"""The smoke check of the test listener with a certificate: the listener serves the ACM certificate, which
cannot name the ALB's own DNS name the URL connects to, so the request asks as edge.publicHostname (TLS
name and Host). Before, every prod smoke check failed on the name (status 0) and every rollout rolled back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reconciler.rollout.observe import http_get
from reconciler.verify.seams import UrllibProbe
from tests.reconciler.verify.test_probe_tls import PUBLIC_HOST, TlsServer, pki, serve_tls  # noqa: F401 - pki is a fixture


@pytest.fixture
def listener(pki) -> Iterator[TlsServer]:  # noqa: F811 - the imported fixture
    yield from serve_tls(pki["server"])


@pytest.fixture
def trusting(pki) -> UrllibProbe:  # noqa: F811
    return UrllibProbe(ca_file=str(pki["ca"]))


def test_the_smoke_request_asks_as_the_public_host_and_checks_the_certificate_names_it(listener, trusting):
    url = f"https://127.0.0.1:{listener.port}/healthz"
    assert http_get(url, 5, public_host=PUBLIC_HOST, probe=trusting) == 200
    assert listener.server_names == [PUBLIC_HOST] and listener.host_headers == [PUBLIC_HOST]


def test_without_a_public_host_the_chain_is_checked_not_the_name(listener, trusting):
    assert http_get(f"https://127.0.0.1:{listener.port}/healthz", 5, probe=trusting) == 200


def test_a_public_host_the_certificate_does_not_name_gets_no_answer(listener, trusting):
    assert http_get(f"https://127.0.0.1:{listener.port}/healthz", 5, public_host="other.example.com", probe=trusting) == 0


def test_an_untrusted_certificate_gets_no_answer(listener):
    assert http_get(f"https://127.0.0.1:{listener.port}/healthz", 5, public_host=PUBLIC_HOST) == 0  # the system's trust


def test_a_redirect_is_its_status_not_followed(listener, trusting):
    assert http_get(f"https://127.0.0.1:{listener.port}/moved", 5, public_host=PUBLIC_HOST, probe=trusting) == 301
