"""Scrub secrets from every message that leaves the reconciler: logs, audit records, notifications.

Known secret values (the webhook key, Pulumi passphrases, anything read from Secrets Manager)
are registered and replaced wherever they appear; credential shapes (AWS access keys, URL
passwords, private keys) are replaced even when nobody registered them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

MASK = "[redacted]"
MIN_SECRET_LENGTH = 6  # shorter values would mask ordinary words
# The userinfo of a URL (https://user:password@host, https://token@host): whatever stands there is a credential.
URL_USERINFO = re.compile(r"(?<=://)[^/\s@]+(?=@)")
PATTERNS = (
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    URL_USERINFO,
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL),
)
SECRET_ENV_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_ACCESS_TOKEN", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "GITHUB_TOKEN")


def strip_url_credentials(text: str) -> str:
    """``text`` with the credentials of every URL in it masked (git prints its remote URLs)."""
    return URL_USERINFO.sub(MASK, text)


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()):
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | bytes | None) -> None:
        if isinstance(secret, bytes):
            secret = secret.decode("utf-8", errors="ignore")
        if secret and len(secret) >= MIN_SECRET_LENGTH:
            self._secrets.add(secret)

    def add_environment(self, environ: dict[str, str]) -> None:
        for name in SECRET_ENV_VARS:
            self.add(environ.get(name))

    def scrub(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        for pattern in PATTERNS:
            text = pattern.sub(MASK, text)
        return text

    def scrub_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {k: self.scrub_value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.scrub_value(v) for v in value]
        return value


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs the message, every extra field, and any traceback of a record."""

    def __init__(self, redactor: Redactor):
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor.scrub(record.getMessage())
        record.args = ()
        if record.exc_info:
            # Format the traceback now, scrubbed; formatters then print exc_text as it is.
            record.exc_text = self.redactor.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.redactor.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.scrub(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in logging.LogRecord("", 0, "", 0, "", (), None).__dict__:
                setattr(record, key, self.redactor.scrub_value(value))
        return True
