"""Make untrusted strings harmless in Markdown, and format numbers for the report.

Everything in a report that comes from data or from the GitHub event (column names,
category values, expectation arguments, branch names, PR titles, URIs) is written by
someone other than the reader, so it passes through `escape` before it reaches the page.

`escape` uses HTML character references rather than backslashes for Markdown punctuation:
a reference is never a Markdown delimiter (CommonMark §6.2), and it means the same thing
inside an HTML block such as `<summary>`, where a backslash would show literally. So one
function is safe in table cells, inline text and HTML blocks alike.
"""

from __future__ import annotations

import math
import re
from urllib.parse import quote, urlsplit

from mlci.stats.metrics import format_p, format_value

# Zero-width joiner: invisible, but it separates `@` from a name so GitHub sees no mention,
# and `#` from a number so no issue gets a cross-reference. GitHub finds mentions in the
# rendered text, so a character reference for `@` would not stop them; this does.
ZWJ = "\u200d"

# Markdown punctuation that can start or end a structure (emphasis, code, links, tables,
# math, strikethrough, HTML), each replaced by its character reference.
_REFERENCES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    "`": "&#96;",
    "|": "&#124;",
    "\\": "&#92;",
    "*": "&#42;",
    "[": "&#91;",
    "]": "&#93;",
    "~": "&#126;",
    "$": "&#36;",
    "@": "@" + ZWJ,
    "#": "#" + ZWJ,
}
_SPECIAL = re.compile(r"[&<>`|\\*\[\]~$@#_]")
# Line breaks of every kind become spaces: a value must stay on its table row.
_BREAKS = re.compile(r"[\r\n\t\v\f\x85\u2028\u2029]+")
# Other control characters and bidirectional overrides ("Trojan Source") are dropped.
_INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# `<` starts HTML (a tag, comment or autolink) only before a letter, `/`, `!` or `?`; before a
# digit, space or `=` it is literal, so `p<0.001` and `n < 30` stay readable in a terminal.
_LT_LITERAL = re.compile(r"[0-9 =]")
# At the start of a line these would make a list item, a thematic break or a setext underline.
_LEADING = {"-": "&#45;", "+": "&#43;", "=": "&#61;"}
_ORDERED = re.compile(r"^(\d{1,9})([.)])(?= |$)")

ELLIPSIS = "…"


def clip(text: str, width: int | None) -> str:
    """Return `text` cut to at most `width` characters, ending in … when cut."""
    if width is None or len(text) <= width:
        return text
    return text[: max(width - 1, 0)] + ELLIPSIS


def plain(value: object) -> str:
    """Return `value` as one line of text: no line breaks, no control or bidi characters."""
    text = "" if value is None else str(value)
    return _INVISIBLE.sub("", _BREAKS.sub(" ", text))


def escape(value: object, width: int | None = None) -> str:
    """Return `value` as Markdown text that renders literally: no mention, link, HTML, code or table break.

    `width` clips the text first (so a reference is never cut in half).
    """
    text = clip(plain(value), width)

    def sub(m: re.Match[str]) -> str:
        ch = m.group(0)
        i = m.start()
        if ch == "<":
            nxt = text[i + 1 : i + 2]
            return "<" if nxt and _LT_LITERAL.match(nxt) else "&lt;"
        if ch == "_":
            # `_` between two letters or digits can never open or close emphasis; leaving it
            # keeps names like roc_auc readable in a terminal.
            if 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum():
                return ch
            return "&#95;"
        return _REFERENCES[ch]

    out = _SPECIAL.sub(sub, text)
    first = out[:1]
    if first in _LEADING and (out[1:2] in ("", " ") or not out.replace(first, "").strip()):
        out = _LEADING[first] + out[1:]
    return _ORDERED.sub(lambda m: m.group(1) + ("&#46;" if m.group(2) == "." else "&#41;"), out, count=1)


# Characters kept in a Mermaid label; anything else could end the quoted string, start an
# entity (`#quot;`) or markup, so it becomes a space.
_LABEL_OK = re.compile(r"[^\w .:=+\-/()%]", re.UNICODE)


def code(value: object, width: int | None = None) -> str:
    """Return `value` as inline code that no data can break out of: <code> around the escaped text."""
    return f"<code>{escape(value, width)}</code>"


def mermaid_label(value: object, width: int = 24) -> str:
    """Return `value` as the inside of a double-quoted Mermaid label (no quotes, backticks or breaks)."""
    text = _LABEL_OK.sub(" ", plain(value))
    text = re.sub(r"\s+", " ", text).strip() or "?"
    return clip(text, width)


def safe_url(url: object) -> str | None:
    """Return `url` ready for a Markdown link destination if it is http(s), else None."""
    if not isinstance(url, str):
        return None
    text = url.strip()
    if _BREAKS.search(text) or _INVISIBLE.search(text) or " " in text:
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    # Percent-encode whatever could end the destination or the link text: ( ) < > [ ] etc.
    return quote(text, safe=":/?#@!$&+,;=%-._~")


def link(text: object, url: object) -> str:
    """Return a Markdown link to `url` with escaped `text`, or the escaped text alone if `url` is not http(s)."""
    target = safe_url(url)
    label = escape(text)
    return f"[{label}]({target})" if target else label


# --- numbers ----------------------------------------------------------------------------------

DASH = "—"


def _finite(x: object) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(x) else None


def num(x: object) -> str:
    """Return a metric value readably at any scale, or — when missing."""
    v = _finite(x)
    return DASH if v is None else format_value(v)


def signed(x: object) -> str:
    """Return a difference with its sign (+0.015, -0.002), or — when missing."""
    s = num(x)
    return s if s in (DASH, "0") or s.startswith("-") else "+" + s


def percent(x: object) -> str:
    """Return a relative change as a signed percentage, or an empty string when missing."""
    v = _finite(x)
    return "" if v is None else f"{v * 100:+.1f}%"


def pvalue(x: object) -> str:
    """Return a p-value as <0.001 or with three decimals, or — when missing."""
    v = _finite(x)
    return DASH if v is None else format_p(v)


def interval(low: object, high: object) -> str:
    """Return a confidence interval as +0.006..+0.024, or — when missing."""
    if _finite(low) is None or _finite(high) is None:
        return DASH
    return f"{signed(low)}..{signed(high)}"


def count(x: object) -> str:
    """Return an integer with thousands separators, or — when missing."""
    v = _finite(x)
    return DASH if v is None else f"{int(v):,}"


def short_hash(value: object, width: int = 12) -> str:
    """Return the first `width` characters of a hash or id (escaped)."""
    return DASH if value is None else escape(plain(value)[:width])
