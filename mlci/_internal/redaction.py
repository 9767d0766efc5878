"""Credentials redacted wherever mlci shows or stores text: the one redactor.

A password or token reaches mlci inside URLs and connection strings (`sql:` tables,
`deploy.webhook`, `registry.endpoint_url`, a `--data` argument), usually through a `${VAR}`
interpolated into mlci.yaml. report.md, comparison.json, manifests and the event log outlive
the run, so everything mlci prints or writes passes through `redact`, which works in two
layers:

1. Structure. In every URL, everything between `://` and the last `@` of its authority (the
   userinfo) becomes `***`, and so does every query value (tokens ride there, and some drivers
   take `?password=`), and so does the value of a `password=` pair (a libpq DSN). A password may
   hold any character a driver accepts — `/ ? # @ :`, spaces, `%` — and SQLAlchemy takes
   `postgresql://u:S3cr/et@host/db` unescaped, so the userinfo ends at the LAST `@`, not at the
   first `/` (urllib.parse would give `S3cr` as the port and `et@host/db` as the path).
   `split_userinfo` is that rule, and `mlci.data.engines` connects with the same split, so what is
   redacted as the password is exactly what the driver is given.
2. Values. Free text does not delimit a URL whose password holds a space or a quote, and a
   driver's message may echo a password outside any URL. So the exact passwords mlci was given
   (found by `url_secrets` in mlci.yaml after `${VAR}` interpolation and in table arguments) and
   the tokens the CLI read are remembered for the command (`remember`, scoped by `remembering`)
   and masked in every form mlci could write them: as given, URL-decoded and -encoded, and
   escaped for JSON, a Python repr and HTML.

Only the CLI remembers values (it alone reads the environment); library code calls `redact`.
Hand-written because no library we use redacts credentials inside free text; urllib.parse
and SQLAlchemy's make_url each parse one well-formed URL, and neither reads an unescaped `@`
or `/` in a password as the driver's user does.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
from collections.abc import Iterable, Iterator
from urllib.parse import quote, quote_plus, unquote

REDACTED = "***"
#: Shorter remembered values are not masked in free text: masking `ab` everywhere would garble
#: every message, and a URL's structure still hides them where they are a password.
MIN_SECRET_LENGTH = 4

# A scheme as RFC 3986 writes it (SQLAlchemy's `dialect+driver` is one).
_SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*://"
# In free text a URL runs to the next whitespace or quote (a JSON or Python string ends there);
# its userinfo ends at the last `@` in that run. A remembered password with a space or a quote
# is masked by value before this runs.
_USERINFO = re.compile(rf"(?P<scheme>\b{_SCHEME})(?P<userinfo>[^\s\"'<>]*)@")
# Every query value of a URI: any of them may be a signature or token.
_QUERY = re.compile(rf"(?P<head>\b{_SCHEME}[^\s?#]*\?)(?P<query>[^\s#\"'<>]*)")
_PAIR = re.compile(r"(?P<name>[^=&]*)=(?P<value>[^&]*)")
# `password=...` outside a URL: a libpq DSN (`host=db password=s3cret`) or a driver echoing one.
_DSN_PASSWORD = re.compile(
    # Unquoted, the value stops at quotes and backslashes too: in JSON text it must not eat a string's end.
    r"(?P<key>\b(?:password|passwd|pwd)\s*=\s*)(?P<value>'[^'\\]*'|[^\s&;,\"'<>\\]+)",
    re.IGNORECASE,
)

# The values remembered for the current command, in every form mlci may write them.
_remembered: set[str] = set()


# --- one URL --------------------------------------------------------------------------------


def split_userinfo(url: str) -> tuple[str, str | None, str]:
    """Return (`scheme://` or "", the userinfo or None, the rest) of one URL; the userinfo ends at its last `@`.

    `postgresql://u:S3cr/et@Pw@host:5432/db` gives ("postgresql://", "u:S3cr/et@Pw", "host:5432/db").
    A string without a scheme (`user:pw@host/db`, which no driver takes but a user may write) is split
    the same way.
    """
    m = re.match(_SCHEME, url)
    scheme = m.group(0) if m else ""
    after = url[len(scheme) :]
    at = after.rfind("@")
    if at < 0:
        return scheme, None, after
    return scheme, after[:at], after[at + 1 :]


def url_password(url: str) -> str | None:
    """Return the password of one URL as written in it (not URL-decoded), or None when it has none."""
    _, userinfo, _ = split_userinfo(url)
    if userinfo is None or ":" not in userinfo:
        return None
    return userinfo.partition(":")[2]


def redact_url(url: str) -> str:
    """Return one URL or connection string with its userinfo and query values replaced by ***.

    `postgresql+psycopg2://mlci:S3cr/et+Pw@db:5432/wh?sslmode=require` gives
    `postgresql+psycopg2://***@db:5432/wh?sslmode=***`; remembered values are masked too.
    """
    scheme, userinfo, rest = split_userinfo(url)
    if userinfo is not None:
        url = f"{scheme}{REDACTED}@{rest}"
    return redact(url)


def url_secrets(text: str, interpolated: Iterable[str] = ()) -> set[str]:
    """Return the secrets in one string that holds a URL: its password, and each `interpolated` value in its credentials.

    `interpolated` are the values `${VAR}` put into `text`: one that lands in the userinfo or in a
    query value is a credential even where it is not the whole password (`${USER}:${PW}`, `?token=${T}`).
    """
    if "://" not in text:
        return set()
    _, userinfo, rest = split_userinfo(text)
    password = url_password(text)
    found: set[str] = set()
    if password:
        found |= {password, unquote(password)}
    query = rest.partition("?")[2]
    spans = [userinfo or "", *(m["value"] for m in _PAIR.finditer(query))]
    for value in interpolated:
        if value and any(value in span for span in spans if span):
            found.add(value)
    return {s for s in found if s}


# --- free text ------------------------------------------------------------------------------


def _forms(secret: str) -> set[str]:
    """Return `secret` as mlci may write it: raw, URL-decoded/-encoded, and escaped for JSON, repr and HTML."""
    encoded = {
        secret,
        unquote(secret),
        quote(secret),
        quote(secret, safe=""),
        quote(secret, safe=" +"),
        quote_plus(secret),
    }
    out: set[str] = set()
    for form in encoded:
        out |= {
            form,
            json.dumps(form)[1:-1],
            json.dumps(form, ensure_ascii=False)[1:-1],
            repr(form)[1:-1],
            html.escape(form),
        }
    return out


def _pieces(secret: str) -> list[str]:
    """Return `secret` and, for a multi-line one (a PEM key), each of its lines: output is read line by line.

    GitHub's runner masks a multi-line secret line by line for the same reason (`::add-mask::`
    takes one line); a command that prints the key, or an error that quotes one line of it, must
    not show any line.
    """
    lines = [line.strip() for line in secret.splitlines()]
    return [secret, *(line for line in lines if line != secret)] if len(lines) > 1 else [secret]


def _masks(secrets: Iterable[str | None]) -> set[str]:
    """Return the forms of `secrets` that `redact` replaces (none of a value too short to mask)."""
    pieces = (p for s in secrets if s for p in _pieces(s) if len(p) >= MIN_SECRET_LENGTH)
    return {f for p in pieces for f in _forms(p) if len(f) >= MIN_SECRET_LENGTH}


def remember(*secrets: str | None) -> None:
    """Make `redact` mask each of `secrets` (in all its forms) until the enclosing `remembering` ends."""
    _remembered.update(_masks(secrets))


@contextlib.contextmanager
def remembering() -> Iterator[None]:
    """Forget, on leaving, the values remembered inside (one command's secrets stay with that command)."""
    saved = set(_remembered)
    try:
        yield
    finally:
        _remembered.clear()
        _remembered.update(saved)


def redact(text: str, *, secrets: Iterable[str] = ()) -> str:
    """Return `text` with secrets, URL credentials and query values, and DSN passwords replaced by ***.

    The secrets are those remembered for the command and `secrets` (a caller's own, e.g. the
    password of the table whose driver wrote `text`), each in all its forms.
    """
    # Longest first, so a value that contains another is replaced whole.
    for value in sorted(_remembered | _masks(secrets), key=len, reverse=True):
        if value in text:
            text = text.replace(value, REDACTED)
    if "://" in text:
        text = _USERINFO.sub(lambda m: f"{m['scheme']}{REDACTED}@", text)

        def query(m: re.Match[str]) -> str:
            pairs = _PAIR.sub(lambda p: f"{p['name']}={REDACTED}" if p["value"] else p[0], m["query"])
            return m["head"] + pairs

        text = _QUERY.sub(query, text)
    if "=" in text:
        text = _DSN_PASSWORD.sub(lambda m: f"{m['key']}{REDACTED}", text)
    return text


def has_credentials(uri: str) -> bool:
    """Return whether a URI carries userinfo or query values (which mlci would have to redact)."""
    return redact_url(uri) != uri
