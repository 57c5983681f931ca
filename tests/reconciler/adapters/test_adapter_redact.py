"""Redaction of registered secrets and credential shapes, in text and in log records."""

from __future__ import annotations

import io
import logging

import pytest

from reconciler.redact import MASK, RedactingFilter, Redactor

PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n"
    "-----END RSA PRIVATE KEY-----"
)
OPENSSH = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----"


def test_registered_secret_is_masked_everywhere():
    redactor = Redactor(["whsec-test-3f9a1c7e5b2d"])

    text = redactor.scrub("key=whsec-test-3f9a1c7e5b2d and again whsec-test-3f9a1c7e5b2d.")

    assert text == f"key={MASK} and again {MASK}."


def test_bytes_secret_and_longest_first():
    redactor = Redactor()
    redactor.add(b"passphrase-123")
    redactor.add("passphrase-123-extended")

    assert redactor.scrub("a passphrase-123-extended b passphrase-123") == f"a {MASK} b {MASK}"


def test_short_and_empty_secrets_are_ignored_so_words_survive():
    redactor = Redactor(["abc", "", None, "dev"])  # type: ignore[list-item]

    assert redactor.scrub("abc dev") == "abc dev"


def test_secrets_from_the_environment():
    redactor = Redactor()
    redactor.add_environment({"PULUMI_CONFIG_PASSPHRASE": "correct-horse-battery", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "HOME": "/root/home"})

    text = redactor.scrub("pass=correct-horse-battery secret=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY home=/root/home")

    assert text == f"pass={MASK} secret={MASK} home=/root/home"


@pytest.mark.parametrize("key", ["AKIAIOSFODNN7EXAMPLE", "ASIAY34FZKBOKMUTVV7A"])
def test_aws_access_key_ids_are_masked_without_registration(key):
    assert Redactor().scrub(f"using {key} for the call") == f"using {MASK} for the call"


def test_url_passwords_are_masked():
    text = Redactor().scrub("cloning https://git-user:ghp_abcDEF123456@github.com/example-org/desired-state.git now")

    assert "ghp_abcDEF123456" not in text
    assert text == f"cloning https://{MASK}@github.com/example-org/desired-state.git now"


def test_url_without_credentials_is_unchanged():
    text = "fetch https://github.com/example-org/desired-state.git and s3://bucket/key@v1"

    assert Redactor().scrub(text) == text


@pytest.mark.parametrize("pem", [PEM, OPENSSH])
def test_private_keys_are_masked_whole(pem):
    text = Redactor().scrub(f"key follows:\n{pem}\nend")

    assert text == f"key follows:\n{MASK}\nend"
    assert "MIIEow" not in text and "b3BlbnNzaC1rZXkt" not in text


def test_public_key_and_certificate_are_left_alone():
    certificate = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----"

    assert Redactor().scrub(certificate) == certificate


def test_scrub_value_walks_nested_structures():
    redactor = Redactor(["s3cr3t-value"])

    value = redactor.scrub_value({"a": ["x s3cr3t-value", ("AKIAIOSFODNN7EXAMPLE", 3)], "b": {"c": "s3cr3t-value"}, "n": 5, "none": None})

    assert value == {"a": [f"x {MASK}", [MASK, 3]], "b": {"c": MASK}, "n": 5, "none": None}


@pytest.fixture
def logger_with_filter():
    redactor = Redactor(["whsec-test-3f9a1c7e5b2d"])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s job=%(job)s url=%(url)s"))
    handler.addFilter(RedactingFilter(redactor))
    logger = logging.getLogger("tests.reconciler.adapters.redact")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(handler)
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    keep = Keep()
    keep.addFilter(RedactingFilter(redactor))
    logger.addHandler(keep)
    yield logger, stream, records
    logger.removeHandler(handler)
    logger.removeHandler(keep)


def test_redacting_filter_scrubs_message_args_and_extra_fields(logger_with_filter):
    logger, stream, records = logger_with_filter

    logger.info(
        "secret %s and key %s",
        "whsec-test-3f9a1c7e5b2d",
        "AKIAIOSFODNN7EXAMPLE",
        extra={"job": {"token": "whsec-test-3f9a1c7e5b2d", "n": 1}, "url": "https://u:hunter22@example.com/repo"},
    )

    output = stream.getvalue()
    assert "whsec-test-3f9a1c7e5b2d" not in output
    assert "AKIAIOSFODNN7EXAMPLE" not in output
    assert "hunter22" not in output
    assert output.startswith(f"INFO secret {MASK} and key {MASK} ")
    [record] = records
    assert record.getMessage() == f"secret {MASK} and key {MASK}"
    assert record.args == ()
    assert record.job == {"token": MASK, "n": 1}
    assert record.url == f"https://{MASK}@example.com/repo"


def test_redacting_filter_keeps_standard_record_fields(logger_with_filter):
    logger, _, records = logger_with_filter

    logger.warning("plain message", extra={"job": "j1", "url": "none"})

    [record] = records
    assert record.levelname == "WARNING"
    assert record.name == "tests.reconciler.adapters.redact"
    assert record.job == "j1"


def test_redacting_filter_scrubs_exception_text(logger_with_filter):
    """A traceback is part of what leaves the process; a secret in an exception message must not."""
    logger, stream, _ = logger_with_filter

    try:
        raise RuntimeError("auth failed for whsec-test-3f9a1c7e5b2d")
    except RuntimeError:
        logger.exception("converge failed", extra={"job": "j1", "url": "none"})

    assert "whsec-test-3f9a1c7e5b2d" not in stream.getvalue()


def test_a_token_alone_in_a_url_is_scrubbed_as_well_as_user_and_password():
    from reconciler.redact import Redactor, strip_url_credentials

    text = "fatal: unable to access 'https://ghp_Abc123Def456@github.com/org/desired-state.git/' and https://bot:hunter22@git.example/x"
    scrubbed = Redactor().scrub(text)
    assert "ghp_Abc123Def456" not in scrubbed and "hunter22" not in scrubbed and "bot" not in scrubbed
    assert "https://[redacted]@github.com/org/desired-state.git/" in scrubbed
    assert strip_url_credentials(text) == scrubbed
