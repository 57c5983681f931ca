"""Property: whatever the secret and whatever surrounds it, no encoding of a registered secret survives scrub."""

from __future__ import annotations

import base64
import json
import string
from urllib.parse import quote, quote_plus

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.redact import Redactor

# A registered secret is stripped of surrounding whitespace (a file's newline is not the secret),
# so the generated secrets start and end with a visible character.
VISIBLE = string.ascii_letters + string.digits + string.punctuation
secrets = st.builds(
    lambda first, middle, last: first + middle + last,
    st.sampled_from(VISIBLE),
    st.text(alphabet=string.printable, min_size=6, max_size=62),
    st.sampled_from(VISIBLE),
)
surroundings = st.text(alphabet=string.printable, max_size=80)


def _base64_core(encode, prefix: bytes, secret: bytes, suffix: bytes) -> tuple[str, str]:
    """A blob with the secret inside, and the blob's characters that depend only on the secret."""
    blob = encode(prefix + secret + suffix).decode()
    first, end = -(-len(prefix) * 8 // 6), (len(prefix) + len(secret)) * 8 // 6
    return blob, blob[first:end]


def encodings(secret: str, split_at: int, prefix: bytes, suffix: bytes) -> list[tuple[str, str]]:
    """(what is written into the text, what must not be found afterwards) for every encoding."""
    raw = secret.encode()
    split = split_at % (len(secret) - 1) + 1
    forms = [
        secret, secret.upper(), secret.lower(), json.dumps(secret)[1:-1], json.dumps(json.dumps(secret))[1:-1],
        quote(secret, safe=""), quote(secret), quote_plus(secret), quote(secret, safe="").lower(),
        base64.b64encode(raw).decode(), base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("="),
        raw.hex(), raw.hex().upper(),
        secret[:split] + "\n" + secret[split:], secret[:split] + "\r\n" + secret[split:],
    ]
    pairs = [(form, form) for form in forms]
    for offset in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            pairs.append(_base64_core(encode, prefix[: 3 * (len(prefix) // 3 - 1) + offset], raw, suffix))
    return pairs


@settings(max_examples=60, deadline=None)
@given(secret=secrets, before=surroundings, after=surroundings, split_at=st.integers(0, 63), prefix=st.binary(min_size=3, max_size=12), suffix=st.binary(max_size=8))
def test_no_encoding_of_a_registered_secret_survives(secret, before, after, split_at, prefix, suffix):
    redactor = Redactor([secret])
    for written, forbidden in encodings(secret, split_at, prefix, suffix):
        scrubbed = redactor.scrub(before + written + after)
        assert forbidden not in scrubbed, (written, scrubbed)
