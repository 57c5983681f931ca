"""A crashed process's traceback: format_exception_scrubbed and Redactor.scrub_traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import reconciler
from reconciler.redact import MASK, Redactor, format_exception_scrubbed

SECRET = "pp-Zq81x-correct-horse-battery"


def _raise_chained():
    try:
        raise KeyError({"password": "not-registered-9f8e7d", "url": "https://u:hunter22@h/x"})
    except KeyError as exc:
        error = RuntimeError(f"stack config rejected: {json.dumps({'passphrase': SECRET})}")
        error.add_note(f"while using token {SECRET.upper()}")
        raise error from exc


def test_format_exception_scrubbed_masks_the_whole_chain_and_its_notes():
    redactor = Redactor([SECRET])
    try:
        _raise_chained()
    except RuntimeError as exc:
        text = format_exception_scrubbed(type(exc), exc, exc.__traceback__, redactor)

    assert "Traceback (most recent call last)" in text and "_raise_chained" in text
    assert "RuntimeError" in text and "KeyError" in text
    for leaked in (SECRET, SECRET.upper(), "not-registered-9f8e7d", "hunter22"):
        assert leaked not in text
    assert MASK in text


def test_scrub_traceback_is_the_same_text():
    redactor = Redactor([SECRET])
    try:
        _raise_chained()
    except RuntimeError as exc:
        assert redactor.scrub_traceback(exc) == format_exception_scrubbed(type(exc), exc, exc.__traceback__, redactor)


def test_an_exception_whose_str_fails_is_still_reported():
    class Hostile(Exception):
        def __str__(self) -> str:
            raise ValueError("no")

    try:
        raise Hostile()
    except Hostile as exc:
        text = format_exception_scrubbed(type(exc), exc, exc.__traceback__, Redactor())

    assert "Hostile" in text


def test_as_a_process_excepthook_the_crash_report_is_scrubbed():
    """What the worker's excepthook does: the crash of a whole process, on its stderr."""
    program = textwrap.dedent(
        f"""
        import sys
        from reconciler.redact import Redactor, format_exception_scrubbed
        redactor = Redactor([{SECRET!r}])
        sys.excepthook = lambda t, e, tb: sys.stderr.write(format_exception_scrubbed(t, e, tb, redactor))
        raise SystemError("engine died holding " + {SECRET!r})
        """
    )
    repo_root = str(Path(reconciler.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [repo_root, os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, env=env)

    assert result.returncode == 1
    assert "SystemError: engine died holding [redacted]" in result.stderr
    assert SECRET not in result.stderr
