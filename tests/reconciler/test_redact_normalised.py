"""A secret written so that it reads as itself but is not the same characters is masked too: with
invisible characters between its characters, in fullwidth (compatibility) forms, as HTML character
references (review 13 Low 6). The mask covers the original characters, invisible ones included.

Not covered, on purpose: rot13, reversed, compressed or re-encoded (base32, UTF-16 hex, double base64)
forms. Those are transformations a program undoes, not a way a person reads the secret."""

from __future__ import annotations

import html

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.redact import MASK, Redactor

SECRET = "Zq9-hunter2-Secret-7781xx"
GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
INVISIBLE = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e", "\u202e", "\U000e0041")


def fullwidth(text: str) -> str:
    return text.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})


FORMS = {
    **{f"joined-by-U+{ord(mark):04X}": mark.join(SECRET) for mark in INVISIBLE},
    "one-zero-width-space": SECRET[:5] + "\u200b" + SECRET[5:],
    "fullwidth": fullwidth(SECRET),
    "fullwidth-half": fullwidth(SECRET[:10]) + SECRET[10:],
    "mathematical-bold-digits": SECRET.replace("9", "\U0001d7d7").replace("7", "\U0001d7d5"),
    "html-decimal": SECRET.replace("-", "&#45;"),
    "html-hex": "".join(f"&#x{ord(c):x};" for c in SECRET),
    # A browser reads a reference without its semicolon too (the next character is no digit).
    "html-hex-upper-no-semicolon": SECRET.replace("-", "&#X2D", 1).replace("-", "&#45;"),
    "html-all": html.escape(SECRET).replace("Z", "&#90;"),
    "html-and-zero-width": "\u200b".join(SECRET).replace("q", "&#113;"),
    "fullwidth-entities": "".join(f"&#{ord(c) + 0xFEE0};" for c in SECRET),
}


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_a_secret_that_reads_as_itself_is_masked_whole(form):
    scrubbed = Redactor([SECRET]).scrub(f"auth failed for {form} (retry)")

    assert scrubbed == f"auth failed for {MASK} (retry)"


@pytest.mark.parametrize("form", [fullwidth(GITHUB_TOKEN), "\u200b".join(GITHUB_TOKEN), GITHUB_TOKEN.replace("_", "&#95;"),
                                  GITHUB_TOKEN.replace("_", "&lowbar;")],
                         ids=["fullwidth", "zero-width", "html", "html-named"])
def test_a_credential_shape_in_those_forms_is_masked_without_registering_it(form):
    scrubbed = Redactor().scrub(f"token {form} leaked")

    assert scrubbed.startswith("token ") and scrubbed.endswith(" leaked")
    assert MASK in scrubbed and "A1b2" not in scrubbed and "\uff21\uff11" not in scrubbed


def test_each_occurrence_maps_back_to_its_own_characters():
    text = f"a {fullwidth(SECRET)} b \u00e9\u200b c {SECRET.replace('-', '&#45;')} d &amp; {SECRET} e"

    assert Redactor([SECRET]).scrub(text) == f"a {MASK} b \u00e9\u200b c {MASK} d &amp; {MASK} e"


def test_a_registered_secret_with_an_ampersand_is_found_html_escaped():
    secret = "s3cr&t<val>ue"
    assert Redactor([secret]).scrub(f"x {html.escape(secret)} y") == f"x {MASK} y"


def test_text_with_no_secret_in_it_is_left_as_it_is():
    text = "ｆｕｌｌｗｉｄｔｈ ｎｏｔｅ, zero\u200bwidth, &amp; &#45; caf\u00e9 \U0001f600 \ufb01le"
    assert Redactor([SECRET]).scrub(text) == text


_pieces = st.sampled_from(["a", "-", " ", "é", "\u200b", "&#45;", "&amp;", "Ａ", "😀", "\n", "&", ";", "#"])


@settings(max_examples=60, deadline=None)
@given(st.lists(_pieces, max_size=30), st.lists(_pieces, max_size=30), st.sampled_from(list(FORMS.values())))
def test_around_any_text_the_mask_replaces_exactly_the_secret(before, after, form):
    prefix, suffix = "".join(before) + " ", " " + "".join(after)

    scrubbed = Redactor([SECRET]).scrub(prefix + form + suffix)

    # The mask stands where the form was; nothing of it is left (what surrounds it may join the
    # match only through invisible characters or an entity that spells one of the secret's own).
    assert MASK in scrubbed
    for piece in ("hunter2", "hunter", "&#45;hunter", fullwidth("hunter"), "\u200bh"):
        assert piece not in scrubbed.replace(prefix, "", 1) or piece in suffix
