"""Bounds on the YAML and JSON documents mlci reads from users, pull requests, buckets and GitHub.

Python's YAML composer and constructor, its JSON decoder, and every walk over what they
return (interpolation, pydantic, `json.dumps` with an indent) recurse once per level of
nesting: a document a few thousand levels deep ends in RecursionError wherever the stack
runs out. Real documents are shallow (an mlci.yaml nests about 5 levels, a manifest or a
GitHub answer about 6), so each is measured first and refused past MAX_DEPTH, with the
line where it went too deep:

- YAML is measured on its event stream, which PyYAML's parser produces without recursing,
  before anything composes it; the composed graph is then measured again with its aliases
  expanded (an alias re-uses a node, so a shallow file can nest deeply, or expand to
  billions of nodes: a "billion laughs" YAML bomb), before anything constructs it.
- JSON is decoded by the standard library (whose C decoder stops cleanly at the
  interpreter's recursion limit), then measured without recursion before anyone walks it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import yaml

    from mlci.errors import MlciError

MAX_DEPTH = 64
# A real mlci.yaml has a few hundred nodes.
MAX_YAML_NODES = 100_000


class NestingError(ValueError):
    """A YAML or JSON document nests deeper, or its aliases expand larger, than mlci reads.

    A ValueError, so readers that refuse malformed JSON already refuse it; `line` is the
    1-based line where a YAML document passed the bound (None for JSON).
    """

    def __init__(self, problem: str, *, line: int | None = None, hint: str | None = None) -> None:
        self.problem = problem
        self.line = line
        self.hint = hint
        super().__init__(problem)


def _too_deep(kind: str, line: int | None = None) -> NestingError:
    return NestingError(
        f"{kind} nested more than {MAX_DEPTH} levels deep; refusing to read it",
        line=line,
        hint="no file mlci reads needs more than a few levels",
    )


# --- YAML ---------------------------------------------------------------------------------


def compose_yaml(text: str) -> yaml.Node | None:
    """Return the node graph of YAML `text` (safe loader) once its depth and expanded size are in bounds.

    NestingError past a bound; yaml.YAMLError when `text` is not YAML.
    """
    import yaml

    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _too_deep("YAML", event.start_mark.line + 1 if event.start_mark else None)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        _expanded(root)
    return root


def construct_yaml(root: yaml.Node | None) -> Any:
    """Return the Python value of a graph `compose_yaml` gave (safe types only)."""
    import yaml

    if root is None:
        return None
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(root)
    finally:
        loader.dispose()


def load_yaml(text: str) -> Any:
    """Return the value of YAML `text` (safe types only); NestingError past a bound, yaml.YAMLError if not YAML."""
    return construct_yaml(compose_yaml(text))


def _expanded(root: yaml.Node) -> None:
    """Raise NestingError when the graph, its aliases expanded, is deeper than MAX_DEPTH or larger than MAX_YAML_NODES."""
    import yaml

    # Each node is measured once (memoised): its expanded size and height. The recursion
    # follows the expanded graph, so the depth bound also bounds the recursion.
    measured: dict[int, tuple[int, int]] = {}
    active: set[int] = set()

    def measure(node: yaml.Node, level: int) -> tuple[int, int]:
        key = id(node)
        if key in measured:
            size, height = measured[key]
        else:
            if key in active:
                raise NestingError("a YAML alias refers to itself; refusing to read it", line=node.start_mark.line + 1)
            if level > MAX_DEPTH:
                raise _too_deep("YAML (its aliases expanded)", node.start_mark.line + 1)
            active.add(key)
            children: list[yaml.Node] = []
            if isinstance(node, yaml.MappingNode):
                children = [part for pair in node.value for part in pair]
            elif isinstance(node, yaml.SequenceNode):
                children = list(node.value)
            size, height = 1, 1
            for child in children:
                child_size, child_height = measure(child, level + 1)
                size, height = size + child_size, max(height, child_height + 1)
                if size > MAX_YAML_NODES:
                    break
            active.discard(key)
            measured[key] = size, height
        if size > MAX_YAML_NODES:
            raise NestingError(
                f"YAML anchors and aliases expand to more than {MAX_YAML_NODES:,} nodes; refusing to load (a YAML bomb?)",
                line=node.start_mark.line + 1,
                hint="write the values out instead of nesting aliases",
            )
        if level + height - 1 > MAX_DEPTH:
            raise _too_deep("YAML (its aliases expanded)", node.start_mark.line + 1)
        return size, height

    measure(root, 1)


# --- JSON ---------------------------------------------------------------------------------


def load_json(raw: str | bytes, *, parse_constant: Callable[[str], Any] | None = None) -> Any:
    """Return the value of JSON `raw`; NestingError past MAX_DEPTH, json.JSONDecodeError when it is not JSON."""
    try:
        value = json.loads(raw, parse_constant=parse_constant)
    except RecursionError:
        raise _too_deep("JSON") from None
    if json_depth(value) > MAX_DEPTH:
        raise _too_deep("JSON")
    return value


def json_depth(value: Any) -> int:
    """Return how deeply lists and dicts nest in `value` (a scalar is 0), measured without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
            if deepest > MAX_DEPTH:
                return deepest
        stack.extend((child, depth) for child in children)
    return deepest


def read_json_file(path: Path, error: type[MlciError], *, missing: str, hint: str | None = None) -> tuple[Any, str]:
    """Return (the JSON value, the text) of a file a user named; `error` (one line: file, line, why) otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: {missing}", hint=hint) from None
    try:
        return load_json(text), text
    except json.JSONDecodeError as e:
        raise error(f"{path}:{e.lineno} invalid JSON: {e.msg}") from None
    except NestingError as e:
        raise error(f"{path}: {e}") from None
