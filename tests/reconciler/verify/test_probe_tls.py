"""The HTTPS probe against a real local TLS server whose certificate names the public host, not the address asked.

Verify reaches the ALB by its DNS name (``*.elb.amazonaws.com``), which no ACM certificate can name: the
certificate is for the site's public host. Here the server listens on 127.0.0.1 with a certificate for
``app.example.com`` from a CA generated for the test (``cryptography``), so the probe meets the same mismatch.
"""

from __future__ import annotations

import datetime
import http.server
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from reconciler.verify.seams import UrllibProbe

PUBLIC_HOST = "app.example.com"


@dataclass(frozen=True)
class Authority:
    name: str
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    pem: Path


@dataclass(frozen=True)
class ServerFiles:
    cert: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return builder.not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))


def make_authority(directory: Path, name: str) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _validity(x509.CertificateBuilder())
        .subject_name(_name(name)).issuer_name(_name(name)).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = directory / f"{name}.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Authority(name, key, cert, pem)


def issue_server_certificate(directory: Path, authority: Authority, dns_name: str) -> ServerFiles:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _validity(x509.CertificateBuilder())
        .subject_name(_name(dns_name)).issuer_name(authority.cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.key.public_key()), critical=False)
        .sign(authority.key, hashes.SHA256())
    )
    stem = directory / f"{authority.name}-{dns_name}"
    files = ServerFiles(stem.with_suffix(".crt"), stem.with_suffix(".key"))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return files


@dataclass
class TlsServer:
    """A local HTTPS server: what each request asked for (SNI, Host header) is recorded."""

    port: int
    server_names: list[str | None] = field(default_factory=list)
    host_headers: list[str | None] = field(default_factory=list)


def _handler(seen: TlsServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            seen.host_headers.append(self.headers.get("Host"))
            if self.path == "/moved":
                self.send_response(301)
                self.send_header("Location", f"https://{PUBLIC_HOST}/elsewhere")
            else:
                self.send_response(200 if self.path == "/healthz" else 503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, object]:
    directory = tmp_path_factory.mktemp("tls")
    trusted = make_authority(directory, "trusted-ca")
    unknown = make_authority(directory, "unknown-ca")
    return {
        "ca": trusted.pem,
        "server": issue_server_certificate(directory, trusted, PUBLIC_HOST),
        "from-unknown-ca": issue_server_certificate(directory, unknown, PUBLIC_HOST),
    }


def serve_tls(files: ServerFiles) -> Iterator[TlsServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.cert, files.key)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), None)  # type: ignore[arg-type]
    seen = TlsServer(port=server.server_address[1])
    server.RequestHandlerClass = _handler(seen)
    context.sni_callback = lambda _sock, name, _ctx: seen.server_names.append(name)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        assert not thread.is_alive()


@pytest.fixture
def tls_server(pki) -> Iterator[TlsServer]:
    yield from serve_tls(pki["server"])


@pytest.fixture
def unknown_ca_server(pki) -> Iterator[TlsServer]:
    yield from serve_tls(pki["from-unknown-ca"])


@pytest.fixture
def probe(pki) -> UrllibProbe:
    return UrllibProbe(ca_file=str(pki["ca"]))


@pytest.mark.parametrize("address", ["127.0.0.1", "localhost"])
def test_the_public_host_is_the_tls_name_and_the_host_header_while_the_connection_goes_to_the_address(tls_server, probe, address):
    answer = probe.get(f"https://{address}:{tls_server.port}/healthz", 2, public_host=PUBLIC_HOST)

    assert (answer.status, answer.error, answer.hostname_checked) == (200, None, True)
    assert tls_server.server_names == [PUBLIC_HOST]
    assert tls_server.host_headers == [PUBLIC_HOST]


def test_without_a_public_host_the_chain_alone_is_checked_and_the_answer_says_so(tls_server, probe):
    answer = probe.get(f"https://127.0.0.1:{tls_server.port}/healthz", 2, check_hostname=False)

    assert (answer.status, answer.error, answer.hostname_checked) == (200, None, False)


