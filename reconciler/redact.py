"""Scrub secrets from every message that leaves the reconciler: logs, audit records, notifications.

One :class:`Redactor` serves every channel. Known secret values (the webhook key, Pulumi
passphrases, anything read from Secrets Manager) are registered and masked in every form they take
on the way out: as they are, re-cased, JSON-escaped, URL-encoded, hex, base64 (alone or inside a
larger base64 blob) and broken across lines. Credential shapes (URL passwords, ``token=`` and
``password=`` assignments, Authorization headers, GitHub, AWS, Slack and JWT tokens, private keys)
are masked even when nobody registered them. In structured values a credential-named key
(:func:`looks_like_credential_name`) has its value masked whatever it is.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from types import TracebackType
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "[redacted]"
MIN_SECRET_LENGTH = 6  # shorter values would mask ordinary words
# From this length a registered secret is also found with whitespace inside it (a wrapped line, a
# MIME-wrapped base64 body); shorter ones would start to match ordinary prose.
MIN_SPLIT_SECRET_LENGTH = 8
# Masking can join the mask with its neighbours into a new match; passes until nothing changes.
MAX_SCRUB_PASSES = 3
SECRET_ENV_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_ACCESS_TOKEN", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "GITHUB_TOKEN")

# --- credential names ------------------------------------------------------------------------

# A name is a credential's when its last word is one of these ...
CREDENTIAL_WORDS = frozenset(
    {
        "password", "passwd", "pass", "pwd", "passphrase", "passcode", "secret", "token", "dsn",
        "auth", "authorization", "credential", "credentials", "apikey", "privatekey", "secretkey",
        "accesskey", "cookie",
    }
)
# ... or it is ``*_KEY`` (``API_KEY``, ``SIGNING_KEY``, ``aws_secret_access_key``), except the keys that
# name or locate something rather than unlock it.
NON_SECRET_KEY_KINDS = frozenset(
    {
        "public", "sort", "partition", "primary", "foreign", "hash", "range", "idempotency", "cache",
        "object", "config", "dedup", "deduplication", "routing", "lookup", "group", "kms", "map",
        "dict", "s3", "index", "ssm", "row", "column", "composite", "unique", "shard", "bucket",
    }
)
# Fields whose subtree holds names and references, never values: the desired state's ``secrets``
# (declared secret names, ``secret: dbPassword`` injections, config keys; "values never live in
# git") and image overrides keyed by service name. Their strings are still scrubbed; their keys
# are not judged as credential names.
REFERENCE_FIELDS = frozenset({"secrets", "imageOverrides", "image_overrides"})
CREDENTIAL_WORD_PAIRS = frozenset({("connection", "string"), ("conn", "string"), ("conn", "str")})

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_ALNUM = re.compile(r"[^A-Za-z0-9]+")


@lru_cache(maxsize=4096)
def looks_like_credential_name(name: str) -> bool:
    """True when ``name`` (an env var, a dict key, a header, a parameter) names a credential.

    ``DB_PASSWORD``, ``dbPassword``, ``PWD``, ``DB_PASS``, ``client_secret``, ``GITHUB_TOKEN``,
    ``X-Api-Key``, ``SENTRY_DSN``, ``AUTH``, ``Authorization``, ``private_key``, ``*_KEY``, ``*_TOKEN``;
    not ``author``, ``key``, ``sort_key``, ``public_key``, ``secretArn``, ``AWS_ACCESS_KEY_ID``,
    ``secrets`` (a list of references), ``bypass``.
    """
    words = [w for w in _NON_ALNUM.split(_CAMEL_BOUNDARY.sub(" ", name).lower()) if w]
    if not words:
        return False
    last = words[-1]
    if last in CREDENTIAL_WORDS:
        return True
    if last == "key" and len(words) >= 2:
        return words[-2] not in NON_SECRET_KEY_KINDS
    return len(words) >= 2 and (words[-2], last) in CREDENTIAL_WORD_PAIRS


# --- credential shapes masked without registration --------------------------------------------

# The userinfo of a URL: ``user:password`` may hold any reserved character, ``/`` and ``@``
# included, so it runs to the LAST ``@`` that is followed by a host; a bare ``token@`` has no
# ``/``. Quotes and angle brackets end it: they delimit the URL in JSON, reprs and markup.
_URL_USERINFO = re.compile(
    r"(?P<lead>://)(?P<userinfo>[^\s/?#@:\"'<>]*:[^\s\"'<>]*|[^\s/?#@:\"'<>]+)(?=@[^\s@/?#\"'<>]+)"
)
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
    r"(?:.*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s\\:-]*)",  # a cut-off block: to the end of its body
    re.DOTALL,
)
# Matched on the text as it is, each shape starting with a literal so the regex engine can skip
# ahead; a token must not continue a longer word on its left (checked in _shape_spans).
_TOKEN_SHAPES = re.compile(
    r"gh[pousr]_[A-Za-z0-9]{20,255}"  # GitHub classic and app tokens
    r"|github_pat_[A-Za-z0-9_]{22,255}"  # GitHub fine-grained tokens
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"  # AWS access key ids
    r"|xox[baprs]-[A-Za-z0-9-]{10,}"  # Slack tokens
    r"|eyJ[A-Za-z0-9_-]{2,}\.eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*"  # JWTs (an unsigned one has an empty signature)
)
_TOKEN_END = re.compile(r"(?![A-Za-z0-9_])")

# The case-insensitive shapes are written in lower case and matched on the lower-cased text:
# re.IGNORECASE costs about twenty times more on a large text. When lower-casing changes the
# text's length (a few Unicode letters do), the same patterns run with IGNORECASE on the text.
_AWS_SECRET_KEY = r"secret_?access_?key(?P<sep>[\"']?\s*[:=]\s*[\"']?)(?P<value>[a-z0-9/+]{40})(?![a-z0-9/+])"
# A bearer token named without its header: long and with a digit, so "Bearer tokens" stays prose.
_BARE_BEARER = r"bearer(?P<sep>\s+)(?P<value>(?=[a-z._~+/=-]*[0-9])[a-z0-9._~+/=-]{16,})"
# An assignment to a credential-named key: ``password=``, ``?access_token=``, ``"client_secret": "``,
# ``api_key='``, ``X-Api-Key: ``, ``Authorization: Bearer``. The regex finds the key's last word and the
# separator; the whole key is read leftwards and judged by looks_like_credential_name. A colon
# counts only after a quoted key or before a space, so ARNs (``...:secret:name``) are left alone.
_ASSIGNMENT = (
    r"(?:pass(?:word|wd|phrase|code)?|pwd|secret|token|dsn|auth(?:orization)?|credentials?|cookie|key|str(?:ing)?)"
    r"(?P<sep>\s*=(?!=)\s*|[\"']\s*[:=]\s*|:[ \t]+)"  # not ``token == x``: a comparison in a traceback's source line
)


@dataclass(frozen=True)
class _CaseInsensitive:
    lower: re.Pattern[str]

    @classmethod
    def compile(cls, pattern: str) -> _CaseInsensitive:
        return cls(re.compile(pattern))

    @cached_property
    def ignore_case(self) -> re.Pattern[str]:
        return re.compile(self.lower.pattern, re.IGNORECASE)

    def finditer(self, text: str, lowered: str | None) -> Iterable[re.Match[str]]:
        """Matches whose spans index ``text``; ``lowered`` is ``text.lower()`` when it has the same length."""
        return self.lower.finditer(lowered) if lowered is not None else self.ignore_case.finditer(text)


_AWS_SECRET_KEY_CI = _CaseInsensitive.compile(_AWS_SECRET_KEY)
_BARE_BEARER_CI = _CaseInsensitive.compile(_BARE_BEARER)
_ASSIGNMENT_CI = _CaseInsensitive.compile(_ASSIGNMENT)
MAX_KEY_LENGTH = 200  # how far back a key is read from its last word
_AUTH_SCHEME = re.compile(r"(?:bearer|basic|token|digest|bot|negotiate|apikey)\s+", re.IGNORECASE)
_UNQUOTED_VALUE_AFTER_EQUALS = re.compile(r"[^\s&#,;\"'<>)\]}]+")
_UNQUOTED_VALUE_AFTER_COLON = re.compile(r"[^\r\n\"'<>]*[^\s\"'<>,;})\]]")

Span = tuple[int, int]


def strip_url_credentials(text: str) -> str:
    """``text`` with the credentials of every URL in it masked (git prints its remote URLs)."""
    return _URL_USERINFO.sub(lambda m: m["lead"] + MASK, text)


def _assignment_spans(text: str, lowered: str | None) -> Iterable[Span]:
    done = 0
    for match in _ASSIGNMENT_CI.finditer(text, lowered):
        if match.start() < done:
            continue  # inside a value already taken
        key_end = match.start("sep")
        key_start = match.start()
        while key_start > 0 and key_end - key_start < MAX_KEY_LENGTH and _is_key_char(text[key_start - 1]):
            key_start -= 1
        if not looks_like_credential_name(text[key_start:key_end]):
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
        if value_end <= value_start or text.startswith(MASK, value_start):
            continue
        done = value_end
        yield value_start, value_end


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


def _starts_a_word(text: str, index: int) -> bool:
    return index == 0 or not (text[index - 1].isalnum() or text[index - 1] == "_")


def _shape_spans(text: str, lowered: str | None) -> list[Span]:
    """Where ``text`` holds a credential shape's secret part (the key and the scheme stay readable)."""
    spans = [m.span("value") for m in _AWS_SECRET_KEY_CI.finditer(text, lowered)]
    spans += _assignment_spans(text, lowered)
    spans += [m.span("value") for m in _BARE_BEARER_CI.finditer(text, lowered) if _starts_a_word(text, m.start())]
    for match in _TOKEN_SHAPES.finditer(text):
        if _starts_a_word(text, match.start()) and _TOKEN_END.match(text, match.end()):
            spans.append(match.span())
    return spans


