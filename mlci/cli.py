"""mlci's command line: parse, call one library function, render, map errors to exit codes.

Heavy libraries are imported inside the commands, so `mlci --help` stays fast.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import click

from mlci import __version__
from mlci.errors import MlciError, ServiceError, UsageError
from mlci.github.workflow import add_mask, endgroup, group
from mlci.terminal import render_drift, render_validation, render_verdict

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Options:
    """Global options every command sees."""

    config: str
    json: bool
    verbose: int
    quiet: bool

    def load(self) -> Any:
        """Return the validated Config named by -c/--config."""
        from mlci.config import load_config
        from mlci.redaction import remember

        config = load_config(self.config, env=os.environ)
        # Its URLs' passwords, and the webhook's signing secret, are masked in all this command prints or writes.
        remember(*config.secrets, os.environ.get(config.deploy.webhook_secret_env))
        return config


def _secrets() -> list[str]:
    return [
        v for k in ("GITHUB_TOKEN", "MLCI_GITHUB_TOKEN", "INPUT_GITHUB-TOKEN") if len(v := os.environ.get(k, "")) >= 4
    ]


def scrub(text: str) -> str:
    """Return `text` with every token and password mlci knows of, and credentials in URIs, replaced by ***."""
    from mlci.redaction import redact

    return redact(text, secrets=_secrets())


def echo(text: str = "", *, err: bool = False) -> None:
    """Print `text` with secrets scrubbed."""
    click.echo(scrub(text), err=err)


def emit_json(value: Any) -> None:
    """Print `value` as JSON on stdout (the --json contract)."""
    echo(json.dumps(value, indent=2, sort_keys=False, default=str))


def fail(error: MlciError, verbose: int) -> NoReturn:
    """Print `error` for the user (traceback only with -v) and exit with its code."""
    if verbose:
        echo("".join(traceback.format_exception(error)), err=True)
    for line in error.lines():
        echo(line, err=True)
    if error.hint and error.lines() != [str(error)]:
        echo(f"  hint: {error.hint}", err=True)
    sys.exit(error.exit_code)


def run_command(fn: F) -> F:
    """Decorate a command so MlciError becomes one clear line and its exit code."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        opts: Options = click.get_current_context().find_object(Options) or Options("mlci.yaml", False, 0, False)
        if not opts.verbose:
            import warnings

            # numpy's and scikit-learn's warnings speak to developers, in their words; mlci says
            # in its own what matters (an undefined metric, a column left out). -v shows them.
            warnings.simplefilter("ignore")
        if in_actions():
            # Before anything else is printed: the runner hides every later occurrence of the token.
            for secret in _secrets():
                # With --json, stdout is the machine-readable document: keep it pure, and let the
                # runner (which reads commands on both streams) find the mask on stderr.
                click.echo(add_mask(secret), err=opts.json)
        from mlci.redaction import remember, remembering

        # What the command remembers (tokens here, passwords as it loads mlci.yaml or a table
        # argument) is masked in all it prints and writes, and forgotten when it ends.
        with remembering(), _library_logs(opts.verbose):
            remember(*_secrets())
            return _run(fn, opts, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class _ScrubbedLog(logging.Handler):
    """Writes a library's log records (GX logs each failed query with its traceback) to stderr, scrubbed."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            echo(self.format(record), err=True)
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def _library_logs(verbose: int) -> Iterator[None]:
    """Show libraries' warnings and errors, scrubbed, with -v; otherwise not at all (a user error is one line).

    Without a handler of its own, Python's logging would print them, unscrubbed, to stderr.
    """
    handler = _ScrubbedLog(logging.WARNING) if verbose else logging.NullHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


def _run(fn: Callable[..., Any], opts: Options, *args: Any, **kwargs: Any) -> Any:
    """Return what the command `fn` returns; its errors become one line and their exit code."""
    try:
        return fn(*args, **kwargs)
    except MlciError as e:
        fail(e, opts.verbose)
    except BrokenPipeError:  # `mlci history | head`: the reader left, nothing to report
        sys.exit(0)
    except KeyboardInterrupt:
        echo("mlci: interrupted", err=True)
        sys.exit(130)
    except Exception as e:  # a bug in mlci or a library: still no traceback without -v
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        if opts.verbose:
            # Scrubbed like every other line: a driver's message in it may hold a password.
            echo("".join(traceback.format_exception(e)), err=True)
            echo(f"mlci: internal error: {type(e).__name__}: {first}", err=True)
        else:
            echo(f"mlci: internal error: {type(e).__name__}: {first} (re-run with -v for the traceback)", err=True)
        sys.exit(2)


pass_options = click.make_pass_decorator(Options)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="mlci", message="%(prog)s %(version)s")
@click.option("-c", "--config", default="mlci.yaml", show_default=True, envvar="MLCI_CONFIG", help="Config file.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON on stdout.")
@click.option("-v", "--verbose", count=True, help="Show tracebacks and more detail.")
@click.option("-q", "--quiet", is_flag=True, help="Print only errors and the result line.")
@click.pass_context
def cli(ctx: click.Context, config: str, as_json: bool, verbose: int, quiet: bool) -> None:
    """mlci: CI/CD for machine-learning repositories.

    Validate data, train a candidate, benchmark it against production with confidence
    intervals, report on the pull request, and ship model versions safely.

    Exit codes: 0 ok, 1 a check said no, 2 bad input, 3 conflict, 4 outside service failed.
    """
    ctx.obj = Options(config=config, json=as_json, verbose=verbose, quiet=quiet)


def _global_options() -> list[click.Option]:
    """Return the root's options again, for every subcommand: `mlci check --json` works like `mlci --json check`."""

    def setter(attr: str) -> Callable[[click.Context, click.Parameter, Any], None]:
        def set_option(ctx: click.Context, param: click.Parameter, value: Any) -> None:
            opts = ctx.find_object(Options)
            if opts is None or value in (None, False, 0):
                return  # not given here: the value before the subcommand (or the default) stands
            if attr == "verbose":
                opts.verbose += int(value)
            else:
                setattr(opts, attr, value)

        return set_option

    def option(decls: list[str], attr: str, help: str, **kw: Any) -> click.Option:
        return click.Option(decls, expose_value=False, is_eager=True, callback=setter(attr), help=help, **kw)

    return [
        option(["-c", "--config"], "config", "Config file (as before the command).", default=None),
        option(["--json", "as_json"], "json", "Machine-readable JSON on stdout.", is_flag=True),
        option(["-v", "--verbose"], "verbose", "Show tracebacks and more detail.", count=True),
        option(["-q", "--quiet"], "quiet", "Print only errors and the result line.", is_flag=True),
    ]


def _accept_global_options(group: click.Group) -> None:
    for command in group.commands.values():
        if isinstance(command, click.Group):
            _accept_global_options(command)
        else:
            taken = {o for p in command.params for o in getattr(p, "opts", [])}
            command.params.extend(o for o in _global_options() if not set(o.opts) & taken)


def in_actions() -> bool:
    """Return whether mlci runs inside a GitHub Actions step."""
    return os.environ.get("GITHUB_ACTIONS") == "true"


def github_context() -> Any:
    """Return the GitHub Actions context of this process's environment."""
    from mlci.github.context import GitHubContext

    return GitHubContext.from_env(os.environ)


def show_published(published: Any) -> None:
    """Print where the report went; warnings become Actions annotations."""
    from mlci.github.workflow import annotation

    for note in published.notes:
        echo(note)
    for warning in published.warnings:
        echo(annotation("warning", warning, title="mlci") if in_actions() else f"warning: {warning}")
    if published.comment_url:
        echo(f"PR comment {published.comment_action}: {published.comment_url}")
    if published.status_state:
        echo(f"commit status: {published.status_state}")


# --- config ------------------------------------------------------------------------------


@cli.group("config")
def config_group() -> None:
    """Check mlci.yaml or print its JSON Schema."""


@config_group.command("check")
@pass_options
@run_command
def config_check(opts: Options) -> None:
    """Validate mlci.yaml; one line per problem with its line number.

    Example: mlci -c mlci.yaml config check
    """
    config = opts.load()
    if opts.json:
        emit_json({"valid": True, "config": str(opts.config), "model": config.model.name})
    elif not opts.quiet:
        echo(f"{opts.config}: valid (model '{config.model.name}', {config.model.task})")


@config_group.command("schema")
@run_command
def config_schema() -> None:
    """Print the JSON Schema of mlci.yaml (for editors)."""
    from mlci.config import json_schema

    emit_json(json_schema())


# --- validate ----------------------------------------------------------------------------


@cli.command()
@click.option(
    "--data",
    "which",
    default=None,
    help="train, test, a table PATH, or an engine table such as '{sql: URL, table: NAME}' "
    "(${VAR} is filled from the environment; default: the configured tables).",
)
@pass_options
@run_command
def validate(opts: Options, which: str | None) -> None:
    """Run the expectation suite on a table; exit 1 when an expectation fails.

    SQL and Spark tables are validated in their engine by GX, on the whole table.
    Example: mlci validate --data data/fresh.parquet
    """
    from mlci.check import validate_data

    config = opts.load()
    results = validate_data(config, _table_arg(which))
    if opts.json:
        from mlci.serial import to_data

        emit_json({"success": all(r.success for r in results), "results": [to_data(r) for r in results]})
    else:
        for r in results:
            for line in render_validation(r)[: 1 if opts.quiet else None]:
                echo(line)
    _annotate_validation(results)
    if not all(r.success for r in results):
        sys.exit(1)


def _table_arg(text: str | None) -> Any:
    """Return a table argument: a path, or an engine table with ${VAR} filled from the environment (a URL's password)."""
    if text is None:
        return None
    from mlci.config import SqlSource
    from mlci.redaction import remember, url_secrets
    from mlci.sources import parse_source

    source = parse_source(text, env=os.environ)
    if isinstance(source, SqlSource):
        remember(*url_secrets(source.sql))
    return source


def _annotate_validation(results: list[Any]) -> None:
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return
    from mlci.github.workflow import annotation

    # GitHub places an annotation by the file's path inside the repository checkout.
    workspace = os.environ.get("GITHUB_WORKSPACE")
    for r in results:
        suite = os.path.relpath(r.suite, workspace) if workspace and os.path.isabs(r.suite) else r.suite
        for f in r.failures:
            echo(annotation("error", f.describe(), title=f"mlci validate: {r.table}", file=suite, line=f.line))


# --- train / evaluate / report / check ---------------------------------------------------


@cli.command()
@click.option("--output", "-o", default=None, help="Bundle directory (default: .mlci/bundles/<id>).")
@pass_options
@run_command
def train(opts: Options, output: str | None) -> None:
    """Fit the candidate and write a bundle (model.skops + manifest.json).

    Example: mlci train --output build/model
    """
    from pathlib import Path

    from mlci.check import train_candidate
    from mlci.data import load_datasets

    config = opts.load()
    result = train_candidate(config, load_datasets(config), Path(output) if output else None, ctx=github_context())
    b = result.bundle
    if opts.json:
        emit_json({"version": b.version, "path": str(b.path), "seconds": round(result.seconds, 3)})
    else:
        echo(f"trained {config.model.name} version {b.version} in {result.seconds:.1f}s -> {b.path}")


@cli.command()
@click.option("--candidate", required=True, help="Candidate REF: a bundle directory, version id or alias.")
@click.option("--baseline", default="production", show_default=True, help="Baseline REF.")
@click.option("--output", "-o", default="comparison.json", show_default=True, help="Where to write the comparison.")
@pass_options
@run_command
def evaluate(opts: Options, candidate: str, baseline: str, output: str) -> None:
    """Compare candidate and baseline on the same test rows and apply the gates.

    Exit 1 when a gate fails. Example: mlci evaluate --candidate .mlci/bundles/ab12cd34ef56ab78
    """
    from pathlib import Path

    from mlci.check import evaluate_refs
    from mlci.redaction import redact

    document = evaluate_refs(opts.load(), candidate, baseline, ctx=github_context())
    Path(output).write_text(redact(document.to_json()))
    if opts.json:
        emit_json(document.to_data())
    elif opts.quiet:
        echo(render_verdict(document).splitlines()[0])
    else:
        echo(render_verdict(document))
        echo(f"comparison written to {output}")
    if document.verdict == "fail":
        sys.exit(1)


@cli.command()
@click.option("--input", "input_", default="comparison.json", show_default=True, help="comparison.json to render.")
@click.option("--output", "-o", default=None, help="Markdown file (default: report.output in mlci.yaml).")
@click.option("--post", is_flag=True, help="Post or update the sticky PR comment and the commit status.")
@pass_options
@run_command
def report(opts: Options, input_: str, output: str | None, post: bool) -> None:
    """Render the Markdown report; with --post, the sticky PR comment and the commit status.

    In GitHub Actions the report also goes to the step summary, and the outputs verdict,
    report-path and comment-url are set. Example: mlci report --post
    """
    from pathlib import Path

    from mlci.document import load_document, render_report
    from mlci.publish import publish

    config = opts.load()
    document = load_document(Path(input_))
    target = Path(output or config.report.output)
    from mlci.redaction import redact

    target.write_text(redact(render_report(config, document)))
    published = publish(config, document, github_context(), post=post, report_path=str(target))
    if opts.json:
        emit_json({"verdict": document.verdict, "report_path": str(target), "comment_url": published.comment_url})
    else:
        echo(f"report ({document.verdict}) written to {target}")
        if not opts.quiet:
            show_published(published)


def _yielding_openmp() -> None:
    """Make the fit's OpenMP threads sleep, not spin, while waiting (unless the user chose).

    Set just before the validation worker starts beside the fit, and before scikit-learn loads
    its OpenMP runtime (which reads it once). With the default, threads waiting at the fit's
    barriers spin on both cores and the worker slows every parallel region: at 1M rows on 2
    cores the fit beside the worker took 14.3-14.9 s, with PASSIVE 11.7 s (docs/benchmarks.md).
    A fit without a worker beside it keeps OpenMP's default.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@cli.command()
@click.option("--baseline", default="production", show_default=True, help="Baseline REF.")
@click.option(
    "--post/--no-post", default=None, help="Post the PR comment and commit status (default: in GitHub Actions)."
)
@pass_options
@run_command
def check(opts: Options, baseline: str, post: bool | None) -> None:
    """The PR check: validate -> train -> evaluate -> push -> report.

    The candidate is stored under alias pr-<number> (from the GitHub event) or `candidate`.
    Writes comparison.json and report.md; exit 1 when expectations or gates fail.
    """
    from mlci.check import DataFailed
    from mlci.check import check as run_check
    from mlci.publish import publish

    config = opts.load()
    post = in_actions() if post is None else post
    try:
        result = run_check(config, baseline=baseline, ctx=github_context(), before_worker=_yielding_openmp)
    except DataFailed as e:
        # The data stopped the check: its document still goes to the comment, status and outputs.
        published = publish(config, e.document, github_context(), post=post, report_path=str(e.report_path))
        echo(render_verdict(e.document))
        if not opts.quiet:
            echo(f"report: {e.report_path}")
            show_published(published)
            _annotate_validation(e.document.validation)
        raise
    except MlciError as e:
        # The PR's status must not stay pending (or green from an earlier push) when the
        # check could not finish.
        if post:
            from mlci.publish import error_status

            note = error_status(config, github_context(), e.lines()[0])
            if note:
                echo(note, err=True)
        raise
    published = publish(
        config,
        result.document,
        github_context(),
        post=post,
        report_path=str(result.report_path),
    )
    if opts.json:
        emit_json({**result.document.to_data(), "comment_url": published.comment_url})
    elif opts.quiet:
        echo(render_verdict(result.document).splitlines()[0])
    else:
        with folded("mlci validate"):
            for r in result.validation:
                for line in render_validation(r):
                    echo(line)
        for message in result.messages:
            echo(message)
        echo(render_verdict(result.document))
        if result.push is not None:
            stored = "already stored" if not result.push.created else "stored"
            echo(f"candidate {result.push.version} {stored} as '{result.alias}' in {result.push.uri}")
        echo(f"report: {result.report_path}  comparison: {result.comparison_path}")
        show_published(published)
    if not opts.quiet:
        _annotate_validation(result.validation)
    if result.verdict == "fail":
        sys.exit(1)


class folded:
    """Fold the lines printed inside into a collapsible group in the Actions log."""

    def __init__(self, title: str) -> None:
        self.title = title

    def __enter__(self) -> None:
        if in_actions():
            echo(group(self.title))

    def __exit__(self, *exc: object) -> None:
        if in_actions():
            echo(endgroup())


# --- registry ----------------------------------------------------------------------------


@cli.command()
@click.argument("bundle")
@click.option("--alias", default=None, help="Also point this alias at the version.")
@pass_options
@run_command
def push(opts: Options, bundle: str, alias: str | None) -> None:
    """Store a bundle as an immutable version (idempotent).

    Example: mlci push .mlci/bundles/ab12cd34ef56ab78 --alias candidate
    """
    from mlci.release import push as push_bundle

    result = push_bundle(opts.load(), bundle, alias, ctx=github_context())
    if opts.json:
        emit_json(result.model_dump(mode="json", exclude_none=not alias))
    else:
        state = "stored" if result.created else "already stored (0 bytes sent)"
        echo(f"version {result.version} {state} at {result.uri}")
        if result.signature is not None:
            signed = result.signature
            echo(f"signed by {signed.signer.identity} (signature {signed.id}); ML-BOM at {signed.bom_uri}")
        elif result.signing_note:
            echo(result.signing_note)
        if alias and not opts.quiet:
            echo(f"alias '{alias}' -> {result.version} (was {result.previous or 'unset'})")


@cli.command()
@click.argument("ref", required=False)
@click.option("--to", "alias", required=True, help="Alias to move (e.g. staging).")
@click.option("--from-pr", default=None, help="PR number, or 'auto' to find the PR of the pushed commit.")
@click.option("--allow-failed", is_flag=True, help="Promote even if the PR's candidate failed its gates.")
@click.option("--reason", default="", help="Why, for the event log.")
@click.option(
    "--expect", default=None, help="Only move the alias if it still holds this version ('none': unset); else exit 3."
)
@pass_options
@run_command
def promote(
    opts: Options,
    ref: str | None,
    alias: str,
    from_pr: str | None,
    allow_failed: bool,
    reason: str,
    expect: str | None,
) -> None:
    """Move an alias to a version (compare-and-swap; exit 3 if it moved under us).

    Example: mlci promote pr-42 --to production
    """
    from mlci import release

    config = opts.load()
    pr = None
    verdict = None
    if from_pr is not None:
        from mlci.promotion import verify_pr_candidate

        if ref is not None:
            raise UsageError("give either REF or --from-pr, not both")
        verified = verify_pr_candidate(config, from_pr, github_context())
        for line in (verified.found, *verified.notes):
            if not opts.quiet:
                echo(line, err=opts.json)  # --json keeps stdout pure JSON
        ref, verdict, reason = verified.version, verified.verdict, reason or verified.found
        if config.signing is not None:  # the signature must bind the candidate to this PR
            from mlci.verification import pull_record

            pr = pull_record(github_context(), verified.pr)
    if ref is None:
        raise UsageError("name the version to promote (REF), or use --from-pr")
    ctx = github_context()
    result = release.promote(
        config, ref, alias, reason=reason, allow_failed=allow_failed, expect=expect, ctx=ctx, pr=pr, verdict=verdict
    )
    from mlci.deploy import record_promotion
    from mlci.github.workflow import set_output

    notes: list[str] = []
    if alias in config.environments:
        description = f"promote {config.model.name} {result.version}"
        notes = record_promotion(ctx, alias, config.model.name, result.version, result.moved, description)
    set_output("version", result.version, os.environ.get("GITHUB_OUTPUT"))
    if opts.json:
        emit_json(result.model_dump(mode="json"))
    else:
        if result.signature is not None:
            echo(f"signature verified: signed by {result.signature.signer.identity}")
        echo(f"alias '{alias}' -> {result.version} (was {result.previous or 'unset'})")
        for note in notes:
            echo(note)


@cli.command()
@click.argument("ref")
@click.option("--pr", "pr", type=int, default=None, help="Also require the signature to bind it to this PR.")
@pass_options
@run_command
def verify(opts: Options, ref: str, pr: int | None) -> None:
    """Check a stored version's signature against mlci.yaml's signing policy (exit 1 when it fails).

    Example: mlci verify staging
    """
    from mlci.verification import verify_ref

    result = verify_ref(opts.load(), ref, ctx=github_context(), pr=pr)
    if opts.json:
        emit_json(result.model_dump(mode="json"))
        return
    s = result.signature
    echo(f"version {result.version}: signature {s.id} by {s.signer.identity} verifies under the policy")
    echo(f"ML-BOM: {s.bom_uri}")


@cli.command()
@click.argument("ref")
@click.option("--env", "environment", required=True, help="Environment (e.g. production).")
@click.option("--reason", default="", help="Why, for the event log.")
@click.option("--allow-failed", is_flag=True, help="Deploy even if the version's last check failed (recorded).")
@pass_options
@run_command
def deploy(opts: Options, ref: str, environment: str, reason: str, allow_failed: bool) -> None:
    """Publish, smoke-test, then move the environment; undo by itself on any failure.

    Exit 1 when the smoke test fails, 2 for a tampered or untrusted model, 3 when the
    environment moved meanwhile. Example: mlci deploy staging --env production
    """
    from mlci import deploy as deploying

    result = deploying.deploy(
        opts.load(), ref, environment, ctx=github_context(), env=os.environ, reason=reason, allow_failed=allow_failed
    )
    show_deploy(opts, result, "deployed")


@cli.command()
@click.option("--env", "environment", required=True, help="Environment to roll back.")
@click.option("--to", "to", default=None, help="Version REF (default: the previous one).")
@click.option("--reason", default="", help="Why, for the event log.")
@pass_options
@run_command
def rollback(opts: Options, environment: str, to: str | None, reason: str) -> None:
    """Put the previous (or a named) version back into an environment, smoke-tested like a deploy.

    Example: mlci rollback --env production
    """
    from mlci import deploy as deploying

    result = deploying.rollback(opts.load(), environment, to, ctx=github_context(), env=os.environ, reason=reason)
    show_deploy(opts, result, "rolled back")


def show_deploy(opts: Options, result: Any, verb: str) -> None:
    """Print a DeployResult and set the Actions output `version`."""
    from mlci.github.workflow import set_output

    set_output("version", result.version, os.environ.get("GITHUB_OUTPUT"))
    if opts.json:
        emit_json(result.model_dump(mode="json"))
        return
    line = (
        f"{verb}: {result.environment} is version {result.version} (was {result.previous or 'unset'}); "
        f"published at {result.uri}"
    )
    if opts.quiet:
        echo(line)
        return
    for note in result.notes:
        echo(note)
    echo(line)
    echo("smoke test passed")


@cli.command()
@click.option("--alias", default=None, help="Only this alias.")
@pass_options
@run_command
def history(opts: Options, alias: str | None) -> None:
    """Show versions, aliases and the event log."""
    from mlci.release import history as read_history

    result = read_history(opts.load(), alias)
    for warning in result.warnings:
        echo(f"warning: {warning}", err=True)
    if opts.json:
        emit_json(result.model_dump(mode="json"))
        return
    echo(f"model {result.model} in {result.registry}")
    echo("\naliases:")
    for a in result.aliases:
        echo(f"  {a.alias:<14} {a.version}  (previous {a.previous or '-'}, {a.updated_at} by {a.actor})")
    echo("\nversions:")
    for v in result.versions:
        metrics = ", ".join(f"{k}={val:.4f}" for k, val in v.metrics.items() if isinstance(val, (int, float)))
        echo(f"  {v.version}  {v.created_at}  {metrics}")
        for sig in v.signatures or []:
            made = sig.provenance
            pr = f" PR #{made.pr}" if made is not None and made.pr else ""
            echo(f"    signature {sig.id}  by {sig.signer.identity}  ({made.action if made else '?'}{pr}, unverified)")
        if v.signatures == []:
            echo("    unsigned")
    echo("\nevents:")
    for e in result.events:
        what = e.get("alias") or e.get("env") or ""
        verdict = (e.get("extra") or {}).get("verdict")
        extra = f" verdict={verdict}" if verdict else ""
        echo(
            f"  {e.get('time', '')}  {e.get('action', ''):<8} {what:<12} {e.get('version') or ''}{extra}  {e.get('actor', '')}"
        )


# --- scheduled ---------------------------------------------------------------------------


@cli.command()
@click.option(
    "--current",
    default=None,
    help="Fresh table: a PATH or an engine table such as '{sql: URL, table: NAME}' (default: retrain.data).",
)
@pass_options
@run_command
def drift(opts: Options, current: str | None) -> None:
    """Drift of fresh data against the production version's reference profile.

    Per feature: population stability index, a KS (numeric) or chi-square (categorical)
    test, unseen categories and null rates; exit 1 when a feature crosses drift.psi_fail.
    Example: mlci drift --current data/2026-11-22.parquet
    """
    from mlci import retrain as retraining
    from mlci.github.workflow import set_output
    from mlci.serial import to_data

    result = retraining.drift(opts.load(), _table_arg(current))
    report, uri, version = result.report, result.table, result.production
    set_output("drift", report.status, os.environ.get("GITHUB_OUTPUT"))
    if opts.json:
        emit_json({"table": uri, "production": version, **to_data(report)})
    else:
        echo(
            f"drift of {uri} ({report.rows_cur} rows) against production {version} ({report.rows_ref} rows): {report.status}"
        )
        if not opts.quiet:
            echo(render_drift(report))
    if report.status == "fail":
        sys.exit(1)


@cli.command()
@pass_options
@run_command
def retrain(opts: Options) -> None:
    """The scheduled job: validate fresh data, measure drift, retrain, compare, report.

    Reads retrain.data ({date}/{yesterday} filled in), stores the candidate as
    retrain-<date>, applies retrain.promote when the gates pass, and keeps one GitHub
    issue per model up to date. Outputs: verdict, drift, version.
    """
    from pathlib import Path

    from mlci import retrain as retraining
    from mlci.github.workflow import append_summary, set_output

    config = opts.load()
    result = retraining.retrain(config, ctx=github_context(), env=os.environ)
    out = os.environ.get("GITHUB_OUTPUT")
    for name, value in (("verdict", result.verdict), ("drift", result.drift), ("version", result.version)):
        set_output(name, value, out)
    append_summary(Path(result.report_path).read_text(), os.environ.get("GITHUB_STEP_SUMMARY"))
    document = result.document
    if opts.json:
        emit_json(
            document.to_data()
            | {
                "verdict": result.verdict,
                "drift": result.drift,
                "version": result.version,
                "promoted": result.promoted,
                "issue_url": result.issue_url,
                "issue_error": result.issue_error,
            }
        )
        _retrain_issue_failed(result)
        return
    data = document.stage("data validation")
    if opts.quiet:
        echo(f"retrain: {result.verdict}; candidate {result.version}; promoted: {result.promoted or 'no'}")
        if data is not None and data.status == "fail":
            sys.exit(1)
        return
    for r in document.validation:
        for line in render_validation(r):
            echo(line)
    if document.drift is not None:
        echo(render_drift(document.drift))
    echo(render_verdict(document))
    echo(f"candidate {result.version} stored as '{result.alias}'; promoted: {result.promoted or 'no'}")
    for note in result.notes:
        echo(note)
    if result.issue_url:
        echo(f"tracking issue {result.issue_action}: {result.issue_url}")
    if data is not None and data.status == "fail":
        sys.exit(1)  # the fresh data broke a critical expectation: nothing was promoted
    _retrain_issue_failed(result)


def _retrain_issue_failed(result: Any) -> None:
    """Exit 4 when GitHub refused the tracking issue, after every output of the run is written."""
    if result.issue_error:
        raise ServiceError(
            f"{result.issue_error}; the run itself finished: version {result.version}, "
            f"promoted: {result.promoted or 'no'} (outputs, report and step summary are written)"
        )


# --- scaffolding -------------------------------------------------------------------------


@cli.command()
@click.argument("directory", default=".")
@click.option("--data", required=True, help="Your training table (CSV or Parquet); the suite is drawn from it.")
@click.option("--test", "test", default=None, help="A separate test table (default: mlci splits --data).")
@click.option(
    "--target",
    default=None,
    help="Column to predict (default: a column named target/label/y/class/outcome, else the last column).",
)
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@pass_options
@run_command
def init(opts: Options, directory: str, data: str, test: str | None, target: str | None, force: bool) -> None:
    """Scaffold mlci.yaml, an expectation suite, the workflows and a .gitignore.

    The suite (GX's JSON format) is drawn from your data: robust ranges (quantiles widened by
    a margin, most rows), value sets for categorical columns, nulls and uniqueness. init runs
    it once on every table it read. Example: mlci init --data data/train.csv --test data/test.csv --target churned
    """
    from pathlib import Path

    from mlci.scaffold import init as scaffold

    result = scaffold(Path(directory), data, target, force=force, test=test)
    if opts.json:
        from mlci.serial import to_data

        emit_json(
            {
                "written": [str(p) for p in result.written],
                "notes": result.notes,
                "validation": [to_data(r) for r in result.validation],
            }
        )
    else:
        if not opts.quiet:
            for path in result.written:
                echo(f"wrote {path}")
            for note in result.notes:
                echo(note)
        for r in result.validation:
            outcome = "all pass" if r.success else f"{r.failed} FAILED"
            echo(f"suite checked on {r.table}: {r.rows} rows, {r.evaluated} expectations, {outcome}")
            for line in render_validation(r)[1:]:
                echo(line)
        if result.success and not opts.quiet:
            echo("next: mlci config check && mlci check")
    if not result.success:
        sys.exit(1)


@cli.command()
@click.option("--clean", is_flag=True, help="Delete the demo's temp directory at the end.")
@pass_options
@run_command
def demo(opts: Options, clean: bool) -> None:
    """Run the whole lifecycle on examples/ with a local registry.

    Trains a first model (bootstrap), checks and promotes a better one, shows a worse one
    rejected by the gates, and prints the history. Takes well under a minute.
    """
    from mlci import demo as demo_module

    sys.exit(demo_module.run(echo, os.environ, keep=not clean))


_accept_global_options(cli)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="mlci")
