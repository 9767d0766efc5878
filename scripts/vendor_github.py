#!/usr/bin/env python3
"""Regenerate tests/support/vendor/github/ from GitHub's own published packages on npm.

    python scripts/vendor_github.py            # needs `npm` (only this script does)
    python scripts/vendor_github.py --latest   # move to the newest published versions

It runs `npm pack` for three packages in a temporary directory, at the versions recorded in
VERSIONS.json unless `--latest` is given, and writes the subsets
mlci's tests and permission table use, so no test ever needs npm or the network:

- @octokit/openapi           GitHub's REST description (api.github.com, dereferenced): only
                             the operations in OPERATIONS below -> openapi.json
- @octokit/app-permissions   GitHub's "permissions required for GitHub Apps" data: the entry
                             of every operation in OPERATIONS -> permissions.json
- @octokit/webhooks-examples real webhook payloads GitHub sends: the events in EVENTS ->
                             webhooks/<event>.json (a list of examples, as published)

The package versions are recorded in tests/support/vendor/github/VERSIONS.json; adding an
operation to OPERATIONS and re-running at the recorded versions changes nothing else (that is
how the check-run calls were added: POST and PATCH /repos/{owner}/{repo}/check-runs...). Schema `description`
texts are dropped (they are prose, several MB of it); everything that constrains a value
(types, enums, lengths, required, patterns, oneOf) and the response examples are kept.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "support" / "vendor" / "github"

# Every REST call mlci makes (mlci/github/client.py), as (METHOD, path template of the description).
OPERATIONS: list[tuple[str, str]] = [
    ("GET", "/user"),
    ("GET", "/repos/{owner}/{repo}/issues"),
    ("POST", "/repos/{owner}/{repo}/issues"),
    ("GET", "/repos/{owner}/{repo}/issues/{issue_number}"),
    ("PATCH", "/repos/{owner}/{repo}/issues/{issue_number}"),
    ("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("GET", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("DELETE", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("GET", "/repos/{owner}/{repo}/labels"),
    ("POST", "/repos/{owner}/{repo}/labels"),
    ("POST", "/repos/{owner}/{repo}/statuses/{sha}"),
    ("GET", "/repos/{owner}/{repo}/commits/{ref}/statuses"),
    ("GET", "/repos/{owner}/{repo}/commits/{commit_sha}/pulls"),
    ("GET", "/repos/{owner}/{repo}/commits/{ref}"),
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("GET", "/repos/{owner}/{repo}/deployments"),
    ("POST", "/repos/{owner}/{repo}/deployments"),
    ("GET", "/repos/{owner}/{repo}/deployments/{deployment_id}"),
    ("GET", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"),
    ("POST", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"),
    ("POST", "/repos/{owner}/{repo}/check-runs"),
    ("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
    # Not mlci's: the calls of this repository's release workflow (.github/workflows/release.yml),
    # which tests/e2e/test_release.py runs against the test server.
    ("GET", "/repos/{owner}/{repo}/git/ref/{ref}"),
    ("POST", "/repos/{owner}/{repo}/git/refs"),
    ("PATCH", "/repos/{owner}/{repo}/git/refs/{ref}"),
    ("POST", "/repos/{owner}/{repo}/releases"),
    ("POST", "/repos/{owner}/{repo}/releases/{release_id}/assets"),
]

# The events mlci's workflows run on, and for each the actions kept (None: every example).
EVENTS: dict[str, tuple[str, ...] | None] = {
    "pull_request": ("opened", "synchronize", "reopened"),
    "push": None,
    "merge_group": None,
    "workflow_dispatch": None,
}

PACKAGES = {
    "openapi": "@octokit/openapi",
    "permissions": "@octokit/app-permissions",
    "webhooks": "@octokit/webhooks-examples",
}


def npm_pack(name: str, workdir: Path, version: str | None = None) -> tuple[Path, str]:
    """Download and unpack one npm package (`version`, else the newest); return its directory and version."""
    done = subprocess.run(
        ["npm", "pack", f"{name}@{version}" if version else name, "--json", "--pack-destination", str(workdir)],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    info = json.loads(done.stdout)[0]
    target = workdir / info["name"].replace("/", "+")
    with tarfile.open(workdir / info["filename"]) as tar:
        tar.extractall(target, filter="data")
    return target / "package", str(info["version"])


def strip_prose(node: Any) -> Any:
    """Return `node` without `description`/`summary` prose (a property *named* description stays)."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in ("description", "summary") and isinstance(value, str):
                continue
            if key in ("example", "examples", "default", "enum"):
                out[key] = value  # data, not prose: an example repository has a description
                continue
            if key == "properties" and isinstance(value, dict):
                out[key] = {name: strip_prose(schema) for name, schema in value.items()}
            else:
                out[key] = strip_prose(value)
        return out
    if isinstance(node, list):
        return [strip_prose(item) for item in node]
    return node