def _masked(text: str, spans: list[Span]) -> str:
    """``text`` with the union of ``spans`` replaced by the mask, one mask per run of overlapping spans."""
    if not spans:
        return text
    pieces: list[str] = []
    done = 0
    for start, end in sorted(spans):
        if end <= done:
            continue
        if start > done:
            pieces.append(text[done:start])
            pieces.append(MASK)
        elif not pieces:
            pieces.append(MASK)
        done = end
    pieces.append(text[done:])
    return "".join(pieces)


def _lowered(text: str) -> str | None:
    lowered = text.lower()
    return lowered if len(lowered) == len(text) else None


# --- registered secrets, in every encoding ----------------------------------------------------


@dataclass(frozen=True)
class _Form:
    """One way a registered secret can be written: where to look for it, and a cheap pre-check.

    ``anchor`` is the form lower-cased with its whitespace removed; it is looked up in the text
    lower-cased with its whitespace removed, so one substring search rules a form out for a whole
    message, a wrapped or re-cased one included, before any regex runs. A case-insensitive form
    (everything but base64) is matched like the case-insensitive shapes.
    """

    anchor: str
    exact_case: re.Pattern[str] | None
    any_case: _CaseInsensitive | None

    def finditer(self, text: str, lowered: str | None) -> Iterable[re.Match[str]]:
        if self.any_case is not None:
            return self.any_case.finditer(text, lowered)
        assert self.exact_case is not None
        return self.exact_case.finditer(text)


