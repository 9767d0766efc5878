"""The one place a run of the pipeline is chosen by model.format.

`skops` models go through flows/pipeline.run (fit or reuse, score in a contained process);
`results` versions through flows/results.run_results (the user's command writes per-example
results). Both take the same options and return the same `Run`, so the PR check and
promote --from-pr never branch on the format themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlci.config.schema import Config
    from mlci.data.tables import Datasets
    from mlci.flows.pipeline import Run
    from mlci.github.context import GitHubContext
    from mlci.registry.registry import Registry


def run(config: Config, registry: Registry | None, datasets: Datasets, ctx: GitHubContext, **options: Any) -> Run:
    """Return one run of the pipeline of config's model.format (options: those of flows/pipeline.run)."""
    if config.model.format == "results":
        from mlci.flows.results import run_results

        return run_results(config, registry, datasets, ctx, **options)
    from mlci.flows.pipeline import run as run_pipeline

    return run_pipeline(config, registry, datasets, ctx, **options)


def require_model(config: Config, command: str) -> None:
    """Raise ConfigError when `mlci <command>` needs a model and model.format is `results` (there is none to fit)."""
    if config.model.format == "results":
        from mlci.errors import ConfigError

        raise ConfigError(
            f"{config.path}: `mlci {command}` needs a model, and model.format is results",
            hint="evaluate a results version with `mlci check`; see docs/llm.md",
        )
