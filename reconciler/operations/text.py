"""One line of text: what an operator typed (``--by``, ``--reason``) on its way in and on its way out.

A line break in a value would start a new row of ``status`` or a new line of a notification, where it
reads as the tool's own output. :func:`control_character` finds what the command line refuses (every
control character, and every separator ``str.splitlines()`` breaks on, ``\\r``, ``\\x85`` and U+2028
among them); :func:`one_line` folds each run of them to one space, for values stored before the
refusal or written by another tool.
"""

from __future__ import annotations

import re
import unicodedata

# C0, DEL, C1 (``\x85`` among them), and the line and paragraph separators: all that splitlines() breaks on, and more.
_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def control_character(text: str) -> str | None:
    """The first control or line-separating character of ``text`` as ``U+XXXX``, or None when it has none."""
    for character in text:
        if _BREAKING.match(character) or unicodedata.category(character) in ("Cc", "Zl", "Zp"):
            return f"U+{ord(character):04X}"
    return None


def one_line(text: str) -> str:
    """``text`` with each run of control characters and line separators folded to one space."""
    return _BREAKING.sub(" ", text)
