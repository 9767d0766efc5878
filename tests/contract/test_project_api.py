"""mlci.Project, the library's front door, and the CLI as a thin shell over it."""

from __future__ import annotations

import ast
import inspect


def test_project_is_importable_from_the_package_and_runs_a_check(project):
    from mlci import Project

    api = Project.load(project / "mlci.yaml")
    result = api.check(output_dir=project.path)
    assert result.document.verdict == "bootstrap"
    assert api.history().aliases[0].alias == "candidate"


def test_each_command_builds_one_github_context(project, monkeypatch):
    from mlci.github.context import GitHubContext

    built = []
    original = GitHubContext.from_env.__func__  # type: ignore[attr-defined]

    def counting(cls, env):
        built.append(1)
        return original(cls, env)

    monkeypatch.setattr(GitHubContext, "from_env", classmethod(counting))
    for args in (
        ["check"],
        ["history"],
        ["promote", "candidate", "--to", "staging"],
        ["deploy", "staging", "--env", "production"],
    ):
        built.clear()
        run = project.run(*args)
        assert run.returncode == 0, run.stdout + run.stderr
        assert len(built) == 1, (args, len(built))


def test_every_cli_command_is_parse_call_emit():
    # Each command's body (docstring aside) stays a few lines: the work is Project's.
    from mlci.cli import app

    for name, fn in inspect.getmembers(app, inspect.isfunction):
        if not getattr(fn, "__wrapped__", None):
            continue
        tree = ast.parse(inspect.getsource(fn.__wrapped__).lstrip())
        body = tree.body[0].body  # type: ignore[attr-defined]
        if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]
        lines = body[-1].end_lineno - body[0].lineno + 1
        assert lines <= 15, f"mlci {name}: {lines} lines"
