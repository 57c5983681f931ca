"""Scrub secrets from every message that leaves the reconciler: logs, audit records, notifications.

One :class:`Redactor` serves every channel. Known secret values (the webhook key, Pulumi
passphrases, anything read from Secrets Manager) are registered and masked in every form they take
on the way out: as they are, re-cased, JSON-escaped, URL-encoded, hex, base64 (alone or inside a
larger base64 blob) and broken across lines; and written so that it reads as itself without being
the same characters: with invisible characters between its characters, in fullwidth or other
compatibility forms, as HTML character references (:class:`_Normalised`). Credential shapes (URL passwords, ``token=`` and
``password=`` assignments, Authorization headers, GitHub, AWS, Slack and JWT tokens, private keys)
are masked even when nobody registered them. In structured values a credential-named key
(:func:`looks_like_credential_name`) has its value masked whatever it is. The names and shapes are
:mod:`desired_state.credentials`, the one heuristic the loader and SECRET-002 use too.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import traceback
import unicodedata
from bisect import bisect_right
from functools import lru_cache
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import quote, quote_plus

from desired_state.credentials import (
    PRIVATE_KEY,
    URL_USERINFO,
    CaseInsensitivePattern,
    credential_spans,
    looks_like_credential_name,
    lowered_same_length,
    mask_spans,
)

MASK = "[redacted]"
MIN_SECRET_LENGTH = 6  # shorter values would mask ordinary words
# From this length a registered secret is also found with whitespace inside it (a wrapped line, a
# MIME-wrapped base64 body); shorter ones would start to match ordinary prose.
MIN_SPLIT_SECRET_LENGTH = 8
# Masking can join the mask with its neighbours into a new match; passes until nothing changes.
MAX_SCRUB_PASSES = 3
SECRET_ENV_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_ACCESS_TOKEN", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "GITHUB_TOKEN")

# --- credential names and shapes: desired_state.credentials, shared with the loader and SECRET-002 ---

# Fields whose subtree holds names and references, never values: the desired state's ``secrets``
# (declared secret names, ``secret: dbPassword`` injections, config keys; "values never live in
# git"), an ECS container's ``secrets`` (name and valueFrom ARN) and image overrides keyed by
# service name. Their strings are still scrubbed; neither they nor their keys are judged as
# credential names.
REFERENCE_FIELDS = frozenset({"secrets", "imageOverrides", "image_overrides"})

Span = tuple[int, int]


def strip_url_credentials(text: str) -> str:
    """``text`` with the credentials of every URL in it masked (git prints its remote URLs)."""
    return URL_USERINFO.sub(lambda m: m["lead"] + MASK, text)


def _shape_spans(text: str, lowered: str | None) -> list[Span]:
    """Where ``text`` holds a credential shape's secret part (the key and the scheme stay readable).

    Every span is masked, those that only may be credentials (a URL's user part) included: a mask
    in a log costs little.
    """
    return [span.span for span in credential_spans(text, lowered, previous_mask=MASK)]


# --- text as it reads ------------------------------------------------------------------------

# Unicode's Default_Ignorable_Code_Point: characters a reader does not see (zero-width spaces and
# joiners, the soft hyphen, bidirectional controls, variation selectors, tag characters).
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    "\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
# Where text may be written otherwise than it reads: an HTML character reference, a non-ASCII character.
_REFERENCE = r"&(?:#[0-9]{1,7};?|#[xX][0-9a-fA-F]{1,6};?|[A-Za-z][A-Za-z0-9]{1,31};?)"
_SPECIAL = re.compile(_REFERENCE + r"|[^\x00-\x7f]+")
_REFERENCES = re.compile(_REFERENCE)


@lru_cache(maxsize=4096)
def _as_read(piece: str) -> str:
    """What one character or character reference reads as: invisible characters go, compatibility
    forms (fullwidth letters, mathematical digits, ligatures) become the plain ones (NFKC)."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", _INVISIBLE.sub("", piece)))