def _text_forms(secret: str) -> set[str]:
    """The escapings and encodings a secret's characters go through in JSON, URLs, reprs and hex."""
    json_escaped = json.dumps(secret)[1:-1]
    return {
        secret,
        json_escaped,
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(json_escaped)[1:-1],  # JSON inside a JSON string
        json_escaped.replace("/", "\\/"),  # encoders that escape the solidus
        repr(secret)[1:-1],
        repr(secret)[1:-1].replace('"', '\\"').replace("\\'", "'"),
        quote(secret, safe=""),
        quote(secret),
        quote(secret, safe=":/@!$&'()*+,;=~"),  # a path segment keeps RFC 3986's sub-delimiters
        quote_plus(secret),
        quote_plus(secret, safe="/"),
        secret.encode().hex(),
    }


def _base64_forms(raw: bytes) -> set[str]:
    """The secret base64-encoded alone, and the characters that depend only on it inside a larger blob.

    Inside a longer base64 string the secret starts at byte offset 0, 1 or 2 of a 3-byte group; for
    each alignment the characters whose 6 bits all come from the secret are the same whatever
    surrounds it.
    """
    forms: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        alone = encode(raw).decode()
        forms |= {alone, alone.rstrip("=")}
        for offset in (0, 1, 2):
            padded = b"\0" * offset + raw
            encoded = encode(padded + b"\0" * (-len(padded) % 3)).decode()
            first, end = -(-offset * 8 // 6), (offset + len(raw)) * 8 // 6
            forms.add(encoded[first:end])
    return forms


def _pattern(form: str, *, split_tolerant: bool) -> str:
    if not split_tolerant:
        return re.escape(form)
    # Any whitespace between two characters (a line break, a wrap and its indentation); whitespace
    # in the form itself matches any run of whitespace.
    parts: list[str] = []
    for char in form:
        if char.isspace():
            if parts and parts[-1] != r"\s+":
                if parts[-1] == r"\s*":
                    parts.pop()
                parts.append(r"\s+")
            continue
        if parts and parts[-1] != r"\s+":
            parts.append(r"\s*")
        parts.append(re.escape(char))
    return "".join(parts)


def _anchor(form: str) -> str:
    return "".join(form.lower().split())


def _forms_of(secret: str) -> list[_Form]:
    split_tolerant = len(secret) >= MIN_SPLIT_SECRET_LENGTH
    forms = [(form, True) for form in _text_forms(secret)]
    forms += [(form, False) for form in _base64_forms(secret.encode()) if len(form) >= MIN_SECRET_LENGTH]
    return [
        _Form(_anchor(form), None, _CaseInsensitive.compile(_pattern(form.lower(), split_tolerant=split_tolerant)))
        if ignore_case
        else _Form(_anchor(form), re.compile(_pattern(form, split_tolerant=split_tolerant)), None)
        for form, ignore_case in forms
        if _anchor(form)
    ]


class Redactor:
    """The one scrubber every channel uses: logs, audit records, notifications, CLI output, tracebacks."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._forms: dict[str, list[_Form]] = {}
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | bytes | None) -> None:
        """Register a secret value; leading and trailing whitespace (a file's newline) is not part of it."""
        if isinstance(secret, bytes):
            secret = secret.decode("utf-8", errors="ignore")
        secret = (secret or "").strip()
        if len(secret) < MIN_SECRET_LENGTH or secret in self._forms:
            return
        self._forms[secret] = _forms_of(secret)

    def add_environment(self, environ: Mapping[str, str]) -> None:
        for name in SECRET_ENV_VARS:
            self.add(environ.get(name))

    def scrub(self, text: str) -> str:
        """``text`` with every registered secret, in every form, and every credential shape masked."""
        if not text:
            return text
        for _ in range(MAX_SCRUB_PASSES):
            scrubbed = self._scrub_once(text)
            if scrubbed == text:
                break
            text = scrubbed
        return text

    def _scrub_once(self, text: str) -> str:
        # Private keys and URL userinfo first: their extent decides what else is left to look at.
        text = _PRIVATE_KEY.sub(MASK, text)
        text = strip_url_credentials(text)
        lowered = _lowered(text)
        # Every occurrence of every form and shape is found on the same text, then masked together:
        # overlapping matches become one mask, whatever order they were found in.
        spans = self._registered_spans(text, lowered) + _shape_spans(text, lowered)
        return _masked(text, spans)

    def _registered_spans(self, text: str, lowered: str | None) -> list[Span]:
        if not self._forms:
            return []
        compact = "".join((lowered if lowered is not None else text.lower()).split())
        return [
            match.span()
            for forms in self._forms.values()
            for form in forms
            if form.anchor in compact
            for match in form.finditer(text, lowered)
        ]

    def scrub_value(self, value: Any, *, mask_credential_keys: bool = True) -> Any:
        """``value`` with every string scrubbed, walked through mappings and sequences.

        A mapping entry whose key looks like a credential (:func:`looks_like_credential_name`) has its
        value masked whole, whatever it is, unless ``mask_credential_keys`` is False (mappings keyed by
        names); the subtrees of :data:`REFERENCE_FIELDS` are walked that way. Values left unchanged
        keep their type.
        """
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str):
            scrubbed = self.scrub(value)
            return value if scrubbed == value else scrubbed
        if isinstance(value, (bytes, bytearray)):
            return self.scrub(bytes(value).decode("utf-8", errors="replace"))
        if isinstance(value, Mapping):
            result = {}
            for key, item in value.items():
                if mask_credential_keys and isinstance(key, str) and item is not None and looks_like_credential_name(key):
                    result[self.scrub(key)] = MASK
                else:
                    judge_keys = mask_credential_keys and key not in REFERENCE_FIELDS
                    result[self.scrub(key) if isinstance(key, str) else key] = self.scrub_value(item, mask_credential_keys=judge_keys)
            return result
        if isinstance(value, (list, tuple, set, frozenset)):
            return [self.scrub_value(item, mask_credential_keys=mask_credential_keys) for item in value]
        if isinstance(value, (int, float)):
            return value if self.scrub(str(value)) == str(value) else MASK
        # Anything else is printed through str() by whoever writes it out.
        text = str(value)
        scrubbed = self.scrub(text)
        return value if scrubbed == text else scrubbed

    def scrub_traceback(self, exc: BaseException) -> str:
        """The traceback of ``exc`` (with its chained causes) as text, scrubbed."""
        return format_exception_scrubbed(type(exc), exc, exc.__traceback__, self)


def format_exception_scrubbed(
    exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None, redactor: Redactor
) -> str:
    """What ``traceback.print_exception`` would print, scrubbed: for a crashed process's excepthook."""
    try:
        text = "".join(traceback.format_exception(exc_type, exc, tb))
    except Exception:  # a hostile __str__ must not keep the crash from being reported
        text = f"{getattr(exc_type, '__name__', 'Exception')}: <exception could not be formatted>\n"
    return redactor.scrub(text)


_STANDARD_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs the message, every extra field, and any traceback of a record."""

    def __init__(self, redactor: Redactor):
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        scrub = self.redactor.scrub
        try:
            message = record.getMessage()
        except Exception:
            # logging would report the bad call with the raw arguments; report it scrubbed instead.
            message = f"{record.msg} (arguments did not fit the message: {record.args!r})"
        record.msg = scrub(message)
        record.args = ()
        if record.exc_info:
            # Format the traceback now, scrubbed; formatters then print exc_text as it is.
            record.exc_text = format_exception_scrubbed(*record.exc_info, self.redactor).rstrip("\n")
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        for key, value in list(vars(record).items()):
            if key in _STANDARD_RECORD_FIELDS:
                continue
            if value is not None and looks_like_credential_name(key):
                setattr(record, key, MASK)
            else:
                setattr(record, key, self.redactor.scrub_value(value))
        return True
