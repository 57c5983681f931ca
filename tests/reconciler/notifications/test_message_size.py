"""The SNS message structure stays within its byte budget, giving way in a fixed order."""

from __future__ import annotations

import json

from reconciler.notifications import message_size, structured_message


def _email(limit: int) -> str:
    return ("e" * 50_000)[:limit]


def test_everything_goes_out_when_it_fits():
    event = {"kind": "converge-succeeded", "jobId": "j1"}

    structure = structured_message(event, _email, email_limit=2_000, https='{"version": "1.0"}')

    assert set(structure) == {"default", "sqs", "lambda", "email", "https"}
    assert json.loads(structure["sqs"]) == event and structure["email"] == "e" * 2_000


def test_the_email_gives_way_before_the_json_is_cut():
    event = {"kind": "converge-failed", "error": "x" * 30_000}

    structure = structured_message(event, _email, email_limit=40_000, https=None, budget=50_000)

    assert message_size(structure) <= 50_000
    assert set(structure) == {"default", "email"}
    assert json.loads(structure["default"]) == event  # whole
    assert 1_000 <= len(structure["email"]) < 40_000


def test_the_json_is_cut_to_its_top_level_fields_last():
    event = {"kind": "converge-failed", "jobId": "j1", "attempt": 2, "error": "x" * 30_000, "plan": {"create": 1}}

    structure = structured_message(event, _email, email_limit=40_000, https=None, budget=2_000)

    assert message_size(structure) <= 2_000
    cut = json.loads(structure["default"])
    assert cut["truncated"] is True and (cut["kind"], cut["jobId"], cut["attempt"]) == ("converge-failed", "j1", 2)
    assert "plan" not in cut and len(cut["error"]) <= 103