class _Normalised:
    """A text as a person reads it, and the way back to the original's positions.

    Redactor matches on both: a secret with zero-width characters between its characters, in
    fullwidth forms or as HTML references is found here, and the span found is mapped back so the
    mask covers the original characters (the invisible ones and whole references included). Not
    undone, on purpose: rot13, reversal, compression and re-encodings (base32, UTF-16 hex); they are
    transformations, not a way a person reads the secret.
    """

    def __init__(self, text: str, pieces: list[tuple[int, int, int, int]]):
        self.text = text
        # (start, end) in the normalised text, (start, end) in the original, for each changed piece.
        self._pieces = pieces
        self._starts = [piece[0] for piece in pieces]

    @classmethod
    def of(cls, text: str) -> _Normalised | None:
        """The normalised text, or None when it reads exactly as written (the common, fast case)."""
        # The checks that rule a text out run in C: most text is ASCII, or already reads as written.
        characters = not text.isascii() and (not unicodedata.is_normalized("NFKC", text) or _INVISIBLE.search(text) is not None)
        if not characters and "&" not in text:
            return None
        out: list[str] = []
        pieces: list[tuple[int, int, int, int]] = []
        done = size = 0
        for match in (_SPECIAL if characters else _REFERENCES).finditer(text):
            start, end = match.span()
            token = match.group()
            if token[0] == "&":
                read = _as_read(html.unescape(token))
                if read == token:
                    continue
                changes = [(start, end, read)]
            elif unicodedata.is_normalized("NFKC", token) and _INVISIBLE.search(token) is None:
                continue
            else:
                changes = [(start + i, start + i + 1, read) for i, char in enumerate(token) if (read := _as_read(char)) != char]
            for change_start, change_end, read in changes:
                out.append(text[done:change_start])
                size += change_start - done
                pieces.append((size, size + len(read), change_start, change_end))
                out.append(read)
                size += len(read)
                done = change_end
        if not pieces:
            return None
        out.append(text[done:])
        return cls("".join(out), pieces)

    def _position(self, index: int, *, end: bool) -> int:
        """The original position of normalised character ``index`` (its start, or with ``end`` its end)."""
        at = bisect_right(self._starts, index) - 1
        if at < 0:
            return index + 1 if end else index
        norm_start, norm_end, start, stop = self._pieces[at]
        if index < norm_end:
            return stop if end else start
        offset = index - norm_end + stop
        return offset + 1 if end else offset

    def original(self, span: Span) -> Span:
        start, end = span
        if end <= start:
            return self._position(start, end=False), self._position(start, end=False)
        return self._position(start, end=False), self._position(end - 1, end=True)


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
    any_case: CaseInsensitivePattern | None

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
        _Form(_anchor(form), None, CaseInsensitivePattern.compile(_pattern(form.lower(), split_tolerant=split_tolerant)))
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
        # Copied, not changed in place: the converge loops' threads scrub while one may add.
        self._forms = {**self._forms, secret: _forms_of(secret)}

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
        text = PRIVATE_KEY.sub(MASK, text)
        text = strip_url_credentials(text)
        lowered = lowered_same_length(text)
        # Every occurrence of every form and shape is found on the same text, then masked together:
        # overlapping matches become one mask, whatever order they were found in.
        spans = self._registered_spans(text, lowered) + _shape_spans(text, lowered)
        # And on the text as it reads, each span found there mapped back to the original characters.
        normalised = _Normalised.of(text)
        if normalised is not None:
            read, read_lowered = normalised.text, lowered_same_length(normalised.text)
            spans += [normalised.original(span) for span in self._registered_spans(read, read_lowered) + _shape_spans(read, read_lowered)]
        return mask_spans(text, spans, MASK)

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
                # A reference field is walked before its key is judged: ``secrets`` is a credential
                # word (an APP_SECRETS variable holds secrets), the ``secrets`` list holds names.
                reference = key in REFERENCE_FIELDS
                if mask_credential_keys and not reference and isinstance(key, str) and item is not None and looks_like_credential_name(key):
                    result[self.scrub(key)] = MASK
                else:
                    judge_keys = mask_credential_keys and not reference
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
