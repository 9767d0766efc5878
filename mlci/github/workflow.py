"""GitHub Actions workflow commands: outputs, step summary, annotations, groups and masks.

Each function takes the file path (or returns the line to print) instead of reading the
environment, so the CLI decides where things go and tests can read the result back.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

# GitHub rejects a step summary above 1 MiB; stay below it with room for the notice.
SUMMARY_LIMIT_BYTES = 1024 * 1024
_TRUNCATION_NOTICE = "\n\n> mlci: the rest of this summary was cut to fit GitHub's 1 MiB step-summary limit.\n"

AnnotationLevel = Literal["error", "warning", "notice"]


def escape_data(value: str) -> str:
    """Return a command's message escaped the way the runner unescapes it."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Return a command property's value escaped (properties also split on `:` and `,`)."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def set_output(name: str, value: object, path: str | os.PathLike[str] | None) -> bool:
    """Append `name=value` to the GITHUB_OUTPUT file; return False when there is no file.

    Uses the heredoc form with a random delimiter, so multi-line values (and values an
    attacker controls, such as a PR title) cannot inject further outputs.
    """
    if path is None:
        return False
    if not name or any(ch in name for ch in "\r\n") or "<<" in name:
        raise ValueError(f"invalid output name {name!r}: it must be one line without '<<'")
    text = "" if value is None else str(value)
    delimiter = f"ghadelimiter_{uuid.uuid4()}"
    if delimiter in text or delimiter in name:
        # A random UUID appearing in the value means it is adversarial; refuse, as the toolkit does.
        raise ValueError(f"output {name!r}: the value contains the delimiter {delimiter}")
    with open(path, "a", encoding="utf-8", newline="\n") as handle:
        handle.write(f"{name}<<{delimiter}\n{text}\n{delimiter}\n")
    return True


def append_summary(markdown: str, path: str | os.PathLike[str] | None) -> bool:
    """Append Markdown to the GITHUB_STEP_SUMMARY file; return False when there is no file."""
    if path is None:
        return False
    target = Path(path)
    try:
        used = target.stat().st_size
    except OSError:
        used = 0
    data = markdown if markdown.endswith("\n") else markdown + "\n"
    encoded = data.encode("utf-8")
    room = SUMMARY_LIMIT_BYTES - used
    if len(encoded) > room:
        notice = _TRUNCATION_NOTICE.encode("utf-8")
        keep = max(0, room - len(notice))
        data = encoded[:keep].decode("utf-8", errors="ignore") + _TRUNCATION_NOTICE if keep else ""
    if not data:
        return False
    with open(target, "a", encoding="utf-8", newline="\n") as handle:
        handle.write(data)
    return True


def annotation(
    level: AnnotationLevel,
    message: str,
    *,
    title: str | None = None,
    file: str | None = None,
    line: int | None = None,
    end_line: int | None = None,
    col: int | None = None,
) -> str:
    """Return the `::error file=...,line=...,title=...::message` line for an annotation."""
    if level not in ("error", "warning", "notice"):
        raise ValueError(f"annotation level must be error, warning or notice, not {level!r}")
    props: list[tuple[str, object]] = [
        ("file", file),
        ("line", line),
        ("endLine", end_line),
        ("col", col),
        ("title", title),
    ]
    rendered = ",".join(f"{key}={escape_property(str(value))}" for key, value in props if value is not None)
    head = f"::{level} {rendered}" if rendered else f"::{level}"
    return f"{head}::{escape_data(message)}"


def group(title: str) -> str:
    """Return the line that opens a collapsible log group."""
    return f"::group::{escape_data(title)}"


def endgroup() -> str:
    """Return the line that closes the current log group."""
    return "::endgroup::"


def add_mask(value: str) -> str:
    """Return the line(s) that make the runner mask `value` in all later log output.

    The runner matches masks line by line, so a multi-line secret is masked one line at a time.
    """
    lines = [part for part in value.splitlines() if part.strip()] or [value]
    return "\n".join(f"::add-mask::{escape_data(part)}" for part in lines)


def mask_secret(text: str, secrets: Iterable[str | None]) -> str:
    """Return `text` with every occurrence of each secret replaced by `***`."""
    # Longest first, so a secret that contains another is replaced whole.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
