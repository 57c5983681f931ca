"""A registered secret is masked in every form it takes on the way out: escaped, encoded, wrapped, re-cased."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest

from reconciler.redact import MASK, Redactor

# Quote, backslash, slash, plus, space, percent, ampersand, non-ASCII and a control character: every
# escaping rule below has something to do.
SECRET = 'pa/ss+w "or\\d" 100%&é\x0bX9'
PLAIN = "Zq81xKm4Vb7Tn2Rw"  # letters and digits only, for the forms that are about case and layout


def redactor() -> Redactor:
    return Redactor([SECRET, PLAIN])


def assert_masked(text: str, encoded: str) -> None:
    scrubbed = redactor().scrub(text)
    assert encoded not in scrubbed, scrubbed
    assert MASK in scrubbed


@pytest.mark.parametrize(
    "encoded",
    [
        json.dumps(SECRET)[1:-1],
        json.dumps(SECRET, ensure_ascii=False)[1:-1],
        json.dumps(json.dumps(SECRET)[1:-1])[1:-1],  # a JSON document inside a JSON string
        repr(SECRET)[1:-1],  # a Python repr, as a traceback's locals or an exception's args print it
    ],
    ids=["json", "json-unicode", "json-twice", "python-repr"],
)
def test_escaped_forms_are_masked(encoded):
    assert_masked(f'{{"message": "auth failed with {encoded}", "n": 1}}', encoded)


@pytest.mark.parametrize(
    "encoded",
    [
        quote(SECRET, safe=""),
        quote(SECRET),
        quote_plus(SECRET),
        quote(SECRET, safe="").lower(),
        quote(SECRET, safe="").replace("%2F", "%2f"),  # some encoders mix cases
    ],
    ids=["quote", "quote-slash-safe", "quote-plus", "lowercase-hex", "mixed-case-hex"],
)
def test_url_encoded_forms_are_masked(encoded):
    assert_masked(f"GET https://api.example.com/v1/login?user=bob&p={encoded}&next=%2Fhome HTTP/1.1", encoded)


def _base64_forms(secret: str) -> list[str]:
    raw = secret.encode()
    forms = []
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        padded = encode(raw).decode()
        forms += [padded, padded.rstrip("=")]
    return forms


@pytest.mark.parametrize("index", range(4), ids=["standard", "standard-unpadded", "urlsafe", "urlsafe-unpadded"])
@pytest.mark.parametrize("secret", [SECRET, PLAIN], ids=["punctuated", "plain"])
def test_base64_forms_are_masked(secret, index):
    encoded = _base64_forms(secret)[index]
    assert_masked(f"Authorization-Blob: {encoded}\nnext line", encoded)


@pytest.mark.parametrize("offset", [0, 1, 2])
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode], ids=["standard", "urlsafe"])
def test_a_secret_inside_a_larger_base64_blob_is_masked_at_every_alignment(offset, encode):
    """A secret inside a bigger document that was base64-encoded (a docker config, a k8s secret, a JSON body)."""
    prefix = b'{"auths": {"registry": {"password": "'[: 30 + offset]
    blob = encode(prefix + SECRET.encode() + b'"}}, "trailer": "0123456789"}').decode()
    scrubbed = redactor().scrub(f"config={blob}")

    # Every base64 character that depends only on the secret's bytes: the secret's stable core.
    start_bits, end_bits = len(prefix) * 8, (len(prefix) + len(SECRET.encode())) * 8
    core = blob[-(-start_bits // 6) : end_bits // 6]
    assert len(core) >= len(SECRET)
    assert core in blob
    assert core not in scrubbed
    assert MASK in scrubbed


@pytest.mark.parametrize("encoded", [SECRET.encode().hex(), SECRET.encode().hex().upper(), PLAIN.encode().hex()], ids=["lower", "upper", "plain"])
def test_hex_forms_are_masked(encoded):
    assert_masked(f"payload digest-ish {encoded} end", encoded)


@pytest.mark.parametrize(
    "split",
    [
        PLAIN[:5] + "\n" + PLAIN[5:],
        PLAIN[:9] + "\r\n" + PLAIN[9:],
        PLAIN[:7] + "\n    " + PLAIN[7:],  # a wrapped, indented log line
        PLAIN[:3] + "\n" + PLAIN[3:11] + "\n" + PLAIN[11:],  # wrapped twice
        SECRET[:6] + "\n" + SECRET[6:],
    ],
    ids=["newline", "crlf", "wrapped-indented", "wrapped-twice", "punctuated"],
)
def test_a_secret_split_across_lines_is_masked(split):
    assert_masked(f"error: token rejected:\n{split}\nretrying", split)


def test_a_base64_secret_wrapped_at_76_columns_is_masked():
    long_secret = "Vq3" * 30
    wrapped = base64.encodebytes(long_secret.encode()).decode()  # MIME: newline every 76 characters
    assert "\n" in wrapped.strip()
    scrubbed = Redactor([long_secret]).scrub(f"body:\n{wrapped}")
    assert base64.b64encode(long_secret.encode()).decode()[:40] not in scrubbed.replace("\n", "")


@pytest.mark.parametrize("text", [PLAIN.upper(), PLAIN.lower(), PLAIN.swapcase(), SECRET.upper()], ids=["upper", "lower", "swapped", "punctuated-upper"])
def test_re_cased_secrets_are_masked(text):
    assert_masked(f"value {text} seen", text)


def test_surrounding_whitespace_of_a_registered_secret_is_not_part_of_it():
    """A secret read from a file ends with a newline; the secret itself is what must be masked."""
    scrubbed = Redactor([PLAIN + "\n"]).scrub(f"token {PLAIN}, again")
    assert scrubbed == f"token {MASK}, again"


def test_short_secrets_are_matched_exactly_not_across_whitespace():
    """Below 8 characters, tolerating whitespace inside would mask ordinary prose."""
    redactor = Redactor(["k3y-7x"])
    assert redactor.scrub("a k3y-7x b") == f"a {MASK} b"
    assert redactor.scrub("k3y -7x") == "k3y -7x"


def test_text_whose_lower_case_changes_length_is_still_scrubbed():
    """``'İ'.lower()`` is two characters: positions in the lower-cased text no longer line up."""
    text = f"İstanbul {PLAIN.upper()} {json.dumps(SECRET)} password=abc123 İ"
    assert len(text.lower()) != len(text)

    scrubbed = redactor().scrub(text)

    assert scrubbed == f"İstanbul {MASK} \"{MASK}\" password={MASK} İ"
