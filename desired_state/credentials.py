"""Recognise credentials by the name they are stored under and by their shape.

Refusal messages about desired-state and traffic-state fields echo the value they refuse so
a person can find it. That must never hold for a credential: the message travels to logs,
audit records and notifications. One heuristic decides, used by every message builder.
"""

from __future__ import annotations

import re

# Words that mark a name as holding a credential, matched as whole words of the name
# (``DB_PASS``, ``dbPassword``, ``api-key``) so ``PASSENGER_COUNT`` or ``AUTHOR`` do not count.
CREDENTIAL_WORDS = frozenset(
    {
        "PASSWORD", "PASSWD", "PASS", "PWD", "PASSPHRASE", "SECRET", "SECRETS", "TOKEN", "TOKENS",
        "KEY", "KEYS", "APIKEY", "DSN", "AUTH", "AUTHORIZATION", "CREDENTIAL", "CREDENTIALS",
        "CREDS", "PRIVATE", "SIGNATURE", "COOKIE", "SESSION", "BEARER", "CERT", "PEM", "SALT",
    }
)
# Run together with other words (``DBPASSWORD``, ``githubtoken``) these are still credentials.
CREDENTIAL_INFIXES = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "CREDENTIAL", "PRIVATEKEY", "APIKEY")

_WORD_BOUNDARY = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")

# Values that are credentials whatever they are called.
CREDENTIAL_VALUE_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}(?![A-Z0-9])"),  # AWS access key ids
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),  # GitHub tokens
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),  # Slack tokens
    re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"),  # GitLab tokens
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*"),  # JWTs
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    # user:password@ in a URL; the password may hold '/' and ':' (everything up to the last '@').
    re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s/@:]*:[^\s@]+@"),
    re.compile(r"(?i)[?&](?:access_token|token|password|passwd|pwd|secret|api_key|apikey|sig|signature)=[^&\s'\"]+"),
)

HIDDEN = "<hidden>"


def looks_like_credential_name(name: str) -> bool:
    """True when a key or field called ``name`` probably holds a credential."""
    words = [word.upper() for word in _WORD_BOUNDARY.split(name) if word]
    if any(word in CREDENTIAL_WORDS for word in words):
        return True
    joined = "".join(words)
    return any(infix in joined for infix in CREDENTIAL_INFIXES)


def looks_like_credential_value(value: object) -> bool:
    """True when ``value`` (as text) has the shape of a credential: an access key id, a token, a URL password."""
    text = str(value)
    return any(pattern.search(text) for pattern in CREDENTIAL_VALUE_PATTERNS)


def hide_credential_values(text: str) -> str:
    """``text`` with every credential-shaped substring replaced by ``<hidden>``."""
    for pattern in CREDENTIAL_VALUE_PATTERNS:
        text = pattern.sub(HIDDEN, text)
    return text
