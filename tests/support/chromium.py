"""Headless Chromium (Debian's `chromium-headless-shell`) driven over the DevTools protocol.

The browser speaks the protocol on a pipe (`--remote-debugging-pipe`: it reads commands from fd 3
and writes answers to fd 4, each a JSON message ended by NUL), so no port is opened and no
client library is needed. Playwright and Selenium drive Chromium the same way, but would add a
40 MB driver (or chromedriver and the full `chromium`) for the handful of calls a screenshot
test makes: open a page, evaluate a script, ask which fonts drew a node, capture the pixels.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

BINARIES = ("chromium-headless-shell", "chromium")


def binary() -> str | None:
    """Return the path of a headless Chromium on PATH, or None (make test installs Debian's)."""
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _above_4(fd: int) -> int:
    """Return a duplicate of `fd` numbered 10 or more, closing `fd`."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class ProtocolError(RuntimeError):
    """The browser answered a command with an error, closed the pipe, or did not answer in time."""


class Chromium:
    """One headless browser with one page; a context manager that ends the browser on exit."""

    def __init__(self, path: str, *, width: int, height: int, scale: float = 1.0, timeout: float = 20.0) -> None:
        self._timeout = timeout
        browser_reads, self._commands = os.pipe()
        self._answers, browser_writes = os.pipe()
        # fd 3 and 4 in the browser; its ends are first moved above them here, so that the shell's
        # `3<&A 4>&B` cannot overwrite one end with the other.
        browser_reads, browser_writes = (_above_4(fd) for fd in (browser_reads, browser_writes))
        self._process = subprocess.Popen(
            [
                "bash",
                "-c",
                f'exec "$0" "$@" 3<&{browser_reads} 4>&{browser_writes}',
                path,
                "--remote-debugging-pipe",
                "--no-sandbox",  # root in CI; the page is one this test wrote
                "--hide-scrollbars",
                "--no-first-run",
                "--disable-gpu",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            pass_fds=(browser_reads, browser_writes),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(browser_reads)
        os.close(browser_writes)
        self._buffer = b""
        self._next = 0
        self._session: str | None = None
        try:
            target = self.send("Target.createTarget", url="about:blank")["targetId"]
            self._session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            self.send(
                "Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=scale, mobile=False
            )
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the browser: ask it to close, then kill it if it has not within 5 s."""
        try:
            self._session = None
            self._write({"id": 0, "method": "Browser.close", "params": {}})
        except OSError:
            pass
        for fd in (self._commands, self._answers):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)

    def _write(self, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._commands, data) :]

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command to the page (or the browser, before a page is attached); return its result."""
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if self._session:
            message["sessionId"] = self._session
        self._write(message)
        deadline = time.monotonic() + self._timeout
        while True:
            while b"\0" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self._answers], [], [], left)[0]:
                    raise ProtocolError(f"{method}: no answer from Chromium in {self._timeout:g} s")
                chunk = os.read(self._answers, 1 << 16)
                if not chunk:
                    raise ProtocolError(f"{method}: Chromium closed the pipe (exit {self._process.poll()})")
                self._buffer += chunk
            raw, _, self._buffer = self._buffer.partition(b"\0")
            answer = json.loads(raw)
            if answer.get("id") != self._next:
                continue  # an event, which nothing here asked for
            if "error" in answer:
                raise ProtocolError(f"{method}: {answer['error'].get('message')}")
            result: dict[str, Any] = answer.get("result", {})
            return result

    def open(self, page: Path) -> None:
        """Load `page` and wait until it and its fonts are ready."""
        self.send("Page.navigate", url=page.resolve().as_uri())
        self.evaluate(
            "new Promise(done => { const ready = () => document.fonts.ready.then(() => done(true));"
            " document.readyState === 'complete' ? ready() : addEventListener('load', ready); })"
        )

    def evaluate(self, expression: str) -> Any:
        """Return the value of a JavaScript expression in the page (a promise is awaited)."""
        answer = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in answer:
            raise ProtocolError(f"script failed: {answer['exceptionDetails'].get('exception', {}).get('description')}")
        return answer["result"].get("value")

    def fonts(self, selector: str) -> dict[str, int]:
        """Return the fonts that drew the text under the first node matching `selector`: family -> glyphs."""
        self.send("DOM.enable")
        self.send("CSS.enable")
        root = self.send("DOM.getDocument")["root"]["nodeId"]
        node = self.send("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        if not node:
            raise ProtocolError(f"no node matches {selector!r}")
        used = self.send("CSS.getPlatformFontsForNode", nodeId=node)["fonts"]
        return {f["familyName"]: int(f["glyphCount"]) for f in used}

    def screenshot(self, *, x: float, y: float, width: float, height: float) -> bytes:
        """Return a PNG of the page's area in CSS pixels (beyond the window too), at the device scale."""
        clip = {"x": x, "y": y, "width": width, "height": height, "scale": 1}
        shot = self.send("Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True)
        return base64.b64decode(shot["data"])
