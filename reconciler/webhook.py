"""GitHub push webhooks: size limit, HMAC-SHA256 signature check in constant time, then parse.

GitHub signs the raw body with the shared secret and sends ``X-Hub-Signature-256:
sha256=<hex>``. Anything unsigned, mis-signed or too large is refused with a 4xx before its
body is parsed. Every other malformed part of the request (a request context, headers or body
of the wrong type, bad base64, JSON that is too deep, has duplicate keys, non-finite or
oversized numbers) is refused with a 400: nothing but :class:`EventRejected` leaves this module.

Replays of a delivery carry the same ``X-GitHub-Delivery`` id; a replay under a new id carries
the same body. The intake's idempotency layer keys pushes on their content (see
:func:`reconciler.triggers.push_content_key`), so neither queues a second job.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.errors import EventRejected

SIGNATURE_HEADER = "x-hub-signature-256"
EVENT_HEADER = "x-github-event"
DELIVERY_HEADER = "x-github-delivery"
SIGNATURE_FORM = re.compile(r"sha256=[0-9a-f]{64}")
# GitHub's delivery ids are GUIDs; anything else is bounded so it stays readable in job ids and logs.
DELIVERY_FORM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# GitHub push payloads nest about six levels; numbers are ids and epoch seconds.
MAX_JSON_DEPTH = 64
MAX_JSON_NUMBER_CHARS = 64


@dataclass(frozen=True)
class VerifiedPush:
    delivery_id: str
    payload: Mapping[str, Any]


def sign(secret: bytes, body: bytes) -> str:
    """The header value GitHub would send for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters: refusals name what was sent without echoing a megabyte of it."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _method(event: Mapping[str, Any]) -> str:
    context = event.get("requestContext")
    http = context.get("http") if isinstance(context, Mapping) else None
    if not isinstance(http, Mapping):
        raise EventRejected("request has no requestContext.http; send webhooks to the Function URL", 400)
    method = http.get("method", "POST")
    if not isinstance(method, str):
        raise EventRejected("requestContext.http.method is not a string", 400)
    return method


def _headers(event: Mapping[str, Any]) -> dict[str, str]:
    headers = event.get("headers")
    if headers is None:
        return {}
    if not isinstance(headers, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise EventRejected("headers are not a map of header names to strings", 400)
    lowered = {k.lower(): v for k, v in headers.items()}
    if len(lowered) != len(headers):
        # Header names are case-insensitive: two spellings of one name would leave the choice to dict order.
        raise EventRejected("a header is sent twice under different capitalisations", 400)
    return lowered


def raw_body(event: Mapping[str, Any], max_bytes: int) -> bytes:
    """The request body as bytes; refused (400/413) when it is not a string, not base64 when it says so, or too large."""
    body = event.get("body")
    if body is None:
        body = ""
    if not isinstance(body, str):
        raise EventRejected(f"body is a {type(body).__name__}, not a string", 400)
    encoded = event.get("isBase64Encoded", False)
    if not isinstance(encoded, bool):
        raise EventRejected("isBase64Encoded is not a boolean", 400)
    # Each byte takes at least one character (4/3 in base64): refuse a long string before decoding it.
    longest = (max_bytes + 2) // 3 * 4 if encoded else max_bytes
    if len(body) > longest:
        raise EventRejected(f"body of {len(body)} characters exceeds the {max_bytes}-byte limit", 413)
    if encoded:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise EventRejected("body is not valid base64", 400) from None
    try:
        return body.encode("utf-8")
    except UnicodeEncodeError:
        raise EventRejected("body is not valid UTF-8 text (it holds an unpaired surrogate)", 400) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _bounded_int(text: str) -> int:
    if len(text) > MAX_JSON_NUMBER_CHARS:
        raise ValueError(f"a number of {len(text)} digits")
    return int(text)


def _finite_float(text: str) -> float:
    if len(text) > MAX_JSON_NUMBER_CHARS:
        raise ValueError(f"a number of {len(text)} characters")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            # Two parsers may keep different copies of a duplicated key; refuse the ambiguity.
            raise ValueError(f"duplicate key {shown(key)}")
        document[key] = value
    return document


def _depth_exceeds(document: Any, limit: int) -> bool:
    """True when containers nest deeper than ``limit`` (iterative: no recursion on attacker input)."""
    stack = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return True
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def parse_json_object(body: bytes) -> dict[str, Any]:
    """``body`` as a JSON object, or :class:`EventRejected` (400) naming why not."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise EventRejected("body is not UTF-8; set the webhook content type to application/json", 400) from None
    try:
        document = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_int=_bounded_int,
            parse_float=_finite_float,
            parse_constant=_refuse_constant,
        )
    except RecursionError:
        raise EventRejected(f"body nests deeper than {MAX_JSON_DEPTH} levels", 400) from None
    except json.JSONDecodeError:
        raise EventRejected("body is not JSON; set the webhook content type to application/json", 400) from None
    except ValueError as exc:
        # Raised by the hooks above (and by int() past Python's digit limit); the message names no secret.
        raise EventRejected(f"body is not acceptable JSON: {str(exc)[:120]}", 400) from None
    if not isinstance(document, dict):
        raise EventRejected("body is not a JSON object", 400)
    if _depth_exceeds(document, MAX_JSON_DEPTH):
        raise EventRejected(f"body nests deeper than {MAX_JSON_DEPTH} levels", 400)
    return document


def verify_push(event: Mapping[str, Any], secret: bytes, max_bytes: int) -> VerifiedPush | None:
    """Verify a Function URL / API Gateway v2 event carrying a GitHub webhook.

    Returns None for a signed ``ping``; raises :class:`EventRejected` (with the HTTP status to
    answer) for anything that must not be acted on, and nothing else.
    """
    if not isinstance(event, Mapping):
        raise EventRejected("request is not a JSON object", 400)
    method = _method(event)
    if method != "POST":
        raise EventRejected(f"method {shown(method)} not allowed; GitHub webhooks are POSTs", 405)
    headers = _headers(event)
    body = raw_body(event, max_bytes)
    if len(body) > max_bytes:
        raise EventRejected(f"body of {len(body)} bytes exceeds the {max_bytes}-byte limit", 413)
    presented = headers.get(SIGNATURE_HEADER)
    if not presented:
        raise EventRejected(f"missing {SIGNATURE_HEADER} header; configure the webhook with a secret", 401)
    if not SIGNATURE_FORM.fullmatch(presented):
        raise EventRejected(f"{SIGNATURE_HEADER} is not of the form sha256=<64 lowercase hex>; check the webhook secret", 401)
    if not hmac.compare_digest(presented.encode(), sign(secret, body).encode()):
        raise EventRejected("signature does not match the body; check the webhook secret", 401)
    delivery = headers.get(DELIVERY_HEADER)
    if not delivery:
        raise EventRejected(f"missing {DELIVERY_HEADER} header", 400)
    if not DELIVERY_FORM.fullmatch(delivery):
        raise EventRejected(f"{DELIVERY_HEADER} {shown(delivery)} is not a delivery id (letters, digits, '.', '_', '-'; at most 128)", 400)
    kind = headers.get(EVENT_HEADER)
    if kind == "ping":
        return None
    if kind != "push":
        raise EventRejected(f"event {shown(kind)} is not handled; subscribe the webhook to push events only", 422)
    return VerifiedPush(delivery_id=delivery, payload=parse_json_object(body))
