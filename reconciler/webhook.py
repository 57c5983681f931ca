"""GitHub push webhooks: size limit, HMAC-SHA256 signature check in constant time, then parse.

GitHub signs the raw body with the shared secret and sends ``X-Hub-Signature-256:
sha256=<hex>``. Anything unsigned, mis-signed or too large is refused with a 4xx before its
body is parsed. Replays of a delivery carry the same ``X-GitHub-Delivery`` id and are dropped
by the intake's idempotency layer; a replayed body under a new id can only ask for a commit
that is already applied or older, which the worker skips.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.errors import EventRejected

SIGNATURE_HEADER = "x-hub-signature-256"
EVENT_HEADER = "x-github-event"
DELIVERY_HEADER = "x-github-delivery"


@dataclass(frozen=True)
class VerifiedPush:
    delivery_id: str
    payload: Mapping[str, Any]


def sign(secret: bytes, body: bytes) -> str:
    """The header value GitHub would send for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def raw_body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except ValueError:
            raise EventRejected("body is not valid base64") from None
    return body.encode("utf-8")


def verify_push(event: Mapping[str, Any], secret: bytes, max_bytes: int) -> VerifiedPush | None:
    """Verify a Function URL / API Gateway v2 event carrying a GitHub webhook.

    Returns None for a signed ``ping``; raises :class:`EventRejected` (with the HTTP status to
    answer) for anything that must not be acted on.
    """
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "POST")
    if method != "POST":
        raise EventRejected(f"method {method} not allowed; GitHub webhooks are POSTs", 405)
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    body = raw_body(event)
    if len(body) > max_bytes:
        raise EventRejected(f"body of {len(body)} bytes exceeds the {max_bytes}-byte limit", 413)
    presented = headers.get(SIGNATURE_HEADER)
    if not presented:
        raise EventRejected(f"missing {SIGNATURE_HEADER} header; configure the webhook with a secret", 401)
    if not hmac.compare_digest(presented.encode(), sign(secret, body).encode()):
        raise EventRejected("signature does not match the body; check the webhook secret", 401)
    delivery = headers.get(DELIVERY_HEADER)
    if not delivery:
        raise EventRejected(f"missing {DELIVERY_HEADER} header", 400)
    kind = headers.get(EVENT_HEADER)
    if kind == "ping":
        return None
    if kind != "push":
        raise EventRejected(f"event {kind!r} is not handled; subscribe the webhook to push events only", 422)
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise EventRejected("body is not JSON; set the webhook content type to application/json", 400) from None
    if not isinstance(payload, dict):
        raise EventRejected("body is not a JSON object", 400)
    return VerifiedPush(delivery_id=delivery, payload=payload)