def openapi_subset(package: Path) -> dict[str, Any]:
    spec = json.loads((package / "generated" / "api.github.com.deref.json").read_text())
    paths: dict[str, dict[str, Any]] = {}
    for method, path in OPERATIONS:
        operation = spec["paths"][path][method.lower()]
        kept = strip_prose({k: v for k, v in operation.items() if k != "externalDocs"})
        kept["summary"] = operation.get("summary", "")
        kept["x-docs"] = operation.get("externalDocs", {}).get("url", "")
        paths.setdefault(path, {})[method.lower()] = kept
    return {
        "openapi": spec["openapi"],
        "info": {"title": spec["info"]["title"], "version": spec["info"]["version"]},
        "paths": paths,
    }


def permissions_subset(package: Path) -> dict[str, Any]:
    data = json.loads((package / "generated" / "api.github.com.json").read_text())
    # The scraped "paths" map keeps one permission per route; the "permissions" lists name every
    # permission that grants a route (issue comments: issues OR pull_requests). Keep all of them.
    granted: dict[str, list[dict[str, str]]] = {}
    wanted = {f"{m} {_shape(p)}": f"{m} {p}" for m, p in OPERATIONS}
    for name, entry in data["permissions"].items():
        for access in ("read", "write"):
            for route in entry.get(access, []):
                method, _, path = route.partition(" ")
                key = wanted.get(f"{method} {_shape(path)}")
                if key:
                    granted.setdefault(key, []).append({"permission": name, "access": access})
    return {key: sorted(v, key=lambda g: g["permission"]) for key, v in sorted(granted.items())}


def _shape(path: str) -> str:
    """Return a path with its parameter names erased (the two sources name them differently)."""
    return re.sub(r"\{[^}]+\}", "{}", path)


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "webhooks").mkdir(exist_ok=True)
    recorded = OUT / "VERSIONS.json"
    pinned: dict[str, str] = (
        {} if "--latest" in sys.argv[1:] or not recorded.exists() else json.loads(recorded.read_text())
    )
    versions: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        openapi, versions[PACKAGES["openapi"]] = npm_pack(PACKAGES["openapi"], work, pinned.get(PACKAGES["openapi"]))
        perms, versions[PACKAGES["permissions"]] = npm_pack(
            PACKAGES["permissions"], work, pinned.get(PACKAGES["permissions"])
        )
        hooks, versions[PACKAGES["webhooks"]] = npm_pack(PACKAGES["webhooks"], work, pinned.get(PACKAGES["webhooks"]))
        write(OUT / "openapi.json", openapi_subset(openapi))
        write(OUT / "permissions.json", permissions_subset(perms))
        index = {event["name"]: event for event in json.loads((hooks / "api.github.com" / "index.json").read_text())}
        for name, actions in EVENTS.items():
            examples = [e for e in index[name]["examples"] if actions is None or e.get("action") in actions]
            write(OUT / "webhooks" / f"{name}.json", examples)
    write(OUT / "VERSIONS.json", versions)
    print(f"wrote {OUT.relative_to(ROOT)} from {', '.join(f'{k}@{v}' for k, v in versions.items())}")
    return 0


def write(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    sys.exit(main())
