"""The worker's JSON log lines (ECS_GITOPS_LOG_FORMAT=json) carry a job's outcome, so template.yaml's
ConvergeFailedMetricFilter counts failed converges and nothing else.

No CloudWatch Logs here: :func:`filter_matches` evaluates the JSON filter-pattern form the template
uses (``{ $.field = "value" && ... }``, as the CloudWatch Logs User Guide's "Filter pattern syntax
for JSON log events" describes it) and refuses any other form, so a pattern it cannot read fails.
"""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import pytest
import yaml

from reconciler.structured_log import LOG_FORMAT_ENV, JsonLogFormatter, configure_logging

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


class _Loader(yaml.SafeLoader):
    """template.yaml with its intrinsics kept as tags (only plain properties are read here)."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _filter_pattern() -> str:
    template = yaml.load(TEMPLATE.read_text(), Loader=_Loader)
    return template["Resources"]["ConvergeFailedMetricFilter"]["Properties"]["FilterPattern"]


def filter_matches(pattern: str, line: str) -> bool:
    body = re.fullmatch(r"\{\s*(.*?)\s*\}", pattern)
    if body is None:
        raise ValueError(f"not a JSON filter pattern: {pattern!r}")
    try:
        event = json.loads(line)
    except ValueError:
        return False  # a JSON pattern never matches a plain-text line
    for term in body[1].split("&&"):
        found = re.fullmatch(r'\s*\$\.([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*"([^"]*)"\s*', term)
        if found is None:
            raise ValueError(f"filter term this matcher does not implement: {term!r}")
        value = event
        for key in found[1].split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if value != found[2]:
            return False
    return True


def test_the_matcher_reads_the_json_form_only():
    assert filter_matches('{ $.a = "x" && $.b.c = "y" }', '{"a": "x", "b": {"c": "y"}}')
    assert not filter_matches('{ $.a = "x" && $.b.c = "y" }', '{"a": "x", "b": {"c": "z"}}')
    assert not filter_matches('{ $.a = "x" }', "2026-01-01 INFO a x")
    with pytest.raises(ValueError):
        filter_matches('{ $.a != "x" }', '{"a": "y"}')


def test_a_json_line_has_the_message_level_logger_and_every_extra_field():
    record = logging.LogRecord("ecs_gitops.converge", logging.INFO, __file__, 1, "job %s", ("finished",), None)
    record.stack, record.outcome = "dev", "failed"
    line = json.loads(JsonLogFormatter().format(record))
    assert {k: line[k] for k in ("message", "level", "logger", "stack", "outcome")} == {
        "message": "job finished", "level": "INFO", "logger": "ecs_gitops.converge", "stack": "dev", "outcome": "failed",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])


def test_a_traceback_is_one_field_of_the_one_line():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        record = logging.LogRecord("w", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    text = JsonLogFormatter().format(record)
    assert "\n" not in text and "RuntimeError: boom" in json.loads(text)["traceback"]


def test_configure_logging_is_json_only_when_asked():
    root = logging.getLogger()
    saved = root.handlers[:]
    try:
        root.handlers = []
        configure_logging({LOG_FORMAT_ENV: "json"})
        assert isinstance(root.handlers[-1].formatter, JsonLogFormatter)
        root.handlers = []
        configure_logging({})
        assert not isinstance(root.handlers[-1].formatter, JsonLogFormatter)
    finally:
        root.handlers = saved


def test_the_metric_filter_counts_a_failed_converge_and_not_a_successful_one(harness, git_repo, engine):
    """The converger's own "job finished" lines, formatted as the worker writes them in the task."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter())
    logger = logging.getLogger("ecs_gitops.converge")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        assert harness.run(harness.job(git_repo.head)).outcome == "succeeded"
        engine.fail_with_engine_error("up", "aws:ecs/service:Service svc-frontend-blue-dev: ResourceInUse")
        assert harness.run(harness.job(git_repo.bump("dev"))).outcome == "failed"
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    finished = [line for line in stream.getvalue().splitlines() if json.loads(line)["message"] == "job finished"]
    assert [json.loads(line)["outcome"] for line in finished] == ["succeeded", "failed"]
    pattern = _filter_pattern()
    assert [filter_matches(pattern, line) for line in finished] == [False, True]
