"""Credentials in URIs, redacted wherever a URI is shown or stored.

A `${SECRET}` interpolated into mlci.yaml (`registry.endpoint_url`, `deploy.webhook`) ends up
in URIs such as `https://user:pass@host/hook?token=...`. Masking only the values the runner
knows (`::add-mask::`) misses these, and report.md, comparison.json and the event log are
artifacts that outlive the run. Hand-written because no library we use redacts URIs inside
free text; urllib.parse handles one URI, not a message containing one.
"""

from __future__ import annotations

import re

REDACTED = "***"
# scheme://userinfo@ — the user part too: tokens often ride there (https://TOKEN@host).
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#@\s]+)@")
# Every query value of a URI: any of them may be a signature or token.
_QUERY = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s?#]*\?)(?P<query>[^\s#\"'<>]*)")
_PAIR = re.compile(r"(?P<name>[^=&]*)=(?P<value>[^&]*)")


def redact(text: str) -> str:
    """Return `text` with the userinfo and query values of every URI in it replaced by ***."""
    if "://" not in text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{REDACTED}@", text)

    def query(m: re.Match[str]) -> str:
        values = _PAIR.sub(lambda p: f"{p['name']}={REDACTED}" if p["value"] else p[0], m["query"])
        return m["head"] + values

    return _QUERY.sub(query, text)


def has_credentials(uri: str) -> bool:
    """Return whether a URI carries userinfo or query values (which mlci would have to redact)."""
    return redact(uri) != uri