def test_by_default_the_certificate_must_name_the_host_of_the_url(tls_server, probe):
    # The reviewer's finding, as the probe's default: asked by the ALB's name, a certificate for the public host fails.
    answer = probe.get(f"https://localhost:{tls_server.port}/healthz", 2)

    assert answer.status is None
    assert "CERTIFICATE_VERIFY_FAILED" in answer.error and "localhost" in answer.error


def test_a_certificate_naming_another_host_fails(tls_server, probe):
    answer = probe.get(f"https://127.0.0.1:{tls_server.port}/healthz", 2, public_host="shop.example.com")

    assert answer.status is None
    assert "CERTIFICATE_VERIFY_FAILED" in answer.error and "shop.example.com" in answer.error


@pytest.mark.parametrize("tls", [{"public_host": PUBLIC_HOST}, {"check_hostname": False}], ids=["public-host", "chain-only"])
def test_a_certificate_from_an_unknown_ca_fails(unknown_ca_server, probe, tls):
    answer = probe.get(f"https://127.0.0.1:{unknown_ca_server.port}/healthz", 2, **tls)

    assert answer.status is None
    assert "CERTIFICATE_VERIFY_FAILED" in answer.error and "unable to get local issuer certificate" in answer.error


def test_the_system_trust_does_not_know_the_test_ca(tls_server):
    answer = UrllibProbe().get(f"https://127.0.0.1:{tls_server.port}/healthz", 2, public_host=PUBLIC_HOST)

    assert answer.status is None and "CERTIFICATE_VERIFY_FAILED" in answer.error


def test_a_redirect_over_the_public_host_connection_is_reported_not_followed(tls_server, probe):
    answer = probe.get(f"https://127.0.0.1:{tls_server.port}/moved", 2, public_host=PUBLIC_HOST)

    assert (answer.status, answer.location) == (301, f"https://{PUBLIC_HOST}/elsewhere")
    assert tls_server.host_headers == [PUBLIC_HOST]  # the Location was not fetched


def test_a_server_that_never_completes_the_handshake_is_cut_at_the_deadline(probe):
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    done = threading.Event()

    def hold() -> None:
        listener.settimeout(2)
        try:
            accepted.append(listener.accept()[0])  # accept the connection, never answer the ClientHello
        except OSError:
            pass
        done.wait(3)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    started = time.monotonic()
    answer = probe.get(f"https://127.0.0.1:{listener.getsockname()[1]}/healthz", 0.5, public_host=PUBLIC_HOST)
    elapsed = time.monotonic() - started
    done.set()
    thread.join(5)
    for conn in accepted:
        conn.close()
    listener.close()
    assert answer.status is None and answer.error
    assert elapsed < 1.5


class _PlainHandler(http.server.BaseHTTPRequestHandler):
    hosts: list[str | None] = []

    def do_GET(self):  # noqa: N802 - the stdlib's name
        type(self).hosts.append(self.headers.get("Host"))
        self.send_response(301)
        self.send_header("Location", f"https://{self.headers.get('Host')}:443/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_plain_http_asks_with_the_public_host_as_host_header():
    handler = type("Handler", (_PlainHandler,), {"hosts": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        answer = UrllibProbe().get(f"http://127.0.0.1:{server.server_address[1]}/", 2, public_host=PUBLIC_HOST)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert (answer.status, answer.location, answer.hostname_checked) == (301, f"https://{PUBLIC_HOST}:443/", None)
    assert handler.hosts == [PUBLIC_HOST]


def test_a_trust_file_that_cannot_be_read_is_an_answer_without_status(tmp_path, tls_server):
    answer = UrllibProbe(ca_file=str(tmp_path / "missing.pem")).get(f"https://127.0.0.1:{tls_server.port}/healthz", 2, public_host=PUBLIC_HOST)

    assert answer.status is None and "FileNotFoundError" in answer.error
