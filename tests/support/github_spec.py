"""GitHub's own description of the REST calls mlci makes, vendored by scripts/vendor_github.py.

- `SPEC`: the subset of @octokit/openapi (api.github.com, dereferenced) for those operations;
- `APP_PERMISSIONS`: @octokit/app-permissions' entry for each operation (which fine-grained
  permission, read or write, grants it; several alternatives where GitHub accepts several);
- `webhook_examples(event)`: the real payloads of @octokit/webhooks-examples.

`match(method, path)` finds the operation of a request and `validate_request` checks a request
against it with a real OpenAPI 3.0 schema validator (openapi-schema-validator, the one
openapi-core uses), so the test server is at least as strict as the description.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VENDOR = Path(__file__).resolve().parent / "vendor" / "github"
# Operations vendored for this repository's release workflow (.github/workflows/release.yml,
# run under act by tests/e2e/test_release.py), not calls of mlci's.
RELEASE_OPERATIONS = frozenset(
    {
        "GET /repos/{owner}/{repo}/git/ref/{ref}",
        "POST /repos/{owner}/{repo}/git/refs",
        "PATCH /repos/{owner}/{repo}/git/refs/{ref}",
        "POST /repos/{owner}/{repo}/releases",
        "POST /repos/{owner}/{repo}/releases/{release_id}/assets",
    }
)


@functools.cache
def spec() -> dict[str, Any]:
    """Return the vendored OpenAPI subset."""
    data: dict[str, Any] = json.loads((VENDOR / "openapi.json").read_text())
    return _nullable_enums(data)


def _nullable_enums(node: Any) -> Any:
    # OpenAPI 3.0.3 says `nullable: true` adds null to the allowed values, enum included
    # (GitHub sends `state_reason: null`); the validator checks `enum` on its own, so null is
    # added to such enums here.
    if isinstance(node, dict):
        if node.get("nullable") is True and isinstance(node.get("enum"), list) and None not in node["enum"]:
            node["enum"] = [*node["enum"], None]
        for value in node.values():
            _nullable_enums(value)
    elif isinstance(node, list):
        for value in node:
            _nullable_enums(value)
    return node


@functools.cache
def app_permissions() -> dict[str, list[dict[str, str]]]:
    """Return {"METHOD /path": [{"permission", "access"}, ...]} as GitHub publishes it."""
    data: dict[str, list[dict[str, str]]] = json.loads((VENDOR / "permissions.json").read_text())
    return data


def webhook_examples(event: str) -> list[dict[str, Any]]:
    """Return the published example payloads of one webhook event."""
    data: list[dict[str, Any]] = json.loads((VENDOR / "webhooks" / f"{event}.json").read_text())
    return data


@dataclass(frozen=True)
class Operation:
    """One operation of the description, matched to a request path."""

    method: str
    template: str
    params: dict[str, str]
    definition: dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"

    @property
    def enabled_for_apps(self) -> bool:
        return bool(self.definition.get("x-github", {}).get("enabledForGitHubApps", True))


@functools.cache
def _patterns() -> list[tuple[re.Pattern[str], str, list[str]]]:
    out = []
    for template in spec()["paths"]:
        names = re.findall(r"\{([^}]+)\}", template)
        regex = re.escape(template)
        multi = _multi_segment(template)
        for name in names:
            # A git ref (`tags/v1`) spans segments: the description marks it `x-multi-segment`.
            regex = regex.replace(re.escape("{" + name + "}"), "(.+)" if name in multi else "([^/]+)")
        out.append((re.compile(f"^{regex}$"), template, names))
    # Literal segments win over parameters (/issues/comments/{id} before /issues/{number}/...).
    out.sort(key=lambda item: (item[1].count("{"), -len(item[1])))
    return out


def _multi_segment(template: str) -> set[str]:
    return {
        parameter["name"]
        for operation in spec()["paths"][template].values()
        for parameter in operation.get("parameters", [])
        if parameter.get("x-multi-segment")
    }


def match(method: str, path: str) -> Operation | None:
    """Return the described operation for a request, or None when mlci may not send it."""
    for regex, template, names in _patterns():
        found = regex.match(path)
        if found and method.lower() in spec()["paths"][template]:
            params = dict(zip(names, found.groups(), strict=True))
            if _params_ok(spec()["paths"][template][method.lower()], params):
                return Operation(method.upper(), template, params, spec()["paths"][template][method.lower()])
    return None


def _params_ok(definition: dict[str, Any], params: dict[str, str]) -> bool:
    for parameter in definition.get("parameters", []):
        integer = parameter.get("schema", {}).get("type") == "integer"
        if parameter.get("in") == "path" and integer and not params.get(parameter["name"], "0").isdigit():
            return False
    return True


def _validator(schema: dict[str, Any]) -> Any:
    from jsonschema import FormatChecker
    from openapi_schema_validator import OAS30Validator

    # jsonschema checks "uri" only when rfc3986-validator is installed (the signing extra brings it
    # in through cyclonedx-python-lib), so the same answer passed or failed by what was installed.
    # GitHub itself answers "" for unset URLs (environment_url, log_url), which "uri" refuses.
    formats = [f for f in FormatChecker.checkers if f not in ("uri", "uri-reference", "iri", "iri-reference")]
    return OAS30Validator(schema, format_checker=FormatChecker(formats=formats))


def _coerce(value: str, schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "integer":
        return int(value) if re.fullmatch(r"-?\d+", value) else value
    if kind == "boolean":
        return {"true": True, "false": False}.get(value, value)
    return value


def validate_request(operation: Operation, query: dict[str, str], body: Any, has_body: bool) -> list[str]:
    """Return what is wrong with a request according to its operation (empty when it is valid)."""
    problems: list[str] = []
    definition = operation.definition
    known_query = {}
    for parameter in definition.get("parameters", []):
        where, name, schema = parameter.get("in"), parameter["name"], parameter.get("schema", {})
        if where == "path":
            value: Any = _coerce(operation.params[name], schema)
        elif where == "query":
            known_query[name] = schema
            if name not in query:
                if parameter.get("required"):
                    problems.append(f"query parameter {name} is required")
                continue
            value = _coerce(query[name], schema)
        else:
            continue
        for error in _validator(schema).iter_errors(value):
            problems.append(f"{where} parameter {name}={value!r}: {error.message}")
    for name in query:
        if name not in known_query:
            problems.append(f"query parameter {name!r} is not described for {operation.key}")
    request_body = definition.get("requestBody")
    if request_body is None:
        if has_body:
            problems.append(f"{operation.key} takes no request body")
        return problems
    if not has_body:
        if request_body.get("required"):
            problems.append(f"{operation.key} needs a JSON body")
        return problems
    if "application/json" not in request_body["content"]:
        return problems  # a binary upload (a release asset): its bytes have no schema
    schema = request_body["content"]["application/json"]["schema"]
    for error in _validator(schema).iter_errors(body):
        where = "/".join(str(p) for p in error.absolute_path) or "body"
        problems.append(f"{where}: {error.message}")
    return problems


def validate_response(operation: Operation, status: int, payload: Any) -> list[str]:
    """Return how a response differs from the description of that status (empty when it conforms)."""
    responses = operation.definition.get("responses", {})
    described = responses.get(str(status))
    if described is None:
        return [f"{operation.key} is not described to answer {status}"]
    content = described.get("content", {}).get("application/json")
    if content is None or "schema" not in content:
        return []
    return [
        f"response {status} {'/'.join(str(p) for p in e.absolute_path) or 'body'}: {e.message}"
        for e in _validator(content["schema"]).iter_errors(payload)
    ]


def example(operation_key: str, status: str = "200") -> Any:
    """Return the description's example response of an operation (the first one)."""
    method, _, template = operation_key.partition(" ")
    definition = spec()["paths"][template][method.lower()]
    content = definition["responses"][status]["content"]["application/json"]
    examples = content.get("examples") or {}
    first = next(iter(examples.values()))
    return json.loads(json.dumps(first["value"]))


