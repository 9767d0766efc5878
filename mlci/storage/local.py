"""LocalStore: the registry in a directory, safe against concurrent processes.

Every write goes to a temporary file in the target's directory, is fsynced, then renamed
into place, so a reader sees the old object or the new one, never half of one.
`put_if_absent` publishes the temporary file with `os.link`, which fails if the name
exists, so of two processes only one can create a key. `put_if_match` (and every other
write) holds an exclusive `flock` on a per-key lock file while it compares and renames,
which makes compare-and-swap atomic across processes on one machine. The ETag is the
sha256 of the content: unlike mtime+size it cannot repeat for two different writes.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

from mlci.errors import ConflictError, ModelError, NotFoundError, ServiceError
from mlci.storage.store import TEMP_PREFIX, ObjectInfo, check_key, sweep_temp, too_large

LOCK_DIR = ".mlci-locks"
TMP_PREFIX = TEMP_PREFIX
CHUNK = 1 << 20


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    # The rename is only durable once the directory entry is on disk.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the rename is still atomic
    finally:
        os.close(fd)


class LocalStore:
    """Objects as files under `root`; see the module docstring for the guarantees."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.uri = str(self.root)
        self._swept: set[Path] = set()

    # -- paths and locks -------------------------------------------------

    def _path(self, key: str) -> Path:
        """Return the file of `key`; ModelError when any directory on the way is a symlink.

        Anyone who can write the registry directory could plant a symlink (deployments/<env>
        -> /home/...): following it would let a publish write or delete outside the registry.
        """
        path = self.root / check_key(key)
        current = self.root
        for part in Path(key).parts[:-1]:
            current = current / part
            try:
                mode = current.lstat().st_mode
            except FileNotFoundError:
                break
            if not stat.S_ISDIR(mode):
                kind = "a symlink" if stat.S_ISLNK(mode) else "not a directory"
                raise ModelError(f"{current}: is {kind} inside the registry; mlci does not follow it")
        return path

    def _open_regular(self, path: Path) -> int:
        """Open `path` for reading without following a symlink or blocking on a FIFO; a regular file only."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            raise NotFoundError(f"{path} does not exist") from None
        except NotADirectoryError:
            raise NotFoundError(f"{path} does not exist") from None
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise ModelError(f"{path}: is a symlink inside the registry; mlci does not follow it") from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ModelError(f"{path}: is not a regular file; the registry holds only regular files")
        return fd

    def url(self, key: str) -> str:
        # A prefix (trailing '/') names a directory: a version or a deployment.
        trailing = "/" if key.endswith("/") else ""
        return str(self._path(key.rstrip("/"))) + trailing

    @contextlib.contextmanager
    def _lock(self, key: str) -> Iterator[None]:
        import fcntl

        lock_dir = self.root / LOCK_DIR
        lock_dir.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(key.encode()).hexdigest()[:32] + ".lock"
        fd = os.open(lock_dir / name, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            # Closing the descriptor releases the flock even if the process dies.
            os.close(fd)

    def _temp_for(self, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.parent not in self._swept:  # once per directory and process: cheap enough
            self._swept.add(target.parent)
            sweep_temp(target.parent)
        return target.parent / f"{TMP_PREFIX}{secrets.token_hex(6)}-{target.name}"

    def _write_temp(self, target: Path, data: bytes | Path) -> tuple[Path, str]:
        """Write `data` to a fsynced temp file beside `target`; return (temp, etag)."""
        tmp = self._temp_for(target)
        h = hashlib.sha256()
        try:
            with tmp.open("wb") as out:
                if isinstance(data, Path):
                    with data.open("rb") as src:
                        while chunk := src.read(CHUNK):
                            h.update(chunk)
                            out.write(chunk)
                else:
                    h.update(data)
                    out.write(data)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp, h.hexdigest()

    def _replace(self, target: Path, data: bytes | Path) -> str:
        tmp, etag = self._write_temp(target, data)
        try:
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)
        return etag

    # -- reads -----------------------------------------------------------

    def get(self, key: str, *, limit: int | None = None) -> tuple[bytes, str]:
        path = self._path(key)
        with os.fdopen(self._open_regular(path), "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if limit is not None and size > limit:
                raise too_large(str(path), size, limit)
            data = f.read() if limit is None else f.read(limit + 1)
            if limit is not None and len(data) > limit:  # it grew since the fstat
                raise too_large(str(path), len(data), limit)
        return data, hashlib.sha256(data).hexdigest()

    def get_file(self, key: str, path: Path) -> str:
        src = self._path(key)
        fd = self._open_regular(src)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f"{TMP_PREFIX}{secrets.token_hex(6)}-{path.name}"
        h = hashlib.sha256()
        try:
            with os.fdopen(fd, "rb") as f, tmp.open("wb") as out:
                while chunk := f.read(CHUNK):
                    h.update(chunk)
                    out.write(chunk)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return h.hexdigest()

    def head(self, key: str) -> ObjectInfo | None:
        try:
            fd = self._open_regular(self._path(key))
        except NotFoundError:
            return None
        h = hashlib.sha256()
        with os.fdopen(fd, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            while chunk := f.read(CHUNK):
                h.update(chunk)
        return ObjectInfo(key=key, etag=h.hexdigest(), size=size)

    def list(self, prefix: str) -> list[str]:
        # Walk only the deepest directory the prefix names, not the whole registry.
        base = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if base != self.root:
            self._path(prefix.rsplit("/", 1)[0] + "/x")  # no symlink on the way to the directory walked
        if base.is_symlink() or not base.is_dir():
            return []
        keys = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if d != LOCK_DIR]
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                # Only regular files are objects: a planted symlink or FIFO is not listed.
                if name.startswith(TMP_PREFIX) or not os.path.isfile(os.path.join(dirpath, name)):
                    continue
                if os.path.islink(os.path.join(dirpath, name)):
                    continue
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    # -- writes ----------------------------------------------------------

    def put(self, key: str, data: bytes) -> str:
        with self._lock(key):
            return self._replace(self._path(key), data)

    def put_file(self, key: str, path: Path) -> str:
        with self._lock(key):
            return self._replace(self._path(key), path)

    def put_if_absent(self, key: str, data: bytes | Path, *, sha256: str | None = None) -> bool:
        target = self._path(key)
        if target.exists():
            return False
        tmp, digest = self._write_temp(target, data)
        if sha256 is not None and digest != sha256:
            tmp.unlink(missing_ok=True)
            raise ModelError(f"{target}: content does not match its sha256 {sha256[:12]}…; not stored")
        try:
            # link() refuses an existing name: the atomic "create if absent" of POSIX.
            os.link(tmp, target)
        except FileExistsError:
            return False
        except OSError as e:
            if e.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                return self._put_if_absent_locked(key, target, tmp)
            raise ServiceError(f"cannot write {target}: {e.strerror}") from e
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(target.parent)
        return True

    def _put_if_absent_locked(self, key: str, target: Path, tmp: Path) -> bool:
        # Filesystems without hard links: fall back to check-and-rename under the key's lock.
        with self._lock(key):
            if target.exists():
                return False
            os.replace(tmp, target)
        _fsync_dir(target.parent)
        return True

    def put_if_match(self, key: str, data: bytes, etag: str | None) -> str:
        target = self._path(key)
        with self._lock(key):
            try:
                current: str | None = self.get(key)[1]
            except NotFoundError:
                current = None
            if current != etag:
                state = "exists" if current is not None else "does not exist"
                raise ConflictError(f"{target} changed since it was read (it now {state})")
            return self._replace(target, data)

    def copy(self, src: str, dst: str) -> str:
        source = self._path(src)
        os.close(self._open_regular(source))
        with self._lock(dst):
            return self._replace(self._path(dst), source)

    def delete(self, key: str) -> None:
        with self._lock(key):
            self._path(key).unlink(missing_ok=True)
