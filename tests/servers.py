"""A real xiaodian server in a child process (uvicorn, the real clock), for the tests that
need what only a real server shows: a crowd of concurrent connections, two processes, a
process killed in the middle of its work."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``xiaodian.asgi:app`` under uvicorn on a free port, on ``database_url``."""

    def __init__(
        self,
        tmp: Path,
        database_url: str,
        name: str,
        *,
        redis_url: str = "",
        env: dict[str, str] | None = None,
        workers: int = 1,
    ) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"{name}.log"
        self.env = {
            **os.environ,
            "XIAODIAN_DATABASE_URL": database_url,
            "XIAODIAN_DATA_DIR": str(tmp / name),
            "XIAODIAN_SECRET_KEY": "test-secret-key-" + "x" * 32,
            "XIAODIAN_REDIS_URL": redis_url,
            "XIAODIAN_PUBLIC_BASE_URL": self.url,
            **(env or {}),
        }
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        log = open(self.log_path, "a")  # noqa: SIM115 (closed with the process)
        command = [sys.executable, "-m", "uvicorn", "xiaodian.asgi:app"]
        command += ["--port", str(self.port), "--log-level", "warning"]
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        self.proc = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server {self.name} did not start: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, as a crash."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