def shape_response(operation: Operation, status: int, payload: Any) -> Any:
    """Return `payload` with every field the description requires filled from its example.

    The test server keeps only the fields mlci reads; GitHub always sends the required rest,
    so a client relying on the server's sparse answers would meet more on GitHub. Only required
    fields are added (an optional one such as an issue's `pull_request` changes meaning).
    """
    described = operation.definition.get("responses", {}).get(str(status), {})
    content = described.get("content", {}).get("application/json", {})
    if "schema" not in content or not content.get("examples"):
        return payload
    sample = next(iter(content["examples"].values()))["value"]
    return _fill(content["schema"], payload, sample)


def _fill(schema: dict[str, Any], value: Any, sample: Any) -> Any:
    for key in ("oneOf", "anyOf"):
        # The first alternative the filled value satisfies (e.g. GET /user: private or public user).
        for alternative in schema.get(key, []):
            filled = _fill(alternative, value, sample)
            if not list(_validator(alternative).iter_errors(filled)):
                return filled
    if "allOf" in schema:
        for part in schema["allOf"]:
            value = _fill(part, value, sample)
        return value
    if isinstance(value, list) and isinstance(sample, list) and sample and isinstance(schema.get("items"), dict):
        return [_fill(schema["items"], item, sample[0]) for item in value]
    if not (isinstance(value, dict) and isinstance(sample, dict)):
        return value
    properties = schema.get("properties", {})
    out = dict(value)
    for name in schema.get("required", []):
        if name not in out and name in sample:
            out[name] = json.loads(json.dumps(sample[name]))
    for name, sub in properties.items():
        if name in out and name in sample and isinstance(sub, dict):
            out[name] = _fill(sub, out[name], sample[name])
    return out


# Calls missing from @octokit/app-permissions' scraped table (GitHub's page lists them under
# "Pull requests" for this route; GET /user is not enabled for GitHub Apps at all).
SUPPLEMENT: dict[str, list[dict[str, str]]] = {
    "GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls": [{"permission": "pull_requests", "access": "read"}],
}


def permissions_for(operation_key: str) -> list[dict[str, str]]:
    """Return the alternatives (any one suffices) that grant an operation; [] when none applies."""
    return app_permissions().get(operation_key) or SUPPLEMENT.get(operation_key, [])
