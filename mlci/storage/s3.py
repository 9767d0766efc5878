"""S3Store: the registry in an S3-compatible bucket (AWS S3, MinIO, SeaweedFS, Ceph RGW).

Credentials come only from boto3's standard chain (environment, profile, OIDC role);
mlci never sees a secret. Compare-and-swap uses S3 conditional writes: `If-None-Match: *`
to create, `If-Match: <etag>` to replace. boto3's transfer manager cannot pass those
headers (`IfNoneMatch` is not in `S3Transfer.ALLOWED_UPLOAD_ARGS`), so large files are
uploaded here part by part on a thread pool, and the condition rides on
CompleteMultipartUpload, which is the moment the object becomes visible.

botocore errors are translated at this boundary into mlci errors; nothing above this
module sees a botocore exception.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mlci._internal.files import sha256_file
from mlci.errors import ConfigError, ConflictError, ModelError, NotFoundError, ServiceError
from mlci.storage.store import ObjectInfo, check_key, too_large

MB = 1024 * 1024
DEFAULT_MAX_ATTEMPTS = 5
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 60.0
MULTIPART_THRESHOLD = 16 * MB
# Parts of 8 MiB (as s3transfer) and threads by core count: each part is read, checksummed
# and sent by its thread, so past ~2 threads a core they only contend (measured on loopback:
# 2 cores, 500 MB, 4 threads 2.5 s vs 10 threads 2.9 s; a WAN-bound upload on a bigger
# runner still gets 10).
MULTIPART_CHUNKSIZE = 8 * MB
MAX_CONCURRENCY = max(4, min(10, 2 * (os.cpu_count() or 2)))
# S3 allows at most 10,000 parts; grow the part size for very large files.
MAX_PARTS = 10_000

# The S3 actions that change the bucket: an anonymous store refuses them before sending anything.
WRITE_ACTIONS = frozenset({"PutObject", "CopyObject", "DeleteObject"})

_LOCKING_HINT = (
    "use a server that supports S3 conditional writes (AWS S3, MinIO, recent SeaweedFS), "
    "or set `registry.locking: none` to accept that two concurrent alias moves may overwrite each other"
)


_DATA_LOADER: Any = None  # botocore's loader of its JSON models, shared by every session (botocore_session)


def botocore_session() -> Any:
    """Return a new botocore session that shares this process's loader of botocore's JSON models.

    botocore parses its service model and endpoint rules (large JSON files, ~0.1 s of CPU) once
    per session, and mlci makes a session per client. The files are the same for every client,
    so one loader, with its cache, serves all of them; credentials and config stay per session.
    """
    import botocore.session

    global _DATA_LOADER
    session = botocore.session.get_session()
    if _DATA_LOADER is None:
        _DATA_LOADER = session.get_component("data_loader")
    else:
        session.register_component("data_loader", _DATA_LOADER)
    return session


def s3_client(
    endpoint_url: str | None = None,
    region: str | None = None,
    addressing_style: str = "auto",
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    max_pool_connections: int = 2 * MAX_CONCURRENCY,
) -> Any:
    """Return a boto3 S3 client with mlci's retry, timeout and addressing settings.

    `mlci/data/tables.py` reads `s3://` tables through this same client so both honour
    `registry.endpoint_url` and friends the same way.
    """
    import boto3
    from botocore.config import Config

    # Validated against ADDRESSING_STYLES by mlci.registry.open_store; the stubs want a Literal.
    s3_options: Any = {"addressing_style": addressing_style}
    config = Config(
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        max_pool_connections=max_pool_connections,
        s3=s3_options,
    )
    from mlci._internal.redaction import has_credentials, redact

    if endpoint_url and has_credentials(endpoint_url):
        raise ConfigError(
            f"registry.endpoint_url {redact(endpoint_url)} carries credentials; mlci does not use them",
            hint="give S3 credentials through AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a role, not in the URL",
        )
    # A custom endpoint (MinIO, SeaweedFS) has no notion of region, but SigV4 needs one.
    if region is None and endpoint_url is not None:
        region = "us-east-1"
    from botocore.exceptions import InvalidConfigError, PartialCredentialsError, ProfileNotFound

    try:
        session = boto3.session.Session(botocore_session=botocore_session())
        credentials = session.get_credentials()
    except (ProfileNotFound, PartialCredentialsError, InvalidConfigError) as e:
        # botocore's messages name the profile or the missing variable, never a secret.
        raise ConfigError(
            f"S3 credentials: {e}",
            hint="set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or an AWS_PROFILE that exists, or neither",
        ) from None
    if credentials is None:
        # No credentials anywhere in boto3's chain (a fork PR's job gets no secrets): read
        # anonymously, as `aws s3 --no-sign-request` does; S3Store refuses to write this way.
        from botocore import UNSIGNED

        config = config.merge(Config(signature_version=UNSIGNED))
    try:
        return session.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)
    except ValueError:  # botocore rejects a malformed endpoint URL with ValueError
        raise ConfigError(f"registry.endpoint_url {redact(str(endpoint_url))!r} is not a valid URL") from None


def is_anonymous(client: Any) -> bool:
    """Return True for a client that signs nothing (boto3 found no credentials)."""
    from botocore import UNSIGNED

    return client.meta.config.signature_version is UNSIGNED


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Return (bucket, prefix) of `s3://bucket/prefix`; the prefix is '' or ends with '/'."""
    rest = uri.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ConfigError(f"registry.uri {uri!r} names no bucket; write s3://bucket/prefix")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


