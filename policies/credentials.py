"""Does an environment variable hold a credential? By its name and by the shape of its value.

The rules (SECRET-002 states them in its description), decided so a platform engineer accepts
both what they flag and what they let through:

* A name is split into words on ``_``, ``-`` and ``.``. Trailing qualifiers that do not change
  what the value is (a number, ``OLD``, ``NEW``, ``CURRENT``, ``PREVIOUS``, ``NEXT``, ``B64``,
  ``BASE64``, ``RAW``, ``VALUE``) are dropped first: ``API_KEY_2`` is still a key.
* A name whose last word says the value is *about* a credential is not one: ``TOKEN_TTL_SECONDS``,
  ``PASSWORD_MIN_LENGTH``, ``PUBLIC_KEY_URL``, ``AUTH_URL``, ``SECRET_ARN``, ``DB_PASSWORD_FILE``
  (see :data:`DESCRIBING_WORDS`). Its value is still checked by shape.
* Otherwise the name is a credential when a word is one of :data:`CREDENTIAL_WORDS` (``PASS``,
  ``PWD``, ``DSN``, ``AUTH``, ``TOKEN``, ``CREDENTIALS``, ``PASSPHRASE``, ...), when a word
  contains ``PASSWORD``/``PASSWD``/``PASSPHRASE``/``SECRET``/``CREDENTIAL`` or ends in ``TOKEN``
  (``DBPASSWORD``, ``CLIENTSECRET``, ``GITHUBTOKEN``), when it names a key (last word ``KEY``, or
  a compound such as ``APIKEY``) unless the key is a public or a data-structure key
  (:data:`NON_SECRET_KEY_KINDS`: ``PUBLIC_KEY``, ``PARTITION_KEY``, ``SORT_KEY``, ...), when it
  is a connection string (``CONNECTION_STRING``) or static AWS keys (``ACCESS_KEY_ID``).
  Words are whole: ``KEYCLOAK_URL`` and ``MONKEY_MODE`` contain no key.
* Whatever the name, a value is a credential when it has the shape of one
  (:data:`CREDENTIAL_VALUE_PATTERNS`) or is a long high-entropy token.
* An empty value is no credential: a placeholder leaks nothing.

Nothing here returns or logs the value itself: a reason names only *what* was recognised.
"""

from __future__ import annotations

import math
import re
from collections import Counter

