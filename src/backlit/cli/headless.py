"""Debian's Chromium launched headless with the flags this project needs, and a backlit server on a free
port, for screenshots, benchmarks and browser tests.

    from backlit.cli.headless import CHROMIUM_ARGS, chromium_path, served

    with served() as server:                      # `python -m backlit serve --no-browser --port N`
        browser = playwright.chromium.launch(**launch_args())
        page = browser.new_page()
        page.goto(server.url + "?notour")

:func:`served` runs the real command-line path (its Host check, TCP_NODELAY, per-message deflate off)
in a child process. :class:`LiveServer` runs the app under uvicorn in a thread of this process instead,
and can stop and restart on the same port (the browser tests use it).

Nothing here imports Playwright or uvicorn at module level: importing it is cheap.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CHROMIUM_ARGS", "chromium_path", "launch_args", "free_port", "served", "Served", "LiveServer"]

#: Chromium's flags here: no sandbox (containers), no GPU, and none of the background network traffic
#: that otherwise fills the logs with refused connections on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium_path() -> str | None:
    """Debian's Chromium (``/usr/bin/chromium``), or one on PATH; None to let Playwright use its own."""
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def launch_args(**extra) -> dict:
    """Keyword arguments for Playwright's ``chromium.launch``: the flags and, if found, the executable."""
    args = {"args": list(CHROMIUM_ARGS), **extra}
    path = chromium_path()
    if path and "executable_path" not in extra:
        args["executable_path"] = path
    return args


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Served:
    """A running ``backlit serve`` child process."""

    proc: subprocess.Popen
    port: int
    output: list[str] = field(default_factory=list)  # its stdout and stderr lines so far

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/`` (with the trailing slash)."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def stop(self, timeout: float = 15) -> int:
        """Ctrl-C (SIGINT), as a person stops it; then SIGTERM and SIGKILL if it lingers."""
        if self.proc.poll() is None:
            for sig, wait in ((signal.SIGINT, timeout), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
                self.proc.send_signal(sig)
                try:
                    self.proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        return self.proc.returncode


_URL_LINE = re.compile(r"backlit playground: http://[^\s]+:(\d+)/")


@contextlib.contextmanager
def served(port: int | None = None, *options: str, timeout: float = 60, env: dict | None = None):
    """Start ``python -m backlit serve --no-browser --port PORT [options]`` and wait until it answers.

    ``port`` defaults to a free one (``serve`` itself moves to the next free port if it is taken: the
    port it prints is the one used). ``options`` are more ``serve`` flags (``"--workers", "2"``). The
    child inherits this environment (so ``PYTHONPATH`` too), updated with ``env``. Yields a
    :class:`Served`; stops the server on exit.
    """
    port = port or free_port()
    cmd = [sys.executable, "-m", "backlit", "serve", "--no-browser", "--port", str(port), *options]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
    server = Served(proc, port)
    announced = threading.Event()

    def drain() -> None:  # keeps reading, so that a chatty server never blocks on a full pipe
        for line in proc.stdout:
            server.output.append(line.rstrip("\n"))
            m = _URL_LINE.search(line)
            if m:
                server.port = int(m.group(1))
                announced.set()

    threading.Thread(target=drain, name=f"backlit-serve:{port}", daemon=True).start()
    try:
        deadline = time.monotonic() + timeout
        while not announced.wait(0.05):
            if proc.poll() is not None:
                raise RuntimeError(f"`backlit serve` exited during start-up ({proc.returncode}):\n"
                                   + "\n".join(server.output))
            if time.monotonic() > deadline:
                raise RuntimeError(f"`backlit serve` did not start within {timeout:g} s:\n"
                                   + "\n".join(server.output))
        while True:  # it announces once listening; make sure it also answers
            try:
                urllib.request.urlopen(server.url, timeout=2).close()
                break
            except urllib.error.HTTPError:   # an answer all the same (e.g. the class code's join page)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("`backlit serve` does not answer:\n" + "\n".join(server.output))
                time.sleep(0.05)
        yield server
    finally:
        server.stop()


class LiveServer:
    """backlit's Starlette app under uvicorn in a daemon thread; can stop and restart on the same port."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.server = None
        self.thread = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "LiveServer":
        import uvicorn

        from ..server.app import create_app

        config = uvicorn.Config(
            create_app(),
            host="127.0.0.1",
            port=self.port,
            ws_per_message_deflate=False,
            log_level="warning",
            lifespan="auto",
            timeout_graceful_shutdown=3,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn:{self.port}", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError(f"the server did not start on port {self.port}")
            if time.monotonic() > deadline:
                raise RuntimeError("the server took more than 30 s to start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.server is None:
            return
        self.server.should_exit = True
        self.thread.join(10)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(10)
        self.server = None
