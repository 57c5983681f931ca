"""Recognise credentials by the name they are stored under and by the shape of their value.

The one heuristic for the whole project (it lives in the lowest layer so every layer can use it):
the desired-state loader hides the value of a field it refuses, policy SECRET-002 refuses an
environment variable, and the reconciler's Redactor masks logs, audit records, notifications and
CLI output. Each asks the same two questions, in its own form:

* :func:`looks_like_credential_name`: does a key, field, header or variable called ``name`` hold
  a credential?
* :func:`credential_spans` (where, with what), :func:`credential_shape` (what, never the value),
  :func:`looks_like_credential_value` (whether) and :func:`hide_credential_values` (text without
  them): does a text hold something with a credential's shape?

Names. A name is split into words on ``_``, ``-``, ``.``, spaces and camel case (``dbPassword``,
``APIKey``, ``Jwt.Signing.Key``). Trailing qualifiers that do not change what the value is (a
number, ``OLD``, ``NEW``, ``B64``, ``VALUE``, ...) are dropped: ``API_KEY_2`` is still a key.

* A name whose last word says the value is *about* a credential is no credential's:
  ``TOKEN_TTL_SECONDS``, ``PASSWORD_MIN_LENGTH``, ``PUBLIC_KEY_URL``, ``secretArn``,
  ``DB_PASSWORD_FILE`` (a path to the secret), ``kmsKeyId`` (:data:`DESCRIBING_WORDS`).
* Otherwise it is a credential's when a word is one of :data:`CREDENTIAL_WORDS`, when a run-together
  word ends in one (``DBPASSWORD``, ``CLIENTSECRET``, ``GITHUBTOKEN``), when it ends in ``KEY``
  after a word that is not a public or data-structure key kind (``API_KEY``, ``SIGNING_KEY``; not
  ``SORT_KEY``, ``PUBLIC_KEY``: :data:`NON_SECRET_KEY_KINDS`), or when it holds one of
  :data:`CREDENTIAL_SEQUENCES` (``CONNECTION_STRING``, ``ACCESS_KEY_ID``, ``PRIVATE_PEM``).
  Words are whole: ``AUTHOR``, ``PASSENGER``, ``BYPASS``, ``KEYCLOAK_URL``, ``MONKEY`` hold none.

Values. :data:`TOKEN_SHAPES` (GitHub, GitLab, Slack, AWS access key ids, JWTs), PEM private key
blocks, URL userinfo, an AWS secret access key after its key, a bare Bearer/Basic credential, and a
value assigned to a credential-named key (``password=``, ``?access_token=``, ``"client_secret": "``,
``Authorization: Bearer``). A span covers only the secret part: the key, the auth scheme, the URL's
scheme and host stay readable.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property, lru_cache

# --- credential names -------------------------------------------------------------------------

# A name holding one of these words holds a credential. Plurals are left out on purpose where they
# name a count or a list of references: ``TOKENS_USED``, ``tokens`` of a rate limiter, ``keys`` of
# a map. SECRETS stays: an ``APP_SECRETS`` variable holds secrets; the Redactor walks the
# references-only ``secrets`` lists of the desired state and of ECS through its REFERENCE_FIELDS.
CREDENTIAL_WORDS = frozenset(
    {
        "PASSWORD", "PASSWD", "PASS", "PWD", "PASSPHRASE", "PASSCODE", "SECRET", "SECRETS", "TOKEN",
        "CREDENTIAL", "CREDENTIALS", "CREDS", "DSN", "AUTH", "AUTHORIZATION", "BEARER", "COOKIE",
        "APIKEY", "PRIVATEKEY", "SECRETKEY", "ACCESSKEY", "SIGNINGKEY", "MASTERKEY", "ENCRYPTIONKEY",
        "CONNSTR", "CONNECTIONSTRING", "SALT", "PEPPER",
    }
)
# A run-together word ending in one of these is a credential word (DBPASSWORD, CLIENTSECRET,
# GITHUBTOKEN); TOKEN only at the end, so TOKENIZER is none.
CREDENTIAL_WORD_ENDINGS = ("PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "CREDENTIAL", "CREDENTIALS", "TOKEN")
# Word sequences that are credentials although no single word is one.
CREDENTIAL_SEQUENCES = (
    ("CONNECTION", "STRING"),
    ("CONN", "STRING"),
    ("CONN", "STR"),
    ("ACCESS", "KEY", "ID"),  # static AWS keys: the id is half of the pair and marks the secret's presence
    ("PRIVATE", "PEM"),
)
# Last words of a name that describe a credential (its lifetime, size, location, name, kind)
# rather than hold one.
DESCRIBING_WORDS = frozenset(
    {
        "TTL", "SECONDS", "SECS", "MS", "MILLIS", "MINUTES", "MINS", "HOURS", "DAYS", "TIMEOUT", "INTERVAL", "EXPIRY",
        "EXPIRES", "LIFETIME", "AGE", "LENGTH", "LEN", "SIZE", "BITS", "MIN", "MAX", "COUNT", "LIMIT", "RETRIES",
        "URL", "URI", "ENDPOINT", "HOST", "HOSTNAME", "PORT", "PATH", "FILE", "DIR", "NAME", "ARN", "ID", "ENABLED",
        "DISABLED", "REQUIRED", "TYPE", "MODE", "ALGORITHM", "ALG", "ISSUER", "AUDIENCE", "REGION", "VERSION",
        "FORMAT", "ROTATION", "PROVIDER", "SCOPE", "SCOPES", "POLICY", "STRATEGY", "LEVEL", "METHOD", "SCHEME",
    }
)
# Qualifiers dropped from the end of a name before it is judged (API_KEY_2, DB_PASSWORD_OLD).
TRAILING_QUALIFIERS = frozenset({"OLD", "NEW", "CURRENT", "PREVIOUS", "NEXT", "B64", "BASE64", "RAW", "VALUE"})
# KEY after these words is a public key, a key into data or the name of a managed key, not a secret.
NON_SECRET_KEY_KINDS = frozenset(
    {
        "PUBLIC", "PUB", "PARTITION", "SORT", "HASH", "RANGE", "CACHE", "ROUTING", "PRIMARY", "FOREIGN", "IDEMPOTENCY",
        "OBJECT", "SHARD", "LOOKUP", "CONFIG", "DEDUP", "DEDUPLICATION", "GROUP", "KMS", "MAP", "DICT", "S3", "INDEX",
        "SSM", "ROW", "COLUMN", "COMPOSITE", "UNIQUE", "BUCKET",
    }
)

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_ALNUM = re.compile(r"[^A-Za-z0-9]+")


def name_words(name: str) -> list[str]:
    """``name`` split into upper-case words: ``dbPassword`` -> DB, PASSWORD; ``X-Api-Key`` -> X, API, KEY."""
    return [word for word in _NON_ALNUM.split(_CAMEL_BOUNDARY.sub(" ", name).upper()) if word]


@lru_cache(maxsize=4096)
def looks_like_credential_name(name: str, *, bare_key_counts: bool = False) -> bool:
    """True when a key, field, header or variable called ``name`` holds a credential (module docstring).

    ``bare_key_counts``: whether a name that is only ``KEY`` counts. An environment variable named
    ``KEY`` holds a key (what else would a process read from it?), so SECRET-002 and the loader pass
    True; in data and prose ``key`` is an identifier (an S3 object key, a DynamoDB key, a secret's
    JSON key, ``cache key=...``), which the Redactor leaves readable.
    """
    words = name_words(name)
    while words and (words[-1].isdigit() or words[-1] in TRAILING_QUALIFIERS):
        words.pop()
    if not words:
        return False
    if words[-1] in DESCRIBING_WORDS and not _ends_with_sequence(words):
        return False
    if any(_is_credential_word(word) for word in words):
        return True
    if words[-1] == "KEY":
        return bare_key_counts if len(words) == 1 else words[-2] not in NON_SECRET_KEY_KINDS
    return _holds_sequence(words)


def _is_credential_word(word: str) -> bool:
    return word in CREDENTIAL_WORDS or any(word.endswith(ending) and word != ending for ending in CREDENTIAL_WORD_ENDINGS)


def _holds_sequence(words: list[str]) -> bool:
    return any(tuple(words[i : i + len(seq)]) == seq for seq in CREDENTIAL_SEQUENCES for i in range(len(words)))


def _ends_with_sequence(words: list[str]) -> bool:
    """ACCESS_KEY_ID ends in a describing word (ID) and is still a credential."""
    return any(tuple(words[-len(seq) :]) == seq for seq in CREDENTIAL_SEQUENCES)


# --- credential shapes in text -----------------------------------------------------------------

# A PEM private key block; a cut-off one (no END line) runs to the end of its body.
PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
    r"(?:.*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s\\:-]*)",
    re.DOTALL,
)
# The userinfo of a URL: ``user:password`` may hold any reserved character, ``/`` and ``@``
# included, so it runs to the LAST ``@`` that is followed by a host; a bare ``token@`` has no
# ``/``. Quotes and angle brackets end it: they delimit the URL in JSON, reprs and markup.
URL_USERINFO = re.compile(
    r"(?P<lead>://)(?P<userinfo>[^\s/?#@:\"'<>]*:(?P<password>[^\s\"'<>]*)|[^\s/?#@:\"'<>]+)(?=@[^\s@/?#\"'<>]+)"
)
# After the colon, digits then '/' are a port (``host:8443/path/alice@example.com``), no password.
_PORT = re.compile(r"\d+/")
# Matched on the text as it is, each shape starting with a literal so the regex engine can skip
# ahead (named groups around the alternatives would cost ten times more on a large text); a token
# must not continue a longer word on its left (checked in credential_spans) nor on its right (each
# shape's own lookahead: AWS ids are upper case, so a lower-case letter ends one).
TOKEN_SHAPES = re.compile(
    r"gh[pousr]_[A-Za-z0-9]{20,255}(?![A-Za-z0-9_])"  # GitHub classic and app tokens
    r"|github_pat_[A-Za-z0-9_]{22,255}(?![A-Za-z0-9_])"  # GitHub fine-grained tokens
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Z])"  # AWS access key ids
    r"|xox[abposr]-[A-Za-z0-9-]{10,}(?![A-Za-z0-9_])"  # Slack tokens
    r"|glpat-[A-Za-z0-9_-]{20,}(?![A-Za-z0-9_])"  # GitLab tokens
    r"|eyJ[A-Za-z0-9_-]{2,}\.eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*(?![A-Za-z0-9_])"  # JWTs (an unsigned one has no signature)
)
# What a TOKEN_SHAPES match is, by its first characters.
TOKEN_KINDS = (("gh", "a GitHub token"), ("github_pat_", "a GitHub token"), ("A", "an AWS access key id"), ("xox", "a Slack token"), ("glpat", "a GitLab token"), ("eyJ", "a JSON web token"))


def _token_kind(token: str) -> str:
    return next(what for prefix, what in TOKEN_KINDS if token.startswith(prefix))


# The case-insensitive shapes are written in lower case and matched on the lower-cased text:
# re.IGNORECASE costs about twenty times more on a large text. When lower-casing changes the
# text's length (a few Unicode letters do), the same patterns run with IGNORECASE on the text.
_AWS_SECRET_KEY = r"secret_?access_?key(?P<sep>[\"']?\s*[:=]\s*[\"']?)(?P<value>[a-z0-9/+]{40})(?![a-z0-9/+])"
# A credential named without its header: long and with a digit, so "Bearer tokens" and
# "Basic authentication-required" stay prose.
_BARE_AUTHORIZATION = r"(?:bearer|basic)(?P<sep>\s+)(?P<value>(?=[a-z._~+/=-]*[0-9])[a-z0-9._~+/=-]{16,})"
# An assignment to a credential-named key: ``password=``, ``?access_token=``, ``"client_secret": "``,
# ``api_key='``, ``X-Api-Key: ``, ``Authorization: Bearer``. The regex finds the key's last word and the
# separator; the whole key is read leftwards and judged by looks_like_credential_name. A colon
# counts only after a quoted key or before a space, so ARNs (``...:secret:name``) are left alone.
_ASSIGNMENT = (
    r"(?:pass(?:word|wd|phrase|code)?|pwd|secret|token|dsn|auth(?:orization)?|credentials?|cookie|key|str(?:ing)?|sig(?:nature)?)"
    r"(?P<sep>\s*=(?!=)\s*|[\"']\s*[:=]\s*|:[ \t]+)"  # not ``token == x``: a comparison in a traceback's source line
)


@dataclass(frozen=True)
class CaseInsensitivePattern:
    """A lower-case pattern run on lower-cased text, or with IGNORECASE when lower-casing changes the length."""

    lower: re.Pattern[str]

    @classmethod
    def compile(cls, pattern: str) -> CaseInsensitivePattern:
        return cls(re.compile(pattern))

    @cached_property
    def ignore_case(self) -> re.Pattern[str]:
        return re.compile(self.lower.pattern, re.IGNORECASE)

    def finditer(self, text: str, lowered: str | None) -> Iterable[re.Match[str]]:
        """Matches whose spans index ``text``; ``lowered`` is ``text.lower()`` when it has the same length."""
        return self.lower.finditer(lowered) if lowered is not None else self.ignore_case.finditer(text)


def lowered_same_length(text: str) -> str | None:
    """``text.lower()`` when it indexes like ``text``, else None (then patterns run with IGNORECASE)."""
    lowered = text.lower()
    return lowered if len(lowered) == len(text) else None


AWS_SECRET_KEY = CaseInsensitivePattern.compile(_AWS_SECRET_KEY)
BARE_AUTHORIZATION = CaseInsensitivePattern.compile(_BARE_AUTHORIZATION)
ASSIGNMENT = CaseInsensitivePattern.compile(_ASSIGNMENT)
MAX_KEY_LENGTH = 200  # how far back a key is read from its last word
_AUTH_SCHEME = re.compile(r"(?:bearer|basic|token|digest|bot|negotiate|apikey)\s+", re.IGNORECASE)
_UNQUOTED_VALUE_AFTER_EQUALS = re.compile(r"[^\s&#,;\"'<>)\]}]+")
_UNQUOTED_VALUE_AFTER_COLON = re.compile(r"[^\r\n\"'<>]*[^\s\"'<>,;})\]]")
HIDDEN = "<hidden>"
_PASSWORD_WORDS = frozenset({"PASSWORD", "PASSWD", "PASS", "PWD", "PASSPHRASE", "PASSCODE"})
_HTTP_AUTH_WORDS = frozenset({"AUTH", "AUTHORIZATION", "COOKIE", "BEARER"})

PRIVATE_KEY_WHAT = "a PEM private key"
URL_PASSWORD_WHAT = "a URL with an embedded password"
AWS_SECRET_KEY_WHAT = "an AWS secret access key"
HTTP_AUTHORIZATION_WHAT = "an HTTP authorization credential"
QUERY_TOKEN_WHAT = "a URL with a token in its query"
CONNECTION_PASSWORD_WHAT = "a connection string with a password"
ASSIGNMENT_WHAT = "a value assigned to a credential-named key"


@dataclass(frozen=True)
class CredentialSpan:
    """Where a text holds a credential's secret part, and what it is (never the value).

    ``what`` is None for a span masked only to be safe: a URL's user part without a password
    (``https://<token>@host``), or ``host:port/path@...`` that the userinfo pattern also takes.
    """

    start: int
    end: int
    what: str | None

    @property
    def span(self) -> tuple[int, int]:
        return self.start, self.end


def _starts_a_word(text: str, index: int) -> bool:
    return index == 0 or not (text[index - 1].isalnum() or text[index - 1] == "_")


def _is_key_char(char: str) -> bool:
    return char.isalnum() or char in "_.-"


def _closing_quote(text: str, start: int, quote_char: str) -> int:
    """Index of the quote that closes a value opened just before ``start`` (backslash escapes skipped)."""
    index = start
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == quote_char or char in "\r\n":
            return index
        index += 1
    return len(text)


def _url_spans(text: str) -> Iterator[CredentialSpan]:
    for match in URL_USERINFO.finditer(text):
        password = match["password"]
        real = bool(password) and not _PORT.match(password)
        yield CredentialSpan(*match.span("userinfo"), URL_PASSWORD_WHAT if real else None)


def _assignment_spans(text: str, lowered: str | None, previous_mask: str) -> Iterator[CredentialSpan]:
    done = 0
    for match in ASSIGNMENT.finditer(text, lowered):
        if match.start() < done:
            continue  # inside a value already taken
        key_end = match.start("sep")
        key_start = match.start()
        while key_start > 0 and key_end - key_start < MAX_KEY_LENGTH and _is_key_char(text[key_start - 1]):
            key_start -= 1
        key = text[key_start:key_end]
        in_query = key_start > 0 and text[key_start - 1] in "?&"
        if not (looks_like_credential_name(key) or (in_query and _is_query_signature(key))):
            continue
        value_start = match.end()
        if value_start < len(text) and text[value_start] in "\"'":
            value_end = _closing_quote(text, value_start + 1, text[value_start])
            value_start += 1
        else:
            pattern = _UNQUOTED_VALUE_AFTER_EQUALS if "=" in match["sep"] else _UNQUOTED_VALUE_AFTER_COLON
            found = pattern.match(text, value_start)
            value_end = found.end() if found else value_start
        scheme = _AUTH_SCHEME.match(text, value_start, value_end)
        if scheme and scheme.end() < value_end:
            value_start = scheme.end()
        if value_end <= value_start or text.startswith(previous_mask, value_start):
            continue  # empty, or masked by an earlier pass
        done = value_end
        yield CredentialSpan(value_start, value_end, _assignment_what(key, in_query, scheme is not None))


def _is_query_signature(key: str) -> bool:
    """``?sig=`` (an Azure SAS), ``&X-Amz-Signature=`` (a presigned URL): whoever holds the URL holds the access.

    Only in a query: a ``Signature`` header or field (``X-Hub-Signature-256``) is a digest, no credential.
    """
    words = name_words(key)
    return bool(words) and words[-1] in {"SIG", "SIGNATURE"}


def _assignment_what(key: str, in_query: bool, has_scheme: bool) -> str:
    words = set(name_words(key))
    if in_query:
        return QUERY_TOKEN_WHAT
    if has_scheme or words & _HTTP_AUTH_WORDS:
        return HTTP_AUTHORIZATION_WHAT
    if words & _PASSWORD_WORDS:
        return CONNECTION_PASSWORD_WHAT
    return ASSIGNMENT_WHAT


def credential_spans(text: str, lowered: str | None = None, *, previous_mask: str = HIDDEN) -> list[CredentialSpan]:
    """Every credential shape in ``text``, most specific first (spans may overlap).

    ``lowered`` is :func:`lowered_same_length` of ``text`` when the caller has it already;
    an assigned value that starts with ``previous_mask`` was masked already and is not taken again.
    """
    if not text:
        return []
    if lowered is None:
        lowered = lowered_same_length(text)
    spans = [CredentialSpan(*m.span(), PRIVATE_KEY_WHAT) for m in PRIVATE_KEY.finditer(text)]
    spans += [
        CredentialSpan(*m.span(), _token_kind(m.group())) for m in TOKEN_SHAPES.finditer(text) if _starts_a_word(text, m.start())
    ]
    spans += [CredentialSpan(*m.span("value"), AWS_SECRET_KEY_WHAT) for m in AWS_SECRET_KEY.finditer(text, lowered)]
    spans += _url_spans(text)
    spans += [
        CredentialSpan(*m.span("value"), HTTP_AUTHORIZATION_WHAT)
        for m in BARE_AUTHORIZATION.finditer(text, lowered)
        if _starts_a_word(text, m.start())
    ]
    spans += _assignment_spans(text, lowered, previous_mask)
    return spans


def credential_shape(text: str) -> str | None:
    """What credential ``text`` holds (``"a GitHub token"``), or None. Never the value."""
    return next((span.what for span in credential_spans(text) if span.what), None)


def looks_like_credential_value(value: object) -> bool:
    """True when ``value`` (as text) holds a credential's shape: an access key id, a token, a URL password."""
    return credential_shape(str(value)) is not None


def mask_spans(text: str, spans: Iterable[tuple[int, int]], mask: str) -> str:
    """``text`` with the union of ``spans`` replaced by ``mask``, one mask per run of overlapping spans."""
    pieces: list[str] = []
    done = 0
    masked_any = False
    for start, end in sorted(spans):
        if end <= done:
            continue
        if start > done:
            pieces.append(text[done:start])
            pieces.append(mask)
        elif not masked_any:
            pieces.append(mask)
        masked_any = True
        done = end
    if not masked_any:
        return text
    pieces.append(text[done:])
    return "".join(pieces)



def hide_credential_values(text: str) -> str:
    """``text`` with every credential-shaped part replaced by ``<hidden>``."""
    return mask_spans(text, (span.span for span in credential_spans(text)), HIDDEN)


# --- a long random token, whatever it is called ---------------------------------------------------

# Only where a false positive is a question to a person (SECRET-002), never for masking: commit
# hashes and image digests look like this too.
TOKEN_LIKE = re.compile(r"^[A-Za-z0-9+/=_\-]{20,}$")
HIGH_ENTROPY_BITS_PER_CHAR = 4.0


def shannon_entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def looks_high_entropy(value: str) -> bool:
    """A long token of letters and digits with at least :data:`HIGH_ENTROPY_BITS_PER_CHAR` bits a character."""
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    return bool(TOKEN_LIKE.match(value)) and has_digit and has_alpha and shannon_entropy(value) >= HIGH_ENTROPY_BITS_PER_CHAR