def _code(e: Any) -> tuple[str, int]:
    err = e.response.get("Error", {})
    status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    return str(err.get("Code", "")), status


class S3Store:
    """Objects in `s3://bucket/prefix`; see the module docstring for the guarantees."""

    def __init__(
        self,
        uri: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        addressing_style: str = "auto",
        locking: str = "conditional",
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        multipart_threshold: int = MULTIPART_THRESHOLD,
        multipart_chunksize: int = MULTIPART_CHUNKSIZE,
        max_concurrency: int = MAX_CONCURRENCY,
    ) -> None:
        self.bucket, self.prefix = parse_s3_uri(uri)
        self.uri = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self.locking = locking
        self.max_attempts = max_attempts
        self.multipart_threshold = multipart_threshold
        self.multipart_chunksize = multipart_chunksize
        self.max_concurrency = max_concurrency
        self.client = s3_client(
            endpoint_url,
            region,
            addressing_style,
            max_attempts=max_attempts,
            max_pool_connections=2 * max_concurrency,
        )
        self.endpoint = str(self.client.meta.endpoint_url)
        self.anonymous = is_anonymous(self.client)
        # Bookkeeping of what this store sent: lets tests and `bench_storage` prove that
        # an idempotent re-push transfers no bytes.
        self.stats = {"put_requests": 0, "bytes_sent": 0}
        self._stats_lock = threading.Lock()
        self._conditional_checked = False
        self._probe_lock = threading.Lock()

    # -- helpers ---------------------------------------------------------

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def url(self, key: str) -> str:
        # A prefix (trailing '/') names a "directory": a version or a deployment.
        trailing = "/" if key.endswith("/") else ""
        return f"s3://{self.bucket}/{self._key(key.rstrip('/'))}{trailing}"

    def _count(self, nbytes: int) -> None:
        with self._stats_lock:
            self.stats["put_requests"] += 1
            self.stats["bytes_sent"] += nbytes

    @contextlib.contextmanager
    def _errors(self, action: str, key: str = "", *, conditional: bool = False) -> Iterator[None]:
        """Translate botocore exceptions raised inside the block into mlci errors."""
        from botocore import exceptions as bx

        where = f"s3://{self.bucket}/{self.prefix}{key}"
        if self.anonymous and action in WRITE_ACTIONS:
            raise ConfigError(
                f"no AWS credentials: mlci reads the S3 registry {self.uri} anonymously and does not write to it "
                f"({action} of {where})",
                hint="give this job credentials (aws-actions/configure-aws-credentials); "
                "a pull request from a fork gets none, and its check writes nothing",
            )
        try:
            yield
        except bx.ClientError as e:
            raise self._client_error(e, action, where, conditional) from e
        except (
            bx.EndpointConnectionError,
            bx.ConnectTimeoutError,
            bx.ReadTimeoutError,
            bx.ConnectionClosedError,
        ) as e:
            # botocore's own message repeats the full request URL (upload ids and all).
            reason = "timed out" if isinstance(e, bx.ConnectTimeoutError | bx.ReadTimeoutError) else "could not connect"
            if isinstance(e, bx.ConnectionClosedError):
                reason = "closed the connection"
            raise ServiceError(
                f"S3 endpoint {self.endpoint} unreachable after {self.max_attempts} attempts "
                f"({reason} during {action} of {where})",
                hint="check registry.endpoint_url and that the service is up",
            ) from e
        except (bx.NoCredentialsError, bx.PartialCredentialsError) as e:
            raise ConfigError(
                f"no AWS credentials for the S3 registry {self.uri}: {e}",
                hint="set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, "
                "or use aws-actions/configure-aws-credentials",
            ) from e
        except bx.NoRegionError as e:
            raise ConfigError(f"no AWS region for the S3 registry {self.uri}; set registry.region") from e
        except bx.BotoCoreError as e:
            raise ServiceError(f"S3 {action} on {where} failed: {e}") from e

    def _client_error(self, e: Any, action: str, where: str, conditional: bool) -> Exception:
        code, status = _code(e)
        message = e.response.get("Error", {}).get("Message", "")
        if code == "NoSuchBucket" or (code in ("AccessDenied", "403") and self._bucket_missing()):
            return ConfigError(
                f"S3 bucket {self.bucket!r} does not exist at {self.endpoint}",
                hint="create it, or fix registry.uri",
            )
        if self.anonymous and (code in ("AccessDenied", "Forbidden", "403") or status == 403):
            return ConfigError(
                f"no AWS credentials, so mlci read {where} anonymously and S3 denied it (AccessDenied)",
                hint="give this job credentials, or grant anonymous s3:GetObject and s3:ListBucket on the prefix "
                "(registry.public_uri, for fork pull requests)",
            )
        if code in ("AccessDenied", "Forbidden", "403") or status == 403:
            return ServiceError(
                f"S3 denied {action} on {where} (AccessDenied)",
                hint=f"the credentials need permission for {action} on bucket {self.bucket}",
            )
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return ConfigError(f"S3 rejected the credentials for {self.uri}: {code}: {message}")
        if code == "NotImplemented" or status == 501:
            if conditional:
                return ConfigError(
                    f"S3 endpoint {self.endpoint} does not support conditional writes "
                    f"({action} with If-None-Match/If-Match)",
                    hint=_LOCKING_HINT,
                )
            return ConfigError(f"S3 endpoint {self.endpoint} does not implement {action}: {message}")
        return ServiceError(f"S3 {action} on {where} failed: {code or status} {message}".rstrip())

    def _bucket_missing(self) -> bool:
        # Some servers (SeaweedFS) answer a write to a missing bucket with AccessDenied.
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as e:
            return _code(e)[1] == 404
        except BotoCoreError:
            return False
        return False

    # -- reads -----------------------------------------------------------

    def get(self, key: str, *, limit: int | None = None) -> tuple[bytes, str]:
        with self._errors("GetObject", key):
            from botocore.exceptions import ClientError

            try:
                resp = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            except ClientError as e:
                if _code(e)[0] in ("NoSuchKey", "404"):
                    raise NotFoundError(f"{self.url(key)} does not exist") from None
                raise
            if limit is None:
                return resp["Body"].read(), str(resp["ETag"])
            # The size is in the response's headers: an object over the limit is not downloaded.
            size = int(resp.get("ContentLength", 0))
            if size > limit:
                resp["Body"].close()
                raise too_large(self.url(key), size, limit)
            data = resp["Body"].read(limit + 1)
            resp["Body"].close()
            if len(data) > limit:
                raise too_large(self.url(key), len(data), limit)
            return data, str(resp["ETag"])

    def head(self, key: str) -> ObjectInfo | None:
        with self._errors("HeadObject", key):
            from botocore.exceptions import ClientError

            try:
                resp = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            except ClientError as e:
                if _code(e)[1] == 404:
                    return None
                raise
            return ObjectInfo(key=key, etag=str(resp["ETag"]), size=int(resp["ContentLength"]))

    def get_file(self, key: str, path: Path) -> str:
        from boto3.s3.transfer import TransferConfig

        info = self.head(key)
        if info is None:
            raise NotFoundError(f"{self.url(key)} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".mlci-tmp-{secrets.token_hex(6)}-{path.name}"
        config = TransferConfig(
            multipart_threshold=self.multipart_threshold,
            multipart_chunksize=self.multipart_chunksize,
            max_concurrency=self.max_concurrency,
        )
        try:
            with self._errors("GetObject", key):
                try:
                    self.client.download_file(self.bucket, self._key(key), str(tmp), Config=config)
                except Exception as e:
                    # s3transfer wraps exhausted retries in its own exception type.
                    if type(e).__module__.startswith("s3transfer"):
                        raise ServiceError(f"S3 download of {self.url(key)} failed: {e}") from e
                    raise
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return info.etag

    def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        with self._errors("ListObjectsV2", prefix):
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                keys.extend(obj["Key"][len(self.prefix) :] for obj in page.get("Contents", []))
        return sorted(keys)

    # -- writes ----------------------------------------------------------

    def _put_object(self, key: str, data: bytes, **conditions: str) -> str:
        self._count(len(data))
        resp = self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **conditions)
        return str(resp["ETag"])

    def put(self, key: str, data: bytes) -> str:
        with self._errors("PutObject", key):
            return self._put_object(key, data)

    def put_file(self, key: str, path: Path) -> str:
        with self._errors("PutObject", key):
            return self._upload(key, path)

    def put_if_absent(self, key: str, data: bytes | Path, *, sha256: str | None = None) -> bool:
        # HEAD first: an idempotent re-push of a 500 MB model must send no bytes at all.
        if self.head(key) is not None:
            return False
        from botocore.exceptions import ClientError

        conditions = {"IfNoneMatch": "*"} if self.locking == "conditional" else {}
        with self._errors("PutObject", key, conditional=True):
            try:
                if isinstance(data, Path):
                    self._upload(key, data, sha256=sha256, **conditions)
                else:
                    _verify(data, sha256, key)
                    self._put_object(key, data, **conditions)
            except ClientError as e:
                code, status = _code(e)
                if code == "PreconditionFailed" or status == 412:
                    return False  # someone else created it between our HEAD and our PUT
                if code == "ConditionalRequestConflict" or status == 409:
                    raise ConflictError(
                        f"{self.url(key)} was being written concurrently by someone else; re-run"
                    ) from None
                raise
        return True

    def put_if_match(self, key: str, data: bytes, etag: str | None) -> str:
        from botocore.exceptions import ClientError

        if self.locking != "conditional":
            # `registry.locking: none`: best effort only, the user accepted the race.
            current = self.head(key)
            if (current.etag if current else None) != etag:
                raise ConflictError(f"{self.url(key)} changed since it was read")
            with self._errors("PutObject", key):
                return self._put_object(key, data)
        self.verify_conditional_writes()
        conditions = {"IfNoneMatch": "*"} if etag is None else {"IfMatch": etag}
        with self._errors("PutObject", key, conditional=True):
            try:
                return self._put_object(key, data, **conditions)
            except ClientError as e:
                code, status = _code(e)
                # 412: the etag no longer matches; 409: a concurrent conditional write won;
                # 404: If-Match on a key that someone deleted.
                if code in ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey") or status in (
                    412,
                    409,
                    404,
                ):
                    raise ConflictError(f"{self.url(key)} changed since it was read") from None
                raise

    def copy(self, src: str, dst: str) -> str:
        from boto3.s3.transfer import TransferConfig

        if self.head(src) is None:
            raise NotFoundError(f"{self.url(src)} does not exist")
        config = TransferConfig(
            multipart_threshold=self.multipart_threshold,
            multipart_chunksize=self.multipart_chunksize,
            max_concurrency=self.max_concurrency,
        )
        with self._errors("CopyObject", dst):
            # The managed copy stays server-side and switches to UploadPartCopy past the threshold.
            self.client.copy({"Bucket": self.bucket, "Key": self._key(src)}, self.bucket, self._key(dst), Config=config)
        info = self.head(dst)
        if info is None:
            raise ServiceError(f"S3 copy to {self.url(dst)} reported success but the object is missing")
        return info.etag

    def delete(self, key: str) -> None:
        with self._errors("DeleteObject", key):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    # -- multipart upload --------------------------------------------------

    def _upload(self, key: str, path: Path, *, sha256: str | None = None, **conditions: str) -> str:
        """Upload a file (multipart past the threshold); the condition applies at completion.

        With `sha256`, the file is hashed alongside the part uploads and the upload is only
        completed (made visible) if the digest matches: no second pass before sending.
        """
        size = path.stat().st_size
        if size < self.multipart_threshold:
            body = path.read_bytes()
            _verify(body, sha256, key)
            return self._put_object(key, body, **conditions)
        chunk = max(self.multipart_chunksize, -(-size // MAX_PARTS))
        full_key = self._key(key)
        mpu = self.client.create_multipart_upload(Bucket=self.bucket, Key=full_key, ChecksumAlgorithm="CRC32")
        upload_id = mpu["UploadId"]

        def upload_part(number: int) -> dict[str, Any]:
            offset = (number - 1) * chunk
            # Each part opens its own handle: no shared file position between threads.
            with path.open("rb") as f:
                f.seek(offset)
                body = f.read(chunk)
            self._count(len(body))
            resp = self.client.upload_part(
                Bucket=self.bucket,
                Key=full_key,
                UploadId=upload_id,
                PartNumber=number,
                Body=body,
                ChecksumAlgorithm="CRC32",
            )
            part = {"PartNumber": number, "ETag": resp["ETag"]}
            if "ChecksumCRC32" in resp:
                part["ChecksumCRC32"] = resp["ChecksumCRC32"]
            return part

        try:
            count = -(-size // chunk)
            with ThreadPoolExecutor(max_workers=self.max_concurrency + 1) as pool:
                digest = pool.submit(sha256_file, path) if sha256 is not None else None
                parts = list(pool.map(upload_part, range(1, count + 1)))
                if digest is not None and digest.result() != sha256:
                    raise ModelError(f"{path} does not match its sha256 {str(sha256)[:12]}…; upload abandoned")
            resp = self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=full_key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                **conditions,
            )
        except BaseException:
            # Leave no orphaned parts behind (they are billed and invisible).
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=full_key, UploadId=upload_id)
            raise
        return str(resp["ETag"])

    # -- conditional-write probe -----------------------------------------

    def verify_conditional_writes(self) -> None:
        """Check once that the server honours If-None-Match and If-Match; ConfigError if not.

        A server that silently ignores the headers would let two concurrent alias moves
        both "win", which is the one thing the registry promises cannot happen.
        """
        if self._conditional_checked:
            return
        from botocore.exceptions import ClientError

        with self._probe_lock:
            if self._conditional_checked:
                return
            key = f".mlci-probe/{secrets.token_hex(8)}"
            with self._errors("PutObject", key, conditional=True):
                first = self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=b"1", IfNoneMatch="*")
                try:
                    honoured = False
                    try:
                        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=b"2", IfNoneMatch="*")
                    except ClientError as e:
                        honoured = _code(e)[1] in (412, 409)
                        if not honoured:
                            raise
                    if honoured:
                        honoured = False
                        stale = '"00000000000000000000000000000000"'
                        if stale == first["ETag"]:
                            stale = '"11111111111111111111111111111111"'
                        try:
                            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=b"3", IfMatch=stale)
                        except ClientError as e:
                            honoured = _code(e)[1] in (412, 409)
                            if not honoured:
                                raise
                finally:
                    with contextlib.suppress(Exception):
                        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
            if not honoured:
                raise ConfigError(
                    f"S3 endpoint {self.endpoint} ignores conditional writes (If-None-Match/If-Match), "
                    "so alias moves could silently overwrite each other",
                    hint=_LOCKING_HINT,
                )
            self._conditional_checked = True


def read_object(
    uri: str, *, endpoint_url: str | None = None, region: str | None = None, addressing_style: str = "auto"
) -> bytes:
    """Return the bytes of the object at `s3://bucket/key`, for data tables; DataError if it is missing."""
    from mlci.errors import DataError

    bucket, key = parse_s3_uri(uri)
    if not key:
        raise DataError(f"{uri}: names a bucket, not an object; write s3://bucket/path/table.parquet")
    store = S3Store(f"s3://{bucket}", endpoint_url=endpoint_url, region=region, addressing_style=addressing_style)
    try:
        data, _ = store.get(key.rstrip("/"))
    except NotFoundError:
        raise DataError(
            f"{uri}: no such object", hint="check the path, or that the job's credentials can read it"
        ) from None
    return data


def _verify(data: bytes, sha256: str | None, key: str) -> None:
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise ModelError(f"{key}: content does not match its sha256 {sha256[:12]}…; not stored")
