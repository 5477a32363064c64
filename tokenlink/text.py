"""Hostile text made fit to show: one printable line of bounded length.

Error texts from a modem, a server or the air end up in logs, in systemd's STATUS= line
(where a newline would start a forged assignment such as READY=1) and on a terminal (where
an escape sequence would repaint it). Everything shown from outside goes through here.
"""

from __future__ import annotations

import re

#: Marks a cut text. ASCII, so it reads the same in every log, journal and terminal.
CUT_MARK = "..."

_WHITESPACE_RUN = re.compile(r"\s+")


def one_line(text: str, limit: int) -> str:
    """``text`` as one printable line of at most ``limit`` characters.

    Every unprintable character (controls, line breaks, lone surrogates) becomes a space,
    runs of whitespace collapse to one, the ends are trimmed, and an over-long text is cut
    and ends with :data:`CUT_MARK` (when ``limit`` leaves room for it).
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    line = _WHITESPACE_RUN.sub(" ", printable).strip()
    if len(line) <= limit:
        return line
    if limit <= len(CUT_MARK):
        return line[:limit].rstrip()
    return line[: limit - len(CUT_MARK)].rstrip() + CUT_MARK
