"""The registry on both real stores: a directory and a SeaweedFS S3 bucket.

Most tests run once per store through the parametrised `store` fixture; the races run
real concurrent processes (local) and threads against a real server (S3).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from mlci.cli.output import exit_code
from mlci.contracts.events import AliasEvent
from mlci.errors import ConfigError, ConflictError, ModelError, NotFoundError, ServiceError
from mlci.registry import Registry
from mlci.storage import Store, open_store
from mlci.storage.s3 import S3Store
from tests.support.paths import ROOT
from tests.support.s3_server import SeaweedFS, free_ports

MODEL = "churn"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_bundle(
    where: Path,
    seed: str,
    *,
    size: int = 4096,
    created_at: str = "2024-01-01T00:00:00Z",
    extra: dict[str, bytes] | None = None,
) -> Path:
    """Write a bundle as mlci/modeling/bundle.py lays it out: model.skops, extras, manifest.json."""
    bundle = where / f"bundle-{seed}"
    bundle.mkdir(parents=True)
    block = hashlib.sha256(seed.encode()).digest()
    model = (block * (size // len(block) + 1))[:size]
    (bundle / "model.skops").write_bytes(model)
    files = {"model.skops": sha256(model)}
    for name, data in {"profile.json": b'{"rows": 10}', **(extra or {})}.items():
        (bundle / name).write_bytes(data)
        files[name] = sha256(data)
    manifest = {
        "sha256": files["model.skops"],
        "files": files,
        "model": MODEL,
        "created_at": created_at,
        "metrics": {"accuracy": 0.9},
    }
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return bundle


def version_of(bundle: Path) -> str:
    return sha256((bundle / "model.skops").read_bytes())[:16]


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """The same registry tests on a directory and on a real S3 bucket."""
    if request.param == "local":
        return open_store("registry", base_dir=tmp_path)
    bucket = request.getfixturevalue("s3_bucket")
    server: SeaweedFS = request.getfixturevalue("s3_server")
    return open_store(
        f"s3://{bucket}/team/registry",
        base_dir=tmp_path,
        endpoint_url=server.endpoint_url,
        addressing_style="path",
    )


@pytest.fixture
def s3_store(s3_server: SeaweedFS, s3_bucket: str) -> S3Store:
    return S3Store(f"s3://{s3_bucket}/reg", endpoint_url=s3_server.endpoint_url, addressing_style="path")


# -- push -----------------------------------------------------------------------


def test_second_push_is_idempotent_and_sends_no_bytes(store: Store, tmp_path: Path) -> None:
    registry = Registry(store, MODEL)
    bundle = make_bundle(tmp_path, "a")

    first = registry.push(bundle, actor="alice", reason="pr-1")
    assert first.created is True
    assert first.version == version_of(bundle)
    model_key = f"{MODEL}/versions/{first.version}/model.skops"
    before = store.head(model_key)
    stats_before = dict(getattr(store, "stats", {}))

    second = registry.push(bundle, actor="bob")

    assert second.created is False
    assert second.version == first.version
    assert store.head(model_key) == before
    if isinstance(store, S3Store):
        assert store.stats == stats_before  # not one PutObject, not one byte
    assert [e.action for e in registry.events()] == ["push"]
    assert registry.events()[0].actor == "alice"
    assert registry.exists(first.version)
    assert registry.manifest(first.version).sha256 == sha256((bundle / "model.skops").read_bytes())


def test_half_written_version_is_invisible_until_its_manifest_lands(store: Store, tmp_path: Path) -> None:
    registry = Registry(store, MODEL)
    bundle = make_bundle(tmp_path, "half", size=64 * 1024)
    version = version_of(bundle)
    # A push that died after the model and before the manifest.
    store.put(f"{MODEL}/versions/{version}/model.skops", (bundle / "model.skops").read_bytes())

    assert registry.exists(version) is False
    assert registry.versions() == []
    with pytest.raises(NotFoundError):
        registry.version_of(version)

    sent_before = getattr(store, "stats", {}).get("bytes_sent", 0)
    result = registry.push(bundle, actor="ci")

    assert result.created is True
    assert registry.exists(version)
    if isinstance(store, S3Store):
        # The model already there is not sent again; only the small files are.
        assert store.stats["bytes_sent"] - sent_before < 64 * 1024


def test_push_refuses_a_bundle_modified_after_its_manifest(store: Store, tmp_path: Path) -> None:
    registry = Registry(store, MODEL)
    bundle = make_bundle(tmp_path, "tampered")
    with (bundle / "model.skops").open("ab") as f:
        f.write(b"!")

    with pytest.raises(ModelError, match="does not match its sha256"):
        registry.push(bundle, actor="ci")
    assert store.list(f"{MODEL}/") == []


def test_a_large_file_altered_after_its_manifest_is_never_made_visible(store: Store, tmp_path: Path) -> None:
    # Past 16 MiB the check runs while the file uploads (multipart on S3): the upload is
    # abandoned before completion, so nothing of the version is stored.
    registry = Registry(store, MODEL)
    bundle = make_bundle(tmp_path, "large", size=18 * 1024 * 1024)
    with (bundle / "model.skops").open("r+b") as f:
        f.seek(17 * 1024 * 1024)
        f.write(b"!")

    with pytest.raises(ModelError, match="does not match its sha256"):
        registry.push(bundle, actor="ci")
    assert store.list(f"{MODEL}/") == []


def test_versions_are_listed_newest_first(store: Store, tmp_path: Path) -> None:
    registry = Registry(store, MODEL)
    old = registry.push(make_bundle(tmp_path, "old", created_at="2024-01-01T00:00:00Z"), actor="ci")
    new = registry.push(make_bundle(tmp_path, "new", created_at="2024-06-01T00:00:00Z"), actor="ci")

    assert [vid for vid, _ in registry.versions()] == [new.version, old.version]


# -- resolve and aliases -------------------------------------------------------------


def test_resolve_by_id_prefix_and_alias(store: Store, tmp_path: Path) -> None:
    registry = Registry(store, MODEL)
    v1 = registry.push(make_bundle(tmp_path, "one"), actor="ci").version
    v2 = registry.push(make_bundle(tmp_path, "two"), actor="ci").version
    registry.set_alias("production", v1, actor="ci", reason="first release")

    assert registry.version_of(v2) == v2
    assert registry.version_of(v2[:6]) == v2
    assert registry.version_of("production") == v1
    with pytest.raises(NotFoundError, match="'staging'"):
        registry.version_of("staging")
    with pytest.raises(NotFoundError, match="at least 6"):
        registry.version_of(v1[:4])


def test_set_alias_records_previous_and_appends_events(store: Store, tmp_path: Path) -> None:
    registry = Registry(store, MODEL)
    v1 = registry.push(make_bundle(tmp_path, "one"), actor="ci").version
    v2 = registry.push(make_bundle(tmp_path, "two"), actor="ci").version

    first = registry.set_alias("production", v1, actor="alice", reason="release 1")
    second = registry.set_alias("production", v2, actor="bob", reason="release 2")

    assert first.previous is None
    assert second.previous == v1
    stored = registry.alias("production")
    assert stored is not None
    assert (stored.version, stored.previous, stored.actor, stored.reason) == (v2, v1, "bob", "release 2")
    assert stored.etag == second.etag
    alias_events = [e for e in registry.events() if e.action == "alias"]
    assert [(e.version, e.previous, e.actor) for e in alias_events] == [
        (v1, None, "alice"),
        (v2, v1, "bob"),
    ]
    assert [a.name for a in registry.aliases()] == ["production"]


def test_set_alias_with_a_stale_etag_is_a_conflict(store: Store, tmp_path: Path) -> None:
    registry = Registry(store, MODEL)
    v1 = registry.push(make_bundle(tmp_path, "one"), actor="ci").version
    v2 = registry.push(make_bundle(tmp_path, "two"), actor="ci").version
    v3 = registry.push(make_bundle(tmp_path, "three"), actor="ci").version
    registry.set_alias("production", v1, actor="ci", reason="")
    seen = registry.alias("production")
    assert seen is not None
    registry.set_alias("production", v2, actor="other-merge", reason="")

    with pytest.raises(ConflictError, match=f"moved to {v2} while mlci was moving it to {v3}") as info:
        registry.set_alias("production", v3, actor="ci", reason="", expected_etag=seen.etag)
    assert exit_code(info.value) == 3
    with pytest.raises(ConflictError):
        registry.set_alias("production", v3, actor="ci", reason="", expected_etag=None)
    current = registry.alias("production")
    assert current is not None and current.version == v2


def test_set_alias_to_a_missing_version_is_not_found(store: Store, tmp_path: Path) -> None:
    registry = Registry(store, MODEL)
    with pytest.raises(NotFoundError, match="no such version"):
        registry.set_alias("production", "0123456789abcdef", actor="ci", reason="")


def test_store_compare_and_swap(store: Store) -> None:
    assert store.put_if_absent("k/obj", b"one") is True
    assert store.put_if_absent("k/obj", b"two") is False
    data, etag = store.get("k/obj")
    assert data == b"one"
    new = store.put_if_match("k/obj", b"three", etag)
    with pytest.raises(ConflictError):
        store.put_if_match("k/obj", b"four", etag)
    with pytest.raises(ConflictError):
        store.put_if_match("k/obj", b"four", None)
    assert store.get("k/obj") == (b"three", new)
    store.put_if_match("k/new", b"x", None)
    assert store.list("k/") == ["k/new", "k/obj"]
    store.delete("k/obj")
    assert store.head("k/obj") is None
    with pytest.raises(NotFoundError):
        store.get("k/obj")


def test_twenty_concurrent_writers_from_one_etag_exactly_one_wins(store: Store) -> None:
    store.put_if_absent("k/obj", b"start")
    _, etag = store.get("k/obj")
    results: list[str] = []
    barrier = threading.Barrier(20)

    def writer(i: int) -> None:
        barrier.wait(timeout=30)
        try:
            store.put_if_match("k/obj", f"writer {i}".encode(), etag)
            results.append(f"won {i}")
        except ConflictError:
            results.append("conflict")

    _run_threads(writer, 20)
    winners = [r for r in results if r.startswith("won")]
    assert len(winners) == 1 and results.count("conflict") == 19
    assert store.get("k/obj")[0] == f"writer {winners[0].split()[1]}".encode()


def _run_threads(target: Callable[[int], None], count: int) -> None:
    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)


# -- fetch and publish --------------------------------------------------------------


def test_fetch_verifies_every_file_against_the_manifest(store: Store, tmp_path: Path) -> None:
    registry = Registry(store, MODEL)
    bundle = make_bundle(tmp_path, "fetch", extra={"smoke.parquet": b"PAR1 rows"})
    version = registry.push(bundle, actor="ci").version

    got = registry.fetch(version, tmp_path / "cache")

    assert got == tmp_path / "cache" / version
    for name in ("model.skops", "profile.json", "smoke.parquet", "manifest.json"):
        assert (got / name).read_bytes() == (bundle / name).read_bytes()

    # One byte changed in the stored model: fetch must refuse it.
    key = f"{MODEL}/versions/{version}/model.skops"
    data, _ = store.get(key)
    store.put(key, bytes([data[0] ^ 1]) + data[1:])
    with pytest.raises(ModelError, match="altered"):
        registry.fetch(version, tmp_path / "fresh")
    assert not (tmp_path / "fresh" / version).exists()


def test_fetch_refuses_a_manifest_swapped_for_another_versions(store: Store, tmp_path: Path) -> None:
    registry = Registry(store, MODEL)
    v1 = registry.push(make_bundle(tmp_path, "one"), actor="ci").version
    v2 = registry.push(make_bundle(tmp_path, "two"), actor="ci").version
    other, _ = store.get(f"{MODEL}/versions/{v2}/manifest.json")
    store.put(f"{MODEL}/versions/{v1}/manifest.json", other)

    with pytest.raises(ModelError, match=f"describes version {v2}, not {v1}"):
        registry.fetch(v1, tmp_path / "cache")


def test_publish_copies_the_version_and_fetch_published_returns_it(store: Store, tmp_path: Path) -> None:
    registry = Registry(store, MODEL)
    v1 = registry.push(make_bundle(tmp_path, "one", extra={"old.txt": b"only in v1"}), actor="ci").version
    v2 = registry.push(make_bundle(tmp_path, "two"), actor="ci").version

    uri = registry.publish(v1, "production", actor="ci")
    assert uri == store.url(f"{MODEL}/deployments/production/")
    assert registry.published_version("production") == v1
    assert registry.fetch_published("production", tmp_path / "serve").name == v1
    first = registry.pointer_release("production")[0]

    registry.publish(v2, "production", actor="ci")
    served = registry.fetch_published("production", tmp_path / "serve")
    assert served.name == v2
    current = json.loads(store.get(f"{MODEL}/deployments/production/CURRENT.json")[0])
    assert current["version"] == v2 and re.fullmatch(f"releases/{v2}-[0-9a-f]{{8}}/", current["prefix"])
    release = store.list(f"{MODEL}/deployments/production/{current['prefix']}")
    assert not any(k.endswith("old.txt") for k in release)  # each release is a fresh prefix: no mix
    moved = registry.set_alias("production", v2, actor="ci", reason="test", expected_etag=None)
    assert registry.prune_releases("production", alias_etag=moved.etag) == [first]
    assert not any(v1 in k for k in store.list(f"{MODEL}/deployments/production/"))
    publishes = [e for e in registry.events() if e.action == "publish"]
    assert [(e.env, e.version, e.previous) for e in publishes] == [
        ("production", v1, None),
        ("production", v2, v1),
    ]
    with pytest.raises(NotFoundError, match="nothing is published to environment 'staging'"):
        registry.fetch_published("staging", tmp_path / "serve")


def test_prune_keeps_live_previous_and_leased_releases_and_only_runs_under_its_own_alias_move(
    store: Store, tmp_path: Path
) -> None:
    registry = Registry(store, MODEL)
    v1, v2, v3, v4 = (registry.push(make_bundle(tmp_path, n), actor="ci").version for n in ("a", "b", "c", "d"))

    def deployed(version: str) -> str:
        release = registry.take_lease(version, "staging", actor="ci")
        registry.stage(version, "staging", release)
        registry.mark_smoked("staging", release, actor="ci")
        registry.drop_lease("staging", release)
        return release

    r1, r2 = deployed(v1), deployed(v2)
    registry.switch("staging", r2, expected_etag=None)
    registry.set_alias("staging", v1, actor="ci", reason="test")
    moved = registry.set_alias("staging", v2, actor="ci", reason="test")  # previous: v1
    # A deploy of v3 in flight: leased, staged, not yet smoke-tested or named by anything.
    in_flight = registry.take_lease(v3, "staging", actor="ci")
    registry.stage(v3, "staging", in_flight)
    garbage = deployed(v4)  # a loser's release: nothing names it, no lease holds it

    # Someone moved the alias since this move: nothing is pruned here (it is theirs to do).
    newer = registry.set_alias("staging", v1, actor="ci", reason="test")
    assert registry.prune_releases("staging", alias_etag=moved.etag) == []
    assert registry.smoked_release(v4, "staging") == garbage

    assert registry.prune_releases("staging", alias_etag=newer.etag) == [garbage]
    assert registry.smoked_release(v1, "staging") == r1  # the alias
    assert registry.smoked_release(v2, "staging") == r2  # its previous and the pointer
    assert store.head(f"{MODEL}/deployments/staging/releases/{in_flight}/manifest.json") is not None
    assert store.list(f"{MODEL}/deployments/staging/releases/{garbage}/") == []

    # Once its deploy ends, the in-flight release is garbage too; a lease left by a killed
    # deploy lapses after LEASE_SECONDS.
    registry.drop_lease("staging", in_flight)
    stale = registry.take_lease(v4, "staging", actor="ci")
    registry.stage(v4, "staging", stale)
    lease = f"{MODEL}/deployments/staging/leases/{stale}.json"
    body = json.loads(store.get(lease)[0])
    store.put(lease, json.dumps({**body, "started_at": "2020-01-01T00:00:00.000000Z"}).encode())
    assert registry.prune_releases("staging", alias_etag=newer.etag) == sorted([in_flight, stale])


def test_events_are_oldest_first_and_never_overwritten(store: Store) -> None:
    registry = Registry(store, MODEL)
    for i in range(5):
        registry.log_event(AliasEvent(actor="ci", alias="production", version=f"{i:016x}"))

    events = registry.events()
    assert [e.version for e in events] == [f"{i:016x}" for i in range(5)]
    assert all(e.model == MODEL and e.action == "alias" for e in events)
    assert len(store.list(f"{MODEL}/events/")) == 5


# -- races ---------------------------------------------------------------------------

RACE = """
import sys, time
from pathlib import Path
from mlci.errors import MlciError
from mlci.registry import Registry
from mlci.storage import open_store

