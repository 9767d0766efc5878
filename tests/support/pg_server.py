"""A real PostgreSQL 15 server on 127.0.0.1 for tests and benchmarks.

The binaries come from Debian's postgresql-15 package (the Makefile installs it when absent).
PostgreSQL refuses to run as root, so as root initdb and postgres run as the unprivileged
`postgres` user (`runuser -u postgres --`) in a temp directory that user owns; as any other
user they run as that user. TCP connections need a password (scram-sha-256), so tests see
the same authentication a warehouse asks for; the unix socket lives in the temp directory.

    with PostgreSQL() as pg:
        engine = sqlalchemy.create_engine(pg.url)
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.s3_server import free_ports

USER = "mlci"


def pg_bindir() -> Path:
    """Return the directory of PostgreSQL 15's initdb and postgres, as the Debian package lists it."""
    try:
        listing = subprocess.run(["dpkg", "-L", "postgresql-15"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise RuntimeError("postgresql-15 is not installed; run `make install` (it installs it with apt-get)") from e
    for line in listing.splitlines():
        if line.endswith("/bin/initdb"):
            return Path(line).parent
    raise RuntimeError("dpkg -L postgresql-15 lists no bin/initdb")


class PostgreSQL:
    """A throwaway PostgreSQL server: initdb in a temp dir, postgres on a free 127.0.0.1 port."""

    def __init__(self, *, start_timeout: float = 30.0) -> None:
        self.password = secrets.token_hex(12)
        self.port = free_ports(1)[0]
        self.start_timeout = start_timeout
        self.tmp = Path(tempfile.mkdtemp(prefix="mlci-pg-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self._as_root = os.geteuid() == 0

    @property
    def url(self) -> str:
        """Return the SQLAlchemy URL of the server's `postgres` database, password included."""
        return f"postgresql+psycopg2://{USER}:{self.password}@127.0.0.1:{self.port}/postgres"

    def _cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if self._as_root else list(args)

    def __enter__(self) -> PostgreSQL:
        bindir = pg_bindir()
        data, sock, pwfile = self.tmp / "data", self.tmp / "sock", self.tmp / "pw"
        sock.mkdir()
        pwfile.write_text(self.password + "\n")
        if self._as_root:
            import pwd

            owner = pwd.getpwnam("postgres")
            for path in (self.tmp, sock, pwfile):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        subprocess.run(
            self._cmd(
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                USER,
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "--no-locale",
                "-E",
                "UTF8",
                "--no-sync",
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        log = open(self.tmp / "postgres.log", "wb")
        self.proc = subprocess.Popen(
            self._cmd(
                str(bindir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-k",
                str(sock),
                "-c",
                "listen_addresses=127.0.0.1",
                # A test server: durability buys nothing, speed does.
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._log = log
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self) -> None:
        import psycopg2

        deadline = time.monotonic() + self.start_timeout
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited at start: {(self.tmp / 'postgres.log').read_text()[-2000:]}")
            try:
                psycopg2.connect(
                    host="127.0.0.1", port=self.port, user=USER, password=self.password, dbname="postgres"
                ).close()
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"postgres did not answer on port {self.port} in {self.start_timeout}s"
                    ) from None
                time.sleep(0.1)

    def execute(self, *statements: str) -> None:
        """Run SQL statements in one transaction."""
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=USER, password=self.password, dbname="postgres")
        try:
            with conn, conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
        finally:
            conn.close()

    def load(self, frame: Any, table: str) -> None:
        """Write a DataFrame into a new table (replacing one of that name)."""
        import sqlalchemy as sa

        engine = sa.create_engine(self.url)
        try:
            frame.to_sql(table, engine, if_exists="replace", index=False, chunksize=10000, method="multi")
        finally:
            engine.dispose()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # Signal the postmaster itself (runuser sits in between): SIGINT is the fast shutdown.
            pidfile = self.tmp / "data" / "postmaster.pid"
            try:
                os.kill(int(pidfile.read_text().split()[0]), signal.SIGINT)
            except (OSError, ValueError, IndexError):
                self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if getattr(self, "_log", None) is not None:
            self._log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
