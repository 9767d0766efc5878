"""The one redactor: URL credentials and remembered secrets never survive it, whatever the password holds."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mlci._internal.redaction import redact, redact_url, remember, remembering, split_userinfo, url_secrets
from tests.support.bundles import GOOD
from tests.support.project import ProjectCopy

# Every printable ASCII character, space included: what a generated password may hold.
PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
PASSWORDS = st.text(PRINTABLE, min_size=1, max_size=40)
SETTINGS = settings(max_examples=300, deadline=None, database=None)


def forms(password: str) -> set[str]:
    """Return the ways a password could be written out: raw, URL-encoded, JSON- and repr-escaped."""
    return {
        password,
        quote(password),
        quote(password, safe=""),
        quote(password, safe=" +"),
        json.dumps(password)[1:-1],
        repr(password)[1:-1],
    }


@SETTINGS
@given(password=PASSWORDS, user=st.sampled_from(["mlci", "svc.reader", "a-b_c"]))
def test_a_url_is_redacted_whole_whatever_its_password_holds(password: str, user: str) -> None:
    url = f"postgresql+psycopg2://{user}:{password}@db.internal:5432/warehouse"
    assert redact_url(url) == "postgresql+psycopg2://***@db.internal:5432/warehouse"
    # What mlci connects with is split at the same `@` as what it redacts.
    assert split_userinfo(url) == ("postgresql+psycopg2://", f"{user}:{password}", "db.internal:5432/warehouse")


MESSAGE = (
    'cannot connect: connection to server at "db.internal" failed: could not translate host name "{password}" '
    "to address; url was {url}; dsn: host=db.internal password={password} user=mlci"
)
URL = "postgresql+psycopg2://mlci:{password}@db.internal:5432/warehouse?sslmode=require"


def masks_cleanly(password: str) -> bool:
    """Return whether no form of `password` occurs in the text around it, nor could arise next to a `***`."""
    around = MESSAGE.format(url=URL.format(password=""), password="")
    edges = password.startswith("*") or password.endswith("*") or "***" in password
    return not edges and not any(f in around for f in forms(password))


@SETTINGS
@given(password=st.text(PRINTABLE, min_size=4, max_size=40))
def test_a_remembered_password_is_masked_in_free_text_and_json_in_every_form(password: str) -> None:
    assume(masks_cleanly(password))
    url = URL.format(password=password)
    # A driver's message may hold the password anywhere: in a URL, quoted, after `password=`.
    text = MESSAGE.format(url=url, password=password)
    with remembering():
        remember(*url_secrets(url))
        for written in (text, repr(text), json.dumps({"error": text}), quote(text), quote(text, safe="")):
            out = redact(written)
            for form in forms(password):
                assert form not in out, (form, out)
        # Redacting JSON text leaves JSON that reads back, without the password.
        document = json.loads(redact(json.dumps({"error": text, "url": url}, indent=2)))
        assert password not in json.dumps(document, ensure_ascii=False)
        assert document["url"] == "postgresql+psycopg2://***@db.internal:5432/warehouse?sslmode=***"


def test_each_line_of_a_multi_line_secret_is_masked_on_its_own() -> None:
    key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n"
    # A command printing the key line by line, and a one-line error quoting its second line.
    printed = "loading key\n" + key.replace("\n", "\r\n")
    error = "model.command failed: invalid key line 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC'"
    for text in (printed, error):
        shown = redact(text, secrets=[key])
        assert all(line.strip() not in shown for line in key.splitlines()), shown
    assert redact(error, secrets=[key]) == "model.command failed: invalid key line '***'"


def test_remembered_values_are_forgotten_when_the_command_ends() -> None:
    with remembering():
        remember("hunter2-secret", "abc")  # too short to mask in free text: it would garble every message
        assert redact("token hunter2-secret, code abc") == "token ***, code abc"
    assert redact("token hunter2-secret") == "token hunter2-secret"


@SETTINGS
@given(password=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="\"'<>"), min_size=1))
def test_credentials_in_an_unknown_url_in_free_text_are_redacted_by_structure(password: str) -> None:
    """Without remembering: the userinfo of a URL in free text runs to its last `@` before a space or quote."""
    text = f"POST https://hook:{password}@hooks.example.com/notify failed (timed out); retrying"
    assert redact(text) == "POST https://***@hooks.example.com/notify failed (timed out); retrying"


def test_redacting_is_idempotent_and_leaves_other_text_alone() -> None:
    text = "validated postgresql+psycopg2://***@127.0.0.1:5432/postgres table churn (3000 rows); mail ops@example.com"
    assert redact(text) == text
    assert redact(redact("https://u:p@h/x?token=abc&x=")) == "https://***@h/x?token=***&x="
    assert redact("host=db password='s3 cr3t' port=5432") == "host=db password=*** port=5432"


def test_only_credentials_filled_from_the_environment_are_secrets() -> None:
    url = "https://hook:pw-1234@127.0.0.1:8080/notify?token=tok-5678&env=prod-east"
    filled = ["pw-1234", "tok-5678", "127.0.0.1", "prod-east-1"]
    assert url_secrets(url, filled) == {"pw-1234", "tok-5678"}
    assert url_secrets("s3://bucket/models", ["bucket"]) == set()
    assert url_secrets("postgresql://u:p%40ss%2Fw0rd@db/wh") == {"p%40ss%2Fw0rd", "p@ss/w0rd"}


def test_mlci_yaml_knows_the_passwords_it_filled_in(tmp_path: Path) -> None:
    from mlci.config.schema import load_config

    (tmp_path / "mlci.yaml").write_text(
        "model: {name: churn, task: classification, estimator: sklearn.linear_model.LogisticRegression}\n"
        "data:\n  train: {sql: 'postgresql+psycopg2://mlci:${PGPW}@${PGHOST}/wh', table: churn}\n"
        "  test: data/test.csv\n  target: churned\n"
        "metrics: {primary: roc_auc}\n"
    )
    config = load_config(tmp_path / "mlci.yaml", env={"PGPW": "S3cr/et+Pw", "PGHOST": "db.internal"})
    assert config.secrets == {"S3cr/et+Pw"}


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(password=st.text(PRINTABLE, min_size=4, max_size=32))
def test_no_printable_password_reaches_a_commands_output(password: str, project: ProjectCopy) -> None:
    """`mlci validate --data` on a database that refuses: the one error line holds no form of the password."""
    expected = "postgresql+psycopg2://***@127.0.0.1:1/postgres table churn: cannot connect"
    assume(not any(f in expected for f in forms(password)) and not password.startswith("*"))
    assume(not password.endswith("*") and "***" not in password)
    source = json.dumps({"sql": "postgresql+psycopg2://mlci:${PGPW}@127.0.0.1:1/postgres", "table": "churn"})
    # -v: the traceback too (it is printed through the same redactor).
    for args in (("validate", "--data", source), ("-v", "validate", "--data", source)):
        run = project.run(*args, env=project.env_with(PGPW=password))
        assert run.returncode == 2, run.stderr
        assert expected in run.stderr
        for form in forms(password):
            assert form not in run.stdout + run.stderr, (form, run.stderr)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg2://mlci:S3cr/et+Pw@host/db",
        "postgresql+psycopg2://mlci:p@ss@w0rd@host:5432/db",
        "postgresql://mlci:a b?c#d:e%zz@host/db?sslmode=require",
    ],
)
def test_the_driver_is_given_the_password_the_redactor_hides(url: str) -> None:
    """mlci connects with the userinfo split at its last `@`, as the redactor splits it (SQLAlchemy would not)."""
    from mlci.config.schema import SqlSource
    from mlci.data.engines import SqlTable

    table = SqlTable(SqlSource(sql=url, table="t"), "data.train")
    parsed = table._url()
    password = url.split("mlci:", 1)[1].rsplit("@", 1)[0]
    assert parsed.password == password and parsed.username == "mlci" and parsed.host == "host"
    assert table.label.startswith(url.split("://")[0] + "://***@host")


def test_credentials_in_uris_are_redacted_in_output_events_and_refusals(project, trained):
    version = project.push(trained(params=GOOD))
    env = project.env
    secret = "hunter2-very-secret"
    project.with_("deploy.webhook", "http://hook:${HOOK_PASSWORD}@127.0.0.1:1/notify?token=${HOOK_PASSWORD}")
    run_env = {**env, "HOOK_PASSWORD": secret, "MLCI_WEBHOOK_SECRET": "signing-key"}
    run = project.run("deploy", version, "--env", "production", env=run_env)
    assert run.returncode == 0, run.stderr
    assert "warning: deploy.webhook http://***@127.0.0.1:1/notify?token=*** failed" in run.stdout
    assert secret not in run.stdout + run.stderr
    registry = project / ".mlci" / "registry"
    assert not [p for p in registry.rglob("*.json") if secret in p.read_text()]

    project.with_registry(uri="s3://bucket/r", endpoint_url=f"http://key:{secret}@127.0.0.1:1")
    refused = project.run("history", env=run_env)
    assert refused.returncode == 2
    assert refused.stderr.startswith("registry.endpoint_url http://***@127.0.0.1:1 carries credentials")
    assert secret not in refused.stderr
