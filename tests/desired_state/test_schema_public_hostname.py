"""``edge.publicHostname``: the public host the certificate is for, which verify's HTTPS probe asks as.

A DNS host name alone (no scheme, path or port; lower-case labels; at most 253 characters), and only beside
``edge.certificateArn``: without a certificate there is no TLS name to check.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from desired_state.loader import EXAMPLE_DIR, load_environment
from desired_state.schema import EdgeSpec, semantic_problems

CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/3f1c2a7e-5b9d-4c1e-9a2f-6d7e8b9c0a1b"
EDGE_LINE = "  testListenerPort: 8443\n"


def _with_edge(dev_yaml, *lines: str):
    return dev_yaml.replace(EDGE_LINE, "".join(f"  {line}\n" for line in lines) + EDGE_LINE)


@pytest.mark.parametrize("host", ["app.example.com", "trading.example.co.uk", "a-1.b2.example", "x" * 63 + ".example.com",
                                  ".".join(["a" * 61] * 4) + ".io"])
def test_a_host_name_beside_a_certificate_is_accepted(dev_yaml, accept, host):
    assert len(host) <= 253
    loaded = accept(_with_edge(dev_yaml, f"certificateArn: {CERTIFICATE}", f"publicHostname: {host}"))

    assert loaded.state.edge.public_hostname == host
    assert semantic_problems(loaded.state) == []


def test_it_is_optional_and_absent_by_default(dev_state):
    assert dev_state.edge.public_hostname is None
    assert EdgeSpec().public_hostname is None


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("https://app.example.com", "without a scheme"),
        ("app.example.com/healthz", "without a path"),
        ("app.example.com:443", "without a port"),
        ("App.Example.com", "lower case"),
        ("app..example.com", "empty label"),
        ("app.example.com.", "empty label"),
        ("-app.example.com", "'-app'"),
        ("app_1.example.com", "'app_1'"),
        ("*.example.com", "'*'"),
        ("x" * 64 + ".example.com", "'" + "x" * 64 + "'"),
        (".".join(["a" * 63] * 4) + ".io", "at most 253"),
        ("localhost", "at least two labels"),
        ("10.0.0.1", "not an IP address"),
        ("app.example.com\n", r"'com\n'"),
        ("", "empty"),
    ],
    ids=["scheme", "path", "port", "upper-case", "double-dot", "trailing-dot", "leading-hyphen", "underscore", "wildcard",
         "long-label", "too-long", "one-label", "ip-address", "trailing-newline", "empty"],
)
def test_what_is_not_a_dns_host_name_is_refused_naming_the_field(host, why):
    with pytest.raises(ValidationError) as caught:
        EdgeSpec.model_validate({"certificateArn": CERTIFICATE, "publicHostname": host})

    [error] = caught.value.errors(include_url=False)
    assert error["loc"] == ("publicHostname",)
    assert "edge.publicHostname" in error["msg"] and why in error["msg"]


def test_a_refused_host_name_is_reported_at_its_line(dev_yaml, refuse):
    edited = _with_edge(dev_yaml, f"certificateArn: {CERTIFICATE}", "publicHostname: https://app.example.com/")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "edge.publicHostname", edited.line("publicHostname:"))]
    assert "is not a DNS host name" in refusal.reasons[0] and "without a scheme" in refusal.reasons[0]


def test_a_host_name_that_is_not_a_string_is_refused(dev_yaml, refuse):
    refusal = refuse(_with_edge(dev_yaml, f"certificateArn: {CERTIFICATE}", "publicHostname: 443"))

    assert [p.field for p in refusal.problems] == ["edge.publicHostname"]
    assert "valid string" in refusal.reasons[0]


def test_a_public_host_without_a_certificate_is_refused_at_the_field(dev_yaml, refuse):
    edited = _with_edge(dev_yaml, "publicHostname: app.example.com")

    refusal = refuse(edited)

    assert refusal.where() == [(refusal.file, "edge.publicHostname", edited.line("publicHostname:"))]
    assert "edge.certificateArn is not set" in refusal.reasons[0]


def test_a_public_host_without_a_certificate_is_a_semantic_problem_of_a_valid_state(dev_state):
    state = dev_state.model_copy(update={"edge": EdgeSpec.model_validate({"publicHostname": "app.example.com"})})

    problems = semantic_problems(state)

    assert [path for path, _ in problems] == [("edge", "publicHostname")]
    assert "'app.example.com'" in problems[0][1] and "certificateArn" in problems[0][1]


def test_the_missing_certificate_is_reported_beside_another_edge_refusal(dev_yaml, refuse):
    edited = _with_edge(dev_yaml, "sslPolicy: ELBSecurityPolicy-2016-08", "publicHostname: app.example.com")

    refusal = refuse(edited)

    assert sorted(p.field for p in refusal.problems) == ["edge.publicHostname", "edge.sslPolicy"]
    assert any("edge.certificateArn is not set" in p.reason for p in refusal.problems if p.field == "edge.publicHostname")


def test_a_refused_certificate_leaves_the_host_name_to_the_certificates_problem(dev_yaml, refuse):
    refusal = refuse(_with_edge(dev_yaml, "certificateArn: not-an-arn", "publicHostname: app.example.com"))

    assert [p.field for p in refusal.problems] == ["edge.certificateArn"]


def test_the_prod_example_with_its_certificate_names_its_public_host():
    loaded = load_environment(EXAMPLE_DIR, "prod")

    assert loaded.state.edge.certificate_arn is not None
    assert loaded.state.edge.public_hostname is not None
    assert semantic_problems(loaded.state) == []
