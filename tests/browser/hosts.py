"""Servers of the other notebook hosts: marimo (``marimo run``) and Voilà, on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .harness import SERVER_START_TIMEOUT_S, free_port


class AppServer:
    """A host serving one file on a free port; ``stop()`` ends it."""

    def __init__(self, argv: list[str], cwd: Path, port: int, log: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/"
        self.log = log.open("w")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}
        self.proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{argv[2]} exited: see {log}")
            try:
                with urllib.request.urlopen(self.url, timeout=5):
                    return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"{argv[2]} did not answer on {self.url} in time")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def marimo_server(app: Path, base: Path) -> AppServer:
    """``marimo run`` (an app: code hidden, cells reactive) of ``app``."""
    port = free_port()
    argv = [
        sys.executable, "-m", "marimo", "run", str(app), "--headless", "--no-token",
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    return AppServer(argv, base, port, base / "marimo.log")


def voila_server(notebook: Path, base: Path) -> AppServer:
    """Voilà serving ``notebook`` as an app (its cells run on load, outputs shown)."""
    port = free_port()
    argv = [
        sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--port={port}",
        "--Voila.ip=127.0.0.1", f"--Voila.root_dir={notebook.parent}",
    ]  # fmt: skip
    return AppServer(argv, notebook.parent, port, base / "voila.log")
