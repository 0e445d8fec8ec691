"""Start the real app (python app.py) on 127.0.0.1 in a subprocess, for gradio_client, load and browser tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_app(
    *,
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
    timeout: float = 180.0,
    log_path: Path | None = None,
) -> Iterator[str]:
    """Yield the URL of a freshly started app; the process is stopped afterwards.

    Args:
        env: extra environment (HF_ENDPOINT, XAI_QUEUE_SIZE, ...), on top of quiet offline defaults.
        args: extra command-line arguments for app.py (e.g. ["--model", folder]).
        timeout: seconds to wait for the server to answer.
        log_path: where the server's output goes (a temp file by default), kept for post-mortems.
    """
    port = free_port()
    full_env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    log_path = log_path or Path(os.environ.get("TMPDIR", "/tmp")) / f"xai-app-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port), *(args or [])],
            cwd=ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"app exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
                try:
                    with urllib.request.urlopen(url, timeout=2) as resp:
                        if resp.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"app did not answer within {timeout} s:\n{log_path.read_text()[-4000:]}")
                time.sleep(0.5)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def server_process(url: str) -> psutil.Process:
    """The app.py process serving ``url`` (started by running_app)."""
    port = url.rstrip("/").rsplit(":", 1)[1]
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "app.py" in cmdline and f"--port {port}" in cmdline:
            return proc
    raise AssertionError(f"no app.py process on port {port}")


def cpu_percent(proc: psutil.Process, seconds: float = 2.0) -> float:
    """The process's CPU use over the next ``seconds`` (100 = one core busy)."""
    proc.cpu_percent(None)
    time.sleep(seconds)
    return proc.cpu_percent(None)