CREDENTIAL_WORDS = frozenset(
    {
        "PASSWORD", "PASSWD", "PASS", "PWD", "PASSPHRASE", "SECRET", "SECRETS", "TOKEN", "CREDENTIAL",
        "CREDENTIALS", "CREDS", "DSN", "AUTH", "APIKEY", "PRIVATEKEY", "SECRETKEY", "ACCESSKEY", "SIGNINGKEY",
        "MASTERKEY", "ENCRYPTIONKEY", "CONNSTR", "CONNECTIONSTRING", "SALT", "PEPPER",
    }
)
# Parts of a word that make it a credential word wherever they appear in it (DBPASSWORD, CLIENTSECRET).
CREDENTIAL_PARTS = ("PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "CREDENTIAL")
# Word sequences that are credentials although no single word is one.
CREDENTIAL_SEQUENCES = (("CONNECTION", "STRING"), ("CONN", "STRING"), ("ACCESS", "KEY", "ID"))
# Last words of a name that describe a credential (its lifetime, size, location, name) rather than hold one.
DESCRIBING_WORDS = frozenset(
    {
        "TTL", "SECONDS", "SECS", "MS", "MILLIS", "MINUTES", "MINS", "HOURS", "DAYS", "TIMEOUT", "INTERVAL", "EXPIRY",
        "EXPIRES", "LIFETIME", "AGE", "LENGTH", "LEN", "SIZE", "BITS", "MIN", "MAX", "COUNT", "LIMIT", "RETRIES",
        "URL", "URI", "ENDPOINT", "HOST", "HOSTNAME", "PORT", "PATH", "FILE", "DIR", "NAME", "ARN", "ID", "ENABLED",
        "DISABLED", "REQUIRED", "TYPE", "MODE", "ALGORITHM", "ALG", "ISSUER", "AUDIENCE", "REGION", "VERSION",
        "FORMAT", "ROTATION", "PROVIDER", "SCOPE", "SCOPES", "POLICY", "STRATEGY", "LEVEL",
    }
)
# Qualifiers dropped from the end of a name before it is judged (API_KEY_2, DB_PASSWORD_OLD).
TRAILING_QUALIFIERS = frozenset({"OLD", "NEW", "CURRENT", "PREVIOUS", "NEXT", "B64", "BASE64", "RAW", "VALUE"})
# KEY after these words is a public key or a key into data, not a secret.
NON_SECRET_KEY_KINDS = frozenset(
    {"PUBLIC", "PUB", "PARTITION", "SORT", "HASH", "RANGE", "CACHE", "ROUTING", "PRIMARY", "FOREIGN", "IDEMPOTENCY", "OBJECT", "SHARD", "LOOKUP"}
)

CREDENTIAL_VALUE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an AWS access key id", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9])")),
    (
        "an AWS secret access key",
        re.compile(r"(?i)(?:aws_?)?secret_?(?:access_?)?key[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])"),
    ),
    ("a PEM private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("a GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("a Slack token", re.compile(r"\bxox[abpors]-[A-Za-z0-9-]{10,}\b")),
    ("a JSON web token", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    # user:password@ after a scheme; the password may hold '/' (written unencoded, as people do).
    # host:port/path@... is no password: digits then '/' after the colon are a port.
    ("a URL with an embedded password", re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s:/@]*:(?!\d+/)[^\s@]+@")),
    # libpq "password=..", ADO.NET "Password=..;", query strings "&password=..".
    ("a connection string with a password", re.compile(r"(?i)(?:^|[\s;?&,])(?:password|passwd|pwd|pass)\s*=\s*[^\s;&,]+")),
    # A digit in the credential: "Basic authentication-required" is prose, not a header.
    ("an HTTP authorization credential", re.compile(r"(?i)\b(?:bearer|basic)\s+(?=[A-Za-z._~+/-]*\d)[A-Za-z0-9._~+/-]{16,}=*")),
    (
        "a URL with a token in its query",
        re.compile(r"(?i)[?&](?:access_?token|auth_?token|id_?token|token|api_?key|client_secret|password|sig|signature|x-amz-signature)=[^&\s#]{8,}"),
    ),
)
TOKEN_LIKE = re.compile(r"^[A-Za-z0-9+/=_\-]{20,}$")
HIGH_ENTROPY_BITS_PER_CHAR = 4.0


def shannon_entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def name_words(name: str) -> list[str]:
    return [w for w in re.split(r"[_.\-]+", name.upper()) if w]


def credential_name(name: str) -> bool:
    """Whether the variable's name says it holds a credential (rules in the module docstring)."""
    words = name_words(name)
    while words and (words[-1].isdigit() or words[-1] in TRAILING_QUALIFIERS):
        words.pop()
    if not words or (words[-1] in DESCRIBING_WORDS and not _is_sequence_end(words)):
        return False
    if any(w in CREDENTIAL_WORDS or any(p in w for p in CREDENTIAL_PARTS) or (w.endswith("TOKEN") and len(w) > 5) for w in words):
        return True
    if words[-1] == "KEY":
        return len(words) == 1 or words[-2] not in NON_SECRET_KEY_KINDS
    return _contains_sequence(words)


def _contains_sequence(words: list[str]) -> bool:
    return any(tuple(words[i : i + len(seq)]) == seq for seq in CREDENTIAL_SEQUENCES for i in range(len(words)))


def _is_sequence_end(words: list[str]) -> bool:
    """ACCESS_KEY_ID ends in a describing word (ID) and is still a credential."""
    return any(tuple(words[-len(seq) :]) == seq for seq in CREDENTIAL_SEQUENCES)


def credential_value(value: str) -> str | None:
    """What credential the value looks like, or None. Never the value."""
    for what, pattern in CREDENTIAL_VALUE_PATTERNS:
        if pattern.search(value):
            return what
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    if TOKEN_LIKE.match(value) and has_digit and has_alpha and shannon_entropy(value) >= HIGH_ENTROPY_BITS_PER_CHAR:
        return "a long high-entropy string"
    return None


def credential_reason(name: str, value: str) -> str | None:
    """Why an environment value looks like a credential, or None. Never returns the value itself."""
    if not value.strip():
        return None
    if credential_name(name):
        return "its name suggests a credential"
    what = credential_value(value)
    if what == "a long high-entropy string":
        return "its value is a long high-entropy string"
    return f"its value looks like {what}" if what else None
