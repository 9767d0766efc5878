"""Registry push throughput on S3 against boto3's own `upload_file` (target: >= 0.9x).

Run: `python -m benchmarks.bench_storage [SIZE_MB]` (default 500); prints one JSON line.
Without an endpoint it starts its own SeaweedFS on 127.0.0.1 (tests/support/s3_server.py). Each
round uploads the same `SIZE_MB` model file with `upload_file` (default TransferConfig)
and pushes a bundle holding it with `Registry.push` (which also verifies the bundle's
sha256 and writes the manifest and an event), alternating so neither side gets a warmer
server; the best round of each is kept. The idempotent re-push is timed too, with the
bytes it sent (must be 0).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_RATIO = 0.9
MB = 1024 * 1024


def _write_bundle(where: Path, size_mb: int) -> Path:
    bundle = where / "bundle"
    bundle.mkdir()
    h = hashlib.sha256()
    with (bundle / "model.skops").open("wb") as f:
        for _ in range(size_mb):
            block = os.urandom(MB)
            h.update(block)
            f.write(block)
    profile = b'{"rows": 1000}'
    files = {"model.skops": h.hexdigest(), "profile.json": hashlib.sha256(profile).hexdigest()}
    (bundle / "profile.json").write_bytes(profile)
    manifest = {"sha256": files["model.skops"], "files": files, "model": "bench", "created_at": "", "metrics": {}}
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return bundle


def run(
    size_mb: int = 500,
    endpoint_url: str | None = None,
    bucket: str | None = None,
    rounds: int = 2,
) -> dict[str, Any]:
    """Return push vs upload_file throughput (MB/s) for a `size_mb` model, and re-push bytes."""
    from boto3.s3.transfer import TransferConfig

    from mlci.registry import Registry
    from mlci.storage.s3 import S3Store, s3_client

    server = None
    if endpoint_url is None:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.support.s3_server import SeaweedFS

        server = SeaweedFS()
        server.start()
        os.environ.update(server.env)
        endpoint_url = server.endpoint_url
        bucket = server.make_bucket()
    if bucket is None:
        raise ValueError("give the bucket to use with endpoint_url")
    try:
        with tempfile.TemporaryDirectory(prefix="mlci-bench-") as tmp:
            bundle = _write_bundle(Path(tmp), size_mb)
            model = bundle / "model.skops"
            client = s3_client(endpoint_url, None, "path")
            upload_times, push_times = [], []
            store = None
            for i in range(rounds):
                start = time.perf_counter()
                client.upload_file(str(model), bucket, f"baseline-{i}/model.skops", Config=TransferConfig())
                upload_times.append(time.perf_counter() - start)

                store = S3Store(f"s3://{bucket}/registry-{i}", endpoint_url=endpoint_url, addressing_style="path")
                start = time.perf_counter()
                result = Registry(store, "bench").push(bundle, actor="bench")
                push_times.append(time.perf_counter() - start)
                assert result.created
            assert store is not None
            sent_before = store.stats["bytes_sent"]
            start = time.perf_counter()
            again = Registry(store, "bench").push(bundle, actor="bench")
            repush_seconds = time.perf_counter() - start
            repush_bytes = store.stats["bytes_sent"] - sent_before
            assert not again.created
    finally:
        if server is not None:
            server.close()
    upload = size_mb / min(upload_times)
    push = size_mb / min(push_times)
    ratio = push / upload
    return {
        "name": "registry_push_s3",
        "size_mb": size_mb,
        "upload_file_mb_s": round(upload, 1),
        "push_mb_s": round(push, 1),
        "ratio": round(ratio, 3),
        "upload_file_seconds": [round(t, 3) for t in upload_times],
        "push_seconds": [round(t, 3) for t in push_times],
        "repush_seconds": round(repush_seconds, 4),
        "repush_bytes_sent": repush_bytes,
        "target_ratio": TARGET_RATIO,
        "met": ratio >= TARGET_RATIO and repush_bytes == 0,
    }


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 500)))
