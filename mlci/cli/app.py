"""mlci's command line: each command parses, calls one Project method, and emits the result.

`mlci.project.Project` does the work; `mlci.cli.output` prints (`emit`: --json, -q or text) and
maps errors to exit codes; `mlci.cli.text` words each result. Heavy libraries are imported
inside the commands, so `mlci --help` stays fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from mlci import __version__
from mlci.cli import text
from mlci.cli.output import Options, echo, emit, run_command

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


# --- config ------------------------------------------------------------------------------


@cli.group("config")
def config_group() -> None:
    """Check mlci.yaml or print its JSON Schema."""


@config_group.command("check")
@pass_options
@run_command
def config_check(opts: Options) -> None:
    """Validate mlci.yaml (one line per problem with its line number) and find the model's estimator, entrypoint, command or file.

    Example: mlci -c mlci.yaml config check
    """
    project = opts.project()
    project.check_model()
    config = project.config
    valid = {"valid": True, "config": str(opts.config), "model": config.model.name}
    emit(
        opts,
        valid,
        lambda v, quiet: [] if quiet else [f"{opts.config}: valid (model '{v['model']}', {config.model.task})"],
    )


@config_group.command("schema")
@run_command
def config_schema() -> None:
    """Print the JSON Schema of mlci.yaml (for editors)."""
    import json

    from mlci.config.schema import json_schema

    echo(json.dumps(json_schema(), indent=2))


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
    project = opts.project()
    results = project.validate(which)
    success = all(r.success for r in results)
    emit(opts, results, text.validation, data={"success": success, "results": results})
    for line in text.validation_annotations(results, project.context, project.config.base_dir):
        echo(line)
    if not success:
        sys.exit(1)


# --- train / evaluate / report / check ---------------------------------------------------


@cli.command()
@click.option("--output", "-o", default=None, help="Bundle directory (default: .mlci/bundles/<id>).")
@pass_options
@run_command
def train(opts: Options, output: str | None) -> None:
    """Fit the candidate and write a bundle (model.skops + manifest.json).

    Example: mlci train --output build/model
    """
    project = opts.project()
    result = project.train(Path(output) if output else None)
    b, name = result.bundle, project.config.model.name
    data = {"version": b.version, "path": str(b.path), "seconds": round(result.seconds, 3)}
    emit(
        opts,
        result,
        lambda r, q: [f"trained {name} version {b.version} in {r.seconds:.1f}s -> {text.shown(b.path)}"],
        data=data,
    )


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
    project = opts.project()
    document = project.evaluate(candidate, baseline, output=Path(output))
    project.show(document)  # in Actions: the step summary and the outputs action.yml promises (verdict)
    emit(opts, (document, output), text.evaluate, data=document.to_data())
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
    from mlci.contracts.document import load_document

    project = opts.project()
    document = load_document(Path(input_))
    shown = project.report(Path(input_), Path(output) if output else None, post=post)
    data = {"verdict": document.verdict, "report_path": shown.report_path, "comment_url": shown.comment_url}
    emit(opts, (document, shown), text.report, data=data)


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
    project = opts.project()
    post = project.context.in_actions if post is None else post
    with project.posting_errors(post):
        result = project.check(baseline=baseline, before_worker=_yielding_openmp, post=post)
    shown = project.show(result.document, result.report_path, post=post and result.stale is None)
    emit(opts, (result, shown), text.check, data=result.document.to_data() | {"comment_url": shown.comment_url})
    for line in (
        [] if opts.quiet else text.validation_annotations(result.validation, project.context, project.config.base_dir)
    ):
        echo(line)
    if result.failure is not None:
        raise result.failure
    if result.verdict == "fail":
        sys.exit(1)


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
    result = opts.project().push(bundle, alias=alias)
    emit(opts, result, text.push, data=result.model_dump(mode="json", exclude_none=not alias))


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
    project = opts.project()
    result = project.promote(ref, alias, from_pr=from_pr, allow_failed=allow_failed, reason=reason, expect=expect)
    emit(opts, result, text.promote, notes=result.notes)


@cli.command()
@click.argument("ref")
@click.option("--pr", "pr", type=int, default=None, help="Also require the signature to bind it to this PR.")
@pass_options
@run_command
def verify(opts: Options, ref: str, pr: int | None) -> None:
    """Check a stored version's signature against mlci.yaml's signing policy (exit 1 when it fails).

    Example: mlci verify staging
    """
    emit(opts, opts.project().verify(ref, pr=pr), text.verification)


@cli.command()
@click.argument("ref")
@pass_options
@run_command
def card(opts: Options, ref: str) -> None:
    """Print the model card stored with a version: metrics, data, gates, what it relies on, its owners.

    The card (Hugging Face's layout: a YAML header, then Markdown) is written when a check or a
    retrain stores the version, and its signatures cover it. Example: mlci card production
    """
    result = opts.project().card(ref)
    emit(opts, result, text.card)


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
    result = opts.project().deploy(ref, environment, reason=reason, allow_failed=allow_failed)
    emit(opts, result, text.deployed("deployed"))


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
    emit(opts, opts.project().rollback(environment, to, reason=reason), text.deployed("rolled back"))


@cli.command()
@click.option("--alias", default=None, help="Only this alias.")
@pass_options
@run_command
def history(opts: Options, alias: str | None) -> None:
    """Show versions, aliases and the event log."""
    result = opts.project().history(alias)
    for warning in result.warnings:
        echo(f"warning: {warning}", err=True)
    emit(opts, result, text.history)


# --- scheduled ---------------------------------------------------------------------------


@cli.command()
@click.option(
    "--current",
    default=None,
    help="Fresh table: a PATH or an engine table such as '{sql: URL, table: NAME}' (default: retrain.data).",
)
@click.option("--openmetrics", default=None, type=click.Path(dir_okay=False), help="Write OpenMetrics text here.")
@pass_options
@run_command
def drift(opts: Options, current: str | None, openmetrics: str | None) -> None:
    """Drift of fresh data against the production version's reference profile.

    Per feature: population stability index, a KS (numeric) or chi-square (categorical)
    test, unseen categories and null rates; exit 1 when a feature's test is significant after Holm's
    correction across features (drift.alpha) and its effect is at least drift.min_effect.
    Example: mlci drift --current data/2026-11-22.parquet
    """
    from mlci._internal.serial import to_data

    result = opts.project().drift(current, openmetrics=Path(openmetrics) if openmetrics else None)
    emit(
        opts,
        result,
        text.drift,
        data={"table": result.table, "production": result.production, **to_data(result.report)},
        notes=result.exported,
    )
    if result.report.status == "fail":
        sys.exit(1)


@cli.command()
@click.option("--predictions", default=None, help="The rows production served (features, or a 'prediction' column).")
@click.option("--labels", default=None, help="Their labels (data.target), joined to --predictions on data.id.")
@click.option("--table", default=None, help="One table holding both, instead of --predictions and --labels.")
@click.option("--env", "environment", default="production", show_default=True, help="Environment whose version.")
@click.option("--openmetrics", default=None, type=click.Path(dir_okay=False), help="Write OpenMetrics text here.")
@pass_options
@run_command
def monitor(
    opts: Options,
    predictions: str | None,
    labels: str | None,
    table: str | None,
    environment: str,
    openmetrics: str | None,
) -> None:
    """Production performance once labels arrive: the live version's metrics now against those it shipped with.

    Overall and per slice, with two-sample intervals; exit 1 when a metric dropped past
    monitor.max_drop. Example: mlci monitor --predictions served.parquet --labels labels.csv
    """
    from mlci._internal.serial import to_data

    result = opts.project().monitor(
        predictions=predictions,
        labels=labels,
        table=table,
        environment=environment,
        openmetrics=Path(openmetrics) if openmetrics else None,
    )
    data = {"table": result.table, **to_data(result.report), "issue_url": result.issue_url}
    emit(opts, result, text.monitor, data=data, notes=result.notes)
    if result.report.status == "fail":
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
    result = opts.project().retrain()
    fields = ("verdict", "drift", "version", "promoted", "refused", "issue_url", "issue_error")
    emit(opts, result, text.retrain, data=result.document.to_data() | {f: getattr(result, f) for f in fields})
    result.raise_for_outcome()


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
    from mlci.project import Project

    result = Project.init(Path(directory), data, target=target, test=test, force=force)
    written = {"written": [str(p) for p in result.written], "notes": result.notes, "validation": result.validation}
    emit(opts, result, text.scaffold, data=written)
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
    from mlci.flows import demo as demo_module

    sys.exit(demo_module.run(echo, os.environ, keep=not clean))


_accept_global_options(cli)


def main() -> None:
    """Console-script entry point: run the command, then end the process without tearing its modules down."""
    try:
        cli(prog_name="mlci")  # click's standalone mode ends every run in SystemExit
    except SystemExit as stop:
        if sys.gettrace() is not None or sys.getprofile() is not None:
            raise  # a debugger, profiler or coverage tool wants the normal exit (its report is written then)
        end(stop.code)


def end(code: object) -> NoReturn:
    """End the process as a normal exit would, less the interpreter's teardown of every module.

    A check imports some 3,000 modules (scikit-learn, Great Expectations, scipy, pandas); at exit
    the interpreter frees them one by one, which took 1.7-3.5 s per process on this 2-core
    machine under load (/tmp imports of the check's libraries, exit vs os._exit) for a process
    that is ending anyway. Everything else a normal exit does still happens, in its order:
    non-daemon threads are joined (threading's own shutdown), atexit handlers run (logging,
    temporary directories, multiprocessing, Spark), Python's streams are flushed, and C's stdio
    buffers too (native libraries such as LightGBM print through them).
    """
    import atexit
    import ctypes
    import threading

    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): printed to stderr, status 1, as the interpreter does
        print(code, file=sys.stderr)
        status = 1
    shutdown = getattr(threading, "_shutdown", None)  # CPython's own step of a normal exit
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can be written anyway
            pass
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass
    os._exit(status)
