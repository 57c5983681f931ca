"""Why SECRET-002 refuses an environment variable: the reason it gives, never the value.

The heuristic itself (names, value shapes, entropy) is :mod:`desired_state.credentials`, shared
with the loader and the Redactor. SECRET-002 refuses on the name alone, so a name that only
*describes* a credential (``TOKEN_TTL_SECONDS``, ``DB_PASSWORD_FILE``) passes; its value is still
checked by shape and, here only, by entropy (a person answers a false positive here; masking
cannot ask, and commit hashes look random too).
"""

from __future__ import annotations

from desired_state.credentials import credential_shape, looks_high_entropy, looks_like_credential_name


def credential_reason(name: str, value: str) -> str | None:
    """Why an environment value looks like a credential, or None. Never returns the value itself.

    An empty value is no credential: a placeholder leaks nothing.
    """
    if not value.strip():
        return None
    if looks_like_credential_name(name, bare_key_counts=True):
        return "its name suggests a credential"
    what = credential_shape(value)
    if what:
        return f"its value looks like {what}"
    if looks_high_entropy(value):
        return "its value is a long high-entropy string"
    return None