root, version, etag, ready, me = sys.argv[1:]
registry = Registry(open_store(root, base_dir=Path.cwd()), "churn")
Path(ready, me).touch()
deadline = time.monotonic() + 30
while len(list(Path(ready).iterdir())) < 2 and time.monotonic() < deadline:
    time.sleep(0.001)
try:
    registry.set_alias("production", version, actor=me, reason="race", expected_etag=etag)
except MlciError as e:
    print(e, file=sys.stderr)
    from mlci.cli.output import exit_code
    sys.exit(exit_code(e))
"""


def test_two_processes_racing_to_move_an_alias_exactly_one_wins(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    registry = Registry(open_store(str(root), base_dir=tmp_path), MODEL)
    v1, v2, v3 = (registry.push(make_bundle(tmp_path, s), actor="ci").version for s in ("1", "2", "3"))
    start = registry.set_alias("production", v1, actor="ci", reason="")
    ready = tmp_path / "ready"
    ready.mkdir()

    procs = {
        version: subprocess.Popen(
            [sys.executable, "-c", RACE, str(root), version, str(start.etag), str(ready), f"merge-{version}"],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for version in (v2, v3)
    }
    outcomes = {version: (p.wait(timeout=60), p.stderr.read() if p.stderr else "") for version, p in procs.items()}

    codes = sorted(code for code, _ in outcomes.values())
    assert codes == [0, 3], outcomes
    winner = next(v for v, (code, _) in outcomes.items() if code == 0)
    loser_message = next(err for code, err in outcomes.values() if code == 3)
    assert "while mlci was moving it to" in loser_message and "re-run" in loser_message
    final = registry.alias("production")
    assert final is not None and (final.version, final.previous) == (winner, v1)
    moves = [e for e in registry.events() if e.action == "alias" and e.reason == "race"]
    assert [(e.version, e.previous) for e in moves] == [(winner, v1)]


def test_twenty_threads_racing_on_an_s3_alias_exactly_one_wins(s3_store: S3Store, tmp_path: Path) -> None:
    registry = Registry(s3_store, MODEL)
    targets = [registry.push(make_bundle(tmp_path, f"t{i}"), actor="ci").version for i in range(4)]
    start = registry.set_alias("production", targets[0], actor="ci", reason="")
    barrier = threading.Barrier(20)
    outcomes: dict[int, str] = {}

    def merge(i: int) -> None:
        barrier.wait(timeout=30)
        try:
            registry.set_alias(
                "production", targets[1 + i % 3], actor=f"merge-{i}", reason="race", expected_etag=start.etag
            )
            outcomes[i] = "won"
        except ConflictError as e:
            outcomes[i] = str(e)

    _run_threads(merge, 20)

    winners = [i for i, o in outcomes.items() if o == "won"]
    assert len(winners) == 1, outcomes
    assert sum("while mlci was moving it to" in o for o in outcomes.values()) == 19
    final = registry.alias("production")
    assert final is not None
    assert (final.version, final.previous, final.actor) == (
        targets[1 + winners[0] % 3],
        targets[0],
        f"merge-{winners[0]}",
    )
    moves = [e for e in registry.events() if e.action == "alias" and e.reason == "race"]
    assert [(e.version, e.actor) for e in moves] == [(final.version, final.actor)]


# -- S3 specifics ------------------------------------------------------------------


def test_seaweedfs_honours_if_none_match_and_if_match(s3_server: SeaweedFS, s3_bucket: str) -> None:
    from botocore.exceptions import ClientError

    client = s3_server.client()
    first = client.put_object(Bucket=s3_bucket, Key="k", Body=b"1", IfNoneMatch="*")["ETag"]
    with pytest.raises(ClientError) as created_twice:
        client.put_object(Bucket=s3_bucket, Key="k", Body=b"2", IfNoneMatch="*")
    assert created_twice.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    client.put_object(Bucket=s3_bucket, Key="k", Body=b"3", IfMatch=first)
    with pytest.raises(ClientError) as stale:
        client.put_object(Bucket=s3_bucket, Key="k", Body=b"4", IfMatch=first)
    assert stale.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert client.get_object(Bucket=s3_bucket, Key="k")["Body"].read() == b"3"
    # And the store's own probe agrees, so `locking: conditional` is accepted.
    S3Store(f"s3://{s3_bucket}", endpoint_url=s3_server.endpoint_url).verify_conditional_writes()


def test_large_file_is_uploaded_in_parts_only_if_absent(s3_server: SeaweedFS, s3_bucket: str, tmp_path: Path) -> None:
    store = S3Store(
        f"s3://{s3_bucket}/reg",
        endpoint_url=s3_server.endpoint_url,
        addressing_style="path",
        multipart_threshold=5 * 1024 * 1024,
        multipart_chunksize=5 * 1024 * 1024,
    )
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(12 * 1024 * 1024))
    other = tmp_path / "other.bin"
    other.write_bytes(os.urandom(6 * 1024 * 1024))

    assert store.put_if_absent("m/big.bin", big) is True
    assert store.stats["put_requests"] == 3  # three parts of 5, 5 and 2 MiB
    assert store.put_if_absent("m/big.bin", other) is False
    assert store.stats["put_requests"] == 3  # HEAD saw it: nothing sent
    store.get_file("m/big.bin", tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == big.read_bytes()
    store.copy("m/big.bin", "m/copy.bin")  # server-side, part by part past the threshold
    store.get_file("m/copy.bin", tmp_path / "copy.bin")
    assert (tmp_path / "copy.bin").read_bytes() == big.read_bytes()
    # The condition rides on CompleteMultipartUpload: a writer that loses after uploading
    # its parts leaves the object untouched.
    raw = s3_server.client()
    raw.put_object(Bucket=s3_bucket, Key="reg/m/late.bin", Body=b"first")
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as lost:
        store._upload("m/late.bin", other, IfNoneMatch="*")
    assert lost.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert raw.get_object(Bucket=s3_bucket, Key="reg/m/late.bin")["Body"].read() == b"first"
    uploads = raw.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])
    assert uploads == []  # aborted, no orphaned parts


def test_missing_bucket_is_a_config_error_naming_it(s3_server: SeaweedFS, s3_bucket: str, tmp_path: Path) -> None:
    registry = Registry(
        open_store("s3://no-such-bucket-mlci/x", base_dir=tmp_path, endpoint_url=s3_server.endpoint_url),
        MODEL,
    )
    with pytest.raises(ConfigError, match="'no-such-bucket-mlci' does not exist"):
        registry.push(make_bundle(tmp_path, "nb"), actor="ci")


def test_unreachable_endpoint_is_a_service_error_after_retries(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    (port,) = free_ports(1)  # nothing listens there
    store = S3Store("s3://bucket/x", endpoint_url=f"http://127.0.0.1:{port}", max_attempts=2)
    with pytest.raises(ServiceError, match=rf"127\.0\.0\.1:{port} unreachable after 2 attempts") as info:
        Registry(store, MODEL).versions()
    assert exit_code(info.value) == 4
    assert "registry.endpoint_url" in str(info.value)


def test_locking_none_still_moves_aliases(s3_server: SeaweedFS, s3_bucket: str, tmp_path: Path) -> None:
    store = open_store(
        f"s3://{s3_bucket}/nolock", base_dir=tmp_path, endpoint_url=s3_server.endpoint_url, locking="none"
    )
    registry = Registry(store, MODEL)
    version = registry.push(make_bundle(tmp_path, "nl"), actor="ci").version
    assert registry.set_alias("staging", version, actor="ci", reason="").version == version
