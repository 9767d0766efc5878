"""An S3 registry whose credentials boto3 cannot use is one config line, before any request is made."""

from __future__ import annotations

import pytest

from tests.support.project import ProjectCopy


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"AWS_PROFILE": "nope"}, "S3 credentials: The config profile (nope) could not be found"),
        (
            {"AWS_ACCESS_KEY_ID": "AKIAHALF"},
            "S3 credentials: Partial credentials found in env, missing: AWS_SECRET_ACCESS_KEY",
        ),
    ],
)
def test_credentials_boto3_cannot_use_are_one_config_line(project: ProjectCopy, env: dict[str, str], said: str) -> None:
    project.with_("registry.uri", "s3://bucket/registry")
    clean = {k: v for k, v in project.env.items() if not k.startswith("AWS_")}
    run = project.run("history", env={**clean, **env})
    assert run.returncode == 2, run.text
    assert (
        run.stderr.strip()
        == f"{said} (set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or an AWS_PROFILE that exists, or neither)"
    )
    assert "Traceback" not in run.text and "internal error" not in run.text
