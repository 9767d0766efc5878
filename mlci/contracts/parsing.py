"""Reading a record someone else may have written: strict JSON in, one line naming the bad field out.

Manifests, events, alias records and drift profiles can all be written by a pull request's
job (docs/security.md, the threat model), so each is parsed through its pydantic model and a record
that does not fit is one ModelError line — the file, the field, its value and why —
never a traceback.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from mlci.errors import ModelError

Loc = tuple[int | str, ...]
M = TypeVar("M", bound=BaseModel)


class _NotJson(ValueError):
    pass


def _no_constant(name: str) -> Any:
    """Refuse Python's NaN/Infinity extensions: they would reach `history --json` as non-JSON tokens."""
    raise _NotJson(f"the number {name} is not JSON")


def read_json(raw: bytes | str, where: str) -> Any:
    """Return the JSON value in `raw` (the bytes of `where`); ModelError when it is not strict JSON."""
    from mlci._internal.nesting import NestingError, load_json

    try:
        return load_json(raw, parse_constant=_no_constant)
    except NestingError as e:
        raise ModelError(f"{where}: {e}") from None
    except _NotJson as e:
        raise ModelError(f"{where}: {e}; JSON has no such number") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{where}: not valid JSON ({e})") from None
    except (ValueError, RecursionError):  # an integer past Python's digit limit; nesting past the stack
        raise ModelError(f"{where}: not JSON mlci can read (a number too long or nesting too deep)") from None


def read_object(raw: bytes | str, where: str) -> dict[str, Any]:
    """Return the JSON object in `raw`; ModelError when it is not strict JSON or not an object."""
    data = read_json(raw, where)
    if not isinstance(data, dict):
        raise ModelError(f"{where}: not a JSON object")
    return data


def field_problem(error: ValidationError, *, path: Callable[[Loc], Loc] | None = None) -> str:
    """Return pydantic's first complaint as `field 'a.b' is <value>: <reason>`, counting the others.

    `path` rewrites the error's location into the record's field path; a discriminated union
    puts the tag it chose there (`check`, `numeric`), which is no field of the record.
    """
    first = error.errors()[0]
    loc = path(first["loc"]) if path is not None else first["loc"]
    field = ".".join(str(p) for p in loc) or "(top level)"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"field {field!r} is {shown(first.get('input'))}: {_reason(first['msg'])}{more}"


def shown(value: Any) -> str:
    """Return `value` as JSON, cut to 60 characters (a record can hold anything)."""
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _reason(message: str) -> str:
    # pydantic's words, without its class names: "Input should be a valid dictionary or instance
    # of ManifestData" -> "input should be a valid dictionary".
    message = re.sub(r"^(Value|Assertion) error, ", "", message)
    message = re.sub(r" or instance of \w+", "", message)
    return message[:1].lower() + message[1:]


def parse_record(
    model: type[M],
    raw: bytes | str,
    where: str,
    *,
    remedy: str = "",
    known: dict[str, Any] | None = None,
    path: Callable[[Loc], Loc] | None = None,
) -> M:
    """Return the record in `raw` as `model`; one ModelError line (`where: field 'x' is V: why; remedy`) otherwise.

    `known` adds fields the caller knows and the record does not store (an alias's name and etag).
    """
    data = read_object(raw, where)
    try:
        return model.model_validate({**data, **(known or {})})
    except ValidationError as e:
        raise ModelError(f"{where}: {field_problem(e, path=path)}" + (f"; {remedy}" if remedy else "")) from None
