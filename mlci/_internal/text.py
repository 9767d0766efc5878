"""Text as mlci shows it: an exception or a library's message in one line."""

from __future__ import annotations

LIMIT = 300  # longest first line kept from a library's message


def first_line(error: BaseException | str, limit: int = LIMIT) -> str:
    """Return the first non-empty line of an exception's message (its type's name when it has none), cut to `limit`."""
    text = str(error).strip()
    if not text:
        return type(error).__name__ if isinstance(error, BaseException) else ""
    line = text.splitlines()[0].strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"
