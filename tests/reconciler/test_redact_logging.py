"""The logging channel: a RedactingFilter scrubs message, arguments, extra fields, tracebacks and stack info."""

from __future__ import annotations

import base64
import io
import json
import logging
from urllib.parse import quote

import pytest

from reconciler.redact import MASK, RedactingFilter, Redactor

SECRET = "whsec-9Qz/7+Lk2Xp\"41"


@pytest.fixture
def logged():
    """``(logger, output, records)``: a logger whose one handler formats every field and keeps the record."""
    redactor = Redactor([SECRET])
    stream = io.StringIO()
    records: list[logging.LogRecord] = []

    class Keep(logging.StreamHandler):
        def emit(self, record):
            records.append(record)
            super().emit(record)

    handler = Keep(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s | %(fields)s"))
    handler.addFilter(RedactingFilter(redactor))
    logger = logging.getLogger("tests.reconciler.redact.logging")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(handler)
    yield logger, stream, records
    logger.removeHandler(handler)


@pytest.mark.parametrize(
    "encoded",
    [json.dumps(SECRET)[1:-1], quote(SECRET, safe=""), base64.b64encode(SECRET.encode()).decode(), SECRET.upper(), SECRET[:8] + "\n" + SECRET[8:]],
    ids=["json", "url", "base64", "upper", "split"],
)
def test_encoded_secret_in_message_arguments_is_masked(logged, encoded):
    logger, stream, records = logged

    logger.info("upstream said %s", encoded, extra={"fields": "-"})

    assert encoded not in stream.getvalue()
    assert records[0].getMessage() == f"upstream said {MASK}"


def test_credential_named_extra_fields_are_masked_whole(logged):
    logger, stream, records = logged

    logger.info("calling", extra={"fields": "-", "password": 98765432123, "api_token": "plain-value-xyz", "headers": {"Authorization": "Bearer abc"}})

    [record] = records
    assert record.password == MASK
    assert record.api_token == MASK
    assert record.headers == {"Authorization": MASK}


def test_extra_objects_printed_through_str_are_scrubbed(logged):
    logger, stream, records = logged

    class Request:
        def __str__(self) -> str:
            return f"Request(url=https://bot:{SECRET}@git.example/repo)"

    logger.info("sent", extra={"fields": Request()})

    assert SECRET not in stream.getvalue()
    assert records[0].fields == f"Request(url=https://{MASK}@git.example/repo)"


def test_a_call_whose_arguments_do_not_fit_is_still_scrubbed(logged, capsys):
    """logging would print its own error report with the raw arguments; the filter formats it first."""
    logger, stream, records = logged

    logger.info("two values %s %s", SECRET, extra={"fields": "-"})

    assert SECRET not in stream.getvalue()
    assert SECRET not in capsys.readouterr().err
    assert "two values" in stream.getvalue()


def test_traceback_with_a_chained_encoded_secret_is_scrubbed(logged):
    logger, stream, _ = logged

    try:
        try:
            raise ValueError(f"bad token {base64.b64encode(SECRET.encode()).decode()}")
        except ValueError as inner:
            raise RuntimeError(f"clone of https://bot:{SECRET}@git.example/x failed") from inner
    except RuntimeError:
        logger.exception("converge failed", extra={"fields": "-"})

    output = stream.getvalue()
    assert "Traceback (most recent call last)" in output
    assert "The above exception was the direct cause" in output
    assert SECRET not in output
    assert base64.b64encode(SECRET.encode()).decode() not in output


def test_preformatted_exception_text_and_stack_info_are_scrubbed(logged):
    logger, stream, _ = logged
    record = logger.makeRecord(logger.name, logging.ERROR, __file__, 1, "failed", (), None, extra={"fields": "-"})
    record.exc_text = f"Traceback ...\nRuntimeError: {json.dumps(SECRET)}"
    record.stack_info = f"Stack (most recent call last):\n  token={SECRET}"

    logger.handle(record)

    assert SECRET not in stream.getvalue()
    assert json.dumps(SECRET)[1:-1] not in stream.getvalue()
    assert MASK in stream.getvalue()
