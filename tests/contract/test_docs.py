"""Documentation that is generated from code must match the code."""

from __future__ import annotations

from mlci.config.reference import reference_markdown
from mlci.config.schema import Config
from tests.support.paths import ROOT


def test_config_reference_is_up_to_date():
    written = (ROOT / "docs" / "config.md").read_text()
    assert written == reference_markdown(), (
        "docs/config.md is stale: run `python -m mlci.config.reference > docs/config.md`"
    )


def test_config_reference_documents_every_field_with_a_description():
    text = reference_markdown()
    for section in [
        Config,
        *[f.annotation for f in Config.model_fields.values() if hasattr(f.annotation, "model_fields")],
    ]:
        for name, field in section.model_fields.items():  # type: ignore[union-attr]
            assert field.description, f"{section.__name__}.{name} has no description"
            assert f"| `{name}` |" in text


def test_troubleshooting_documents_every_exit_code():
    from mlci import errors

    text = (ROOT / "docs" / "troubleshooting.md").read_text()
    from mlci.cli.output import EXIT_CODES

    codes = set(EXIT_CODES.values())
    assert errors.MlciError in EXIT_CODES
    for code in codes | {0}:
        assert f"| {code} |" in text, f"exit code {code} is not in docs/troubleshooting.md"


def test_docs_link_to_files_that_exist():
    import re

    for page in (ROOT / "docs").glob("*.md"):
        for target in re.findall(r"\]\(([^)#:]+\.md)\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
