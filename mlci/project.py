"""mlci.Project: the library's front door.

One Project is one mlci.yaml, the one GitHub context of the run it is in, and (opened on first
use, once) its registry. Every use case is a method that returns a typed result and raises
`mlci.errors` classes; the command line is a thin shell over these methods (mlci.cli), and so
can be a notebook or another tool:

    from mlci import Project

    project = Project.load("mlci.yaml")
    result = project.check()
    print(result.document.verdict, result.document.headline)

Nothing here prints, exits or reads the process environment: the caller passes `variables`
(read for ${VAR} in mlci.yaml, table arguments and the deploy webhook's secret) and the
context (`GitHubContext.from_env`), as the CLI does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlci.config.schema import Config, TableSource
    from mlci.contracts.document import ReportDocument
    from mlci.contracts.validation import ValidationResult
    from mlci.flows.check import CheckResult
    from mlci.flows.deploy import DeployResult
    from mlci.flows.monitor import MonitorResult
    from mlci.flows.pipeline import Candidate
    from mlci.flows.release import CardResult, History, PromoteResult, PushOutcome
    from mlci.flows.retrain import DriftResult, RetrainResult
    from mlci.flows.scaffold import Scaffold
    from mlci.github.context import GitHubContext
    from mlci.registry.registry import Registry
    from mlci.report.reporters import Shown
    from mlci.signing.verify import Verification


class Project:
    """An mlci project: its configuration, the GitHub run it is in, and its registry."""

    def __init__(
        self, config: Config, *, context: GitHubContext | None = None, variables: Mapping[str, str] | None = None
    ) -> None:
        from mlci.github.context import GitHubContext

        self.config = config
        self.context = context if context is not None else GitHubContext()
        self.variables: Mapping[str, str] = variables if variables is not None else {}

    @classmethod
    def load(
        cls,
        path: str | Path = "mlci.yaml",
        *,
        context: GitHubContext | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> Project:
        """Return the project whose mlci.yaml is `path` (ConfigError lists every problem with its line)."""
        from mlci.config.schema import load_config

        return cls(load_config(path, env=variables or {}), context=context, variables=variables)

    @staticmethod
    def init(
        directory: Path, data: str, *, target: str | None = None, test: str | None = None, force: bool = False
    ) -> Scaffold:
        """Return what `mlci init` wrote: mlci.yaml, an expectation suite drawn from `data`, the workflows."""
        from mlci.flows.scaffold import init

        return init(directory, data, target, force=force, test=test)

    # --- what the project holds -------------------------------------------------------------

    @cached_property
    def registry(self) -> Registry:
        """Return the project's registry, opened on first use (once per Project)."""
        from mlci.registry.references import open_registry

        return open_registry(self.config)

    @cached_property
    def public_registry(self) -> Registry | None:
        """Return the registry a job without credentials reads (`registry.public_uri`), or None."""
        from mlci.registry.references import open_public_registry

        return open_public_registry(self.config)

    def table(self, text: str | None) -> TableSource | None:
        """Return a table argument: a path, or an engine table with ${VAR} filled from `variables` (a URL's password).

        The password of an engine table's URL is remembered, so nothing this process prints or writes shows it.
        """
        if text is None:
            return None
        from mlci._internal.redaction import remember, url_secrets
        from mlci.config.schema import SqlSource
        from mlci.data.engines import parse_source

        source = parse_source(text, env=self.variables)
        if isinstance(source, SqlSource):
            remember(*url_secrets(source.sql))
        return source

    # --- the PR check and its parts ----------------------------------------------------------

    def check_model(self) -> None:
        """Raise TrainingError (one line, with a close name) unless the model's estimator, entrypoint, command or file is found."""
        from mlci.modeling.training import check_builder

        check_builder(self.config)

    def validate(self, table: str | None = None) -> list[ValidationResult]:
        """Return the suite's result on the configured tables, `train`, `test`, a path or an engine table."""
        from mlci.flows.validate import validate_data

        return validate_data(self.config, self.table(table))

    def train(self, output: Path | None = None) -> Candidate:
        """Return the candidate fitted on the configured tables, its bundle written to `output` (or .mlci/)."""
        from mlci.data.tables import load_datasets
        from mlci.flows.formats import require_model

        require_model(self.config, "train")
        from mlci.flows.pipeline import train_candidate

        return train_candidate(self.config, load_datasets(self.config), output, ctx=self.context)

    def check(
        self,
        *,
        baseline: str | None = "production",
        output_dir: Path | None = None,
        before_worker: Callable[[], None] | None = None,
        post: bool = False,
    ) -> CheckResult:
        """Return the PR check: validate, train (or reuse), evaluate against `baseline`, store under pr-<n>, report.

        A pull request from a fork reads the public registry (if any) and stores nothing.
        `before_worker` runs just before a validation worker starts beside the fit.
        """
        from mlci.flows.check import check

        untrusted = self.context.is_fork_pr or self.context.is_dependabot_pr  # no write credentials either way
        registry = self.public_registry if untrusted else self.registry
        return check(
            self.config,
            registry,
            self.context,
            baseline=baseline,
            output_dir=output_dir,
            before_worker=before_worker,
            post=post,
        )

    def evaluate(
        self, candidate: str, baseline: str | None = "production", *, output: Path | None = None
    ) -> ReportDocument:
        """Return candidate REF compared with baseline REF on the test rows, gates applied (written to `output`)."""
        from mlci.flows.formats import require_model

        require_model(self.config, "evaluate")
        from mlci.flows.evaluate import evaluate_refs

        return evaluate_refs(self.config, self.registry, candidate, baseline, ctx=self.context, output=output)

    def show(self, document: ReportDocument, report_path: Path | None = None, *, post: bool = False) -> Shown:
        """Return where a document was shown: the step summary and outputs, and with `post` the PR comment and status."""
        from mlci.report.reporters import show

        return show(self.config, document, self.context, post=post, report_path=report_path)

    def report(self, document: Path, output: Path | None = None, *, post: bool = False) -> Shown:
        """Return where the comparison.json at `document` was shown: report.md (`output`), and as `publish` says."""
        from mlci.contracts.document import load_document
        from mlci.report.reporters import write_markdown

        loaded = load_document(document)
        target = write_markdown(self.config, loaded, output or Path(self.config.report.output))
        return self.show(loaded, target, post=post)

    @contextmanager
    def posting_errors(self, post: bool) -> Iterator[None]:
        """Within this block, an error that stops a check also sets its commit status to error (with `post`).

        The PR's status must not stay pending (or green from an earlier push) when the check
        could not finish; a status that cannot be set is added to the error's notes.
        """
        from mlci.errors import MlciError
        from mlci.report.reporters import error_status

        try:
            yield
        except MlciError as e:
            if post and (note := error_status(self.config, self.context, e.lines()[0])):
                e.notes.append(note)
            raise

    # --- the release path ----------------------------------------------------------------------

    def push(self, bundle: str, *, alias: str | None = None, reason: str = "") -> PushOutcome:
        """Return the version a bundle directory was stored as (and the alias moved, through the release policy)."""
        from mlci.flows.release import push

        return push(self.config, self.registry, bundle, alias, reason=reason, ctx=self.context)

    def promote(
        self,
        ref: str | None,
        to: str,
        *,
        from_pr: str | None = None,
        allow_failed: bool = False,
        reason: str = "",
        expect: str | None = None,
    ) -> PromoteResult:
        """Return the alias `to` moved to REF, or to a merged PR's candidate (`from_pr`: a number or 'auto').

        With `from_pr`, the candidate is checked against GitHub's record of the PR and
        re-evaluated against production here; that verdict, not the stored one, decides.
        """
        from mlci.errors import MlciError, UsageError
        from mlci.flows.release import promote

        notes: list[str] = []
        pr = verdict = None
        if from_pr is not None:
            from mlci.flows.promotion import verify_pr_candidate

            if ref is not None:
                raise UsageError("give either REF or --from-pr, not both")
            verified = verify_pr_candidate(self.config, self.registry, from_pr, self.context)
            notes += [verified.found, *verified.notes]
            ref, verdict, reason = verified.version, verified.verdict, reason or verified.found
            if self.config.signing is not None:  # the signature must bind the candidate to this PR
                from mlci.signing.verify import pull_record

                pr = pull_record(self.context, verified.pr)
        if ref is None:
            raise UsageError("name the version to promote (REF), or use --from-pr")
        try:
            result = promote(
                self.config,
                self.registry,
                ref,
                to,
                reason=reason,
                allow_failed=allow_failed,
                expect=expect,
                ctx=self.context,
                pr=pr,
                verdict=verdict,
            )
        except MlciError as e:  # how the candidate was found and re-evaluated still explains the refusal
            e.notes[:0] = notes
            raise
        self._outputs(version=result.version)
        return result.model_copy(update={"notes": notes})

    def verify(self, ref: str, *, pr: int | None = None) -> Verification:
        """Return the signature of REF that satisfies the signing policy (bound to PR `pr` when given)."""
        from mlci.signing.verify import verify_ref

        return verify_ref(self.config, self.registry, ref, ctx=self.context, pr=pr)

    def deploy(self, ref: str, environment: str, *, reason: str = "", allow_failed: bool = False) -> DeployResult:
        """Return the deploy of REF to `environment`: published, smoke-tested, then live; undone on any failure."""
        from mlci.flows.deploy import deploy

        result = deploy(
            self.config,
            self.registry,
            ref,
            environment,
            ctx=self.context,
            webhook_secret=self._webhook_secret(),
            reason=reason,
            allow_failed=allow_failed,
        )
        self._outputs(version=result.version)
        return result

    def rollback(self, environment: str, to: str | None = None, *, reason: str = "") -> DeployResult:
        """Return the rollback of `environment` to its previous (or the named) version, smoke-tested like a deploy."""
        from mlci.flows.deploy import rollback

        result = rollback(
            self.config,
            self.registry,
            environment,
            to,
            ctx=self.context,
            webhook_secret=self._webhook_secret(),
            reason=reason,
        )
        self._outputs(version=result.version)
        return result

    def history(self, alias: str | None = None) -> History:
        """Return the versions, aliases and event log of the project's model (one alias's, when named)."""
        from mlci.flows.release import history

        return history(self.config, self.registry, alias)

    def card(self, ref: str) -> CardResult:
        """Return the model card stored with REF (an alias, a version id or a bundle directory)."""
        from mlci.flows.release import card

        return card(self.config, self.registry, ref)

    # --- the scheduled jobs --------------------------------------------------------------------

    def drift(self, current: str | None = None, *, openmetrics: Path | None = None) -> DriftResult:
        """Return the drift of a fresh table (default: retrain.data) against production's reference profile.

        Its OpenMetrics go to `openmetrics` (a file) and to `openmetrics.pushgateway` when set.
        """
        from mlci.flows.formats import require_model
        from mlci.flows.monitor import export
        from mlci.flows.retrain import drift
        from mlci.report.openmetrics import drift_registry

        require_model(self.config, "drift")
        result = drift(self.config, self.registry, self.table(current))
        self._outputs(drift=result.report.status)
        if openmetrics is not None or self.config.openmetrics.pushgateway:
            gauges = drift_registry(
                result.report, model=self.config.model.name, version=result.production, environment="production"
            )
            result.exported = export(self.config, gauges, openmetrics, command="drift", environment="production")
        return result

    def monitor(
        self,
        *,
        predictions: str | None = None,
        labels: str | None = None,
        table: str | None = None,
        environment: str = "production",
        openmetrics: Path | None = None,
    ) -> MonitorResult:
        """Return the version in `environment` measured on labelled production rows against what it shipped with.

        In a run with a GitHub token the model's monitoring issue is kept current; the OpenMetrics
        go to `openmetrics` (a file) and to `openmetrics.pushgateway` when set.
        """
        from mlci.flows.formats import require_model
        from mlci.flows.monitor import export, monitor, track
        from mlci.report.openmetrics import monitor_registry

        require_model(self.config, "monitor")
        result = monitor(
            self.config, self.registry, predictions=predictions, labels=labels, table=table, environment=environment
        )
        self._outputs(monitor=result.report.status)
        if openmetrics is not None or self.config.openmetrics.pushgateway:
            gauges = monitor_registry(result.report)
            result.notes += export(self.config, gauges, openmetrics, command="monitor", environment=environment)
        track(self.config, result, self.context)
        return result

    def retrain(self, *, output_dir: Path | None = None) -> RetrainResult:
        """Return the scheduled job: validate fresh data, measure drift, retrain, compare, store, promote, report."""
        from mlci.flows.formats import require_model

        require_model(self.config, "retrain")
        from mlci.flows.retrain import retrain
        from mlci.github.workflow import append_summary

        result = retrain(
            self.config, self.registry, self.context, webhook_secret=self._webhook_secret(), output_dir=output_dir
        )
        self._outputs(verdict=result.verdict, drift=result.drift, version=result.version)
        append_summary(Path(result.report_path).read_text(), self.context.summary_path)
        return result

    # --- helpers ---------------------------------------------------------------------------------

    def _webhook_secret(self) -> str:
        return self.variables.get(self.config.deploy.webhook_secret_env, "")

    def _outputs(self, **values: Any) -> None:
        """Set the step's outputs (GITHUB_OUTPUT), when the run has an output file."""
        from mlci.github.workflow import set_output

        for name, value in values.items():
            set_output(name, value, self.context.output_path)
