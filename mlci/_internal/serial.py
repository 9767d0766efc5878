"""The one serialiser of mlci's typed results: pydantic, for dataclasses and models alike.

Results are pydantic dataclasses (built positionally where they are computed) or models; both
go to JSON and back through a TypeAdapter here, so no result carries a hand-written
to_dict/from_dict pair, and NaN or an infinity becomes null the same way everywhere.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import TypeAdapter

T = TypeVar("T")


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(cls: type[Any]) -> TypeAdapter[Any]:
    # Building an adapter compiles a validator: once per class is enough.
    if cls not in _ADAPTERS:
        _ADAPTERS[cls] = TypeAdapter(cls)
    return _ADAPTERS[cls]


def to_data(value: Any) -> Any:
    """Return `value` (a typed result) as plain JSON data: dicts, lists, str, numbers, None."""
    return json.loads(_adapter(type(value)).dump_json(value))


def from_data(cls: type[T], data: Any) -> T:
    """Return the `cls` that `to_data` wrote as `data`; pydantic.ValidationError when it is not one."""
    result: T = _adapter(cls).validate_python(data)
    return result


def plain(value: Any) -> Any:
    """Return a value a library computed (numpy scalars, dates, decimals, containers of them) as plain JSON data."""

    def default(x: Any) -> Any:
        if hasattr(x, "item"):
            return x.item()
        if hasattr(x, "isoformat"):
            return x.isoformat()
        return str(x)

    return json.loads(json.dumps(value, default=default))
